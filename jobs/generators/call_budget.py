"""Per-job caps on model calls and tokens (``OPENAI_MAX_CALLS_PER_JOB``, ``OPENAI_MAX_TOKENS_PER_JOB``).

A job's model calls share one ``CallBudget``: each call is reserved before it is sent and its
tokens (the provider's own ``usage``) are added when it returns. Past either cap the job fails
with a message naming the variable, and no thread of the job starts another call. The same
object sums the result's ``usage``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from jobs.errors import PermanentJobError


class BudgetExceeded(PermanentJobError):
    """A job reached ``OPENAI_MAX_CALLS_PER_JOB`` or ``OPENAI_MAX_TOKENS_PER_JOB``."""


@dataclass(frozen=True)
class Spent:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class CallBudget:
    """Thread-safe counter of one job's model calls and tokens, with its caps."""

    def __init__(self, max_calls: int, max_tokens: int) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._spent = Spent()
        self._over: str | None = None

    def reserve(self) -> None:
        """Count one more call, or raise ``BudgetExceeded`` when the job may not make it."""
        with self._lock:
            if self._over is None and self._spent.calls >= self.max_calls:
                self._over = (f"the job reached OPENAI_MAX_CALLS_PER_JOB ({self.max_calls} model calls); "
                              "raise it or ask for a shorter course")
            if self._over is not None:
                raise BudgetExceeded(self._over)
            s = self._spent
            self._spent = Spent(s.calls + 1, s.prompt_tokens, s.completion_tokens)

    def spend(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Add a call's tokens; raise ``BudgetExceeded`` once the job has used more than its cap."""
        with self._lock:
            s = self._spent
            self._spent = Spent(s.calls, s.prompt_tokens + prompt_tokens, s.completion_tokens + completion_tokens)
            if self._over is None and self._spent.tokens > self.max_tokens:
                self._over = (f"the job used {self._spent.tokens} tokens, more than OPENAI_MAX_TOKENS_PER_JOB "
                              f"({self.max_tokens}); raise it or ask for a shorter course")
            if self._over is not None:
                raise BudgetExceeded(self._over)

    def spent(self) -> Spent:
        with self._lock:
            return self._spent
