"""What each provider (base URL + model) accepts, learnt from its rejections and remembered.

OpenAI-compatible servers differ in what they take: some reject ``response_format`` of type
``json_schema`` (then ``json_object`` or plain instructions are left), newer reasoning models
reject ``max_tokens`` (they want ``max_completion_tokens``) or any ``temperature``/``seed``. Each
rejection is learnt once: the memo is shared by every call of the process (``PROCESS_MEMO``) and,
through the llm cache when there is one, by the work horses RQ forks for later jobs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from typing import Literal

Format = Literal["json_schema", "json_object", "plain"]
#: The response formats we try, most precise first.
LADDER: tuple[Format, ...] = ("json_schema", "json_object", "plain")
#: Sampling parameters a provider may refuse; we then leave them out.
OPTIONAL_PARAMS = ("temperature", "seed")


@dataclass(frozen=True)
class Accepts:
    """How to ask one provider: the response format, the budget's name, parameters to leave out."""

    format: Format = "json_schema"
    budget_param: str = "max_tokens"
    dropped: frozenset[str] = frozenset()

    def without(self, rejected: str) -> Accepts | None:
        """What to try after the provider rejected ``rejected`` (a format or a parameter name), or
        ``None`` when nothing is left to change about it."""
        if rejected in LADDER:
            position = LADDER.index(self.format)
            return replace(self, format=LADDER[position + 1]) if position + 1 < len(LADDER) else None
        if rejected == "max_tokens" and self.budget_param == "max_tokens":
            return replace(self, budget_param="max_completion_tokens")
        if rejected in OPTIONAL_PARAMS and rejected not in self.dropped:
            return replace(self, dropped=self.dropped | {rejected})
        return None

    def merged(self, other: Accepts) -> Accepts:
        """Both sets of lessons: the simpler format, every dropped parameter, the renamed budget."""
        simpler = max(LADDER.index(self.format), LADDER.index(other.format))
        budget = "max_completion_tokens" if "max_completion_tokens" in (self.budget_param, other.budget_param) \
            else "max_tokens"
        return Accepts(LADDER[simpler], budget, self.dropped | other.dropped)

    def dumps(self) -> str:
        return json.dumps({"format": self.format, "budget_param": self.budget_param, "dropped": sorted(self.dropped)})

    @classmethod
    def loads(cls, raw: str | None) -> Accepts | None:
        """The stored value, or ``None`` when absent or not one of ours."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            fmt = next(f for f in LADDER if f == data["format"])
            budget = data["budget_param"]
            dropped = frozenset(p for p in data["dropped"] if p in OPTIONAL_PARAMS)
        except (ValueError, TypeError, KeyError, StopIteration):
            return None
        if budget not in ("max_tokens", "max_completion_tokens"):
            return None
        return cls(fmt, budget, dropped)


class ProviderMemo:
    """Provider key -> what it accepts, as learnt in this process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, Accepts] = {}

    def get(self, provider: str) -> Accepts | None:
        with self._lock:
            return self._known.get(provider)

    def learn(self, provider: str, accepts: Accepts) -> Accepts:
        """Record ``accepts`` merged with what is known; return what is now in force."""
        with self._lock:
            known = self._known.get(provider)
            now = accepts if known is None else known.merged(accepts)
            self._known[provider] = now
            return now


#: Shared by every generator in this process (threads of one job, jobs of one process).
PROCESS_MEMO = ProviderMemo()
