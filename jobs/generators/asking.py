"""One question to the model, with the llm cache, tolerant reading and re-asks.

A reply that cannot be read as the schema is re-asked (with the problem named) up to
``max_malformed_retries`` times. A reply that reads but has a *soft* problem (duplicate titles,
uncovered objectives: ``Soft``) is re-asked once; after that it is used as it is and the
planner repairs or reports what stayed wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobs.cache import Cache, llm_key
from jobs.errors import PermanentJobError
from jobs.generators import GeneratorConfig
from jobs.generators.chat import ChatClient
from jobs.generators.replies import Malformed, R, parse_reply

logger = logging.getLogger(__name__)


class StillMalformed(PermanentJobError):
    """A reply stayed malformed after every re-ask."""


class Soft(Malformed):
    """A readable reply worth one re-ask; used as it is when that re-ask is spent."""


@dataclass(frozen=True)
class Question:
    messages: list[dict[str, str]]
    name: str  # the json_schema name: contains "outline" (design) or "lesson" (writing)
    schema: dict[str, Any]
    what: str  # for messages: "the outline", "module 3"
    expect_tokens: int = 0  # a size estimate, so long replies start with a budget that fits

    @property
    def prompt_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


#: ``check(reply, soft)``: raise ``Malformed`` for a reply to re-ask; ``Soft`` only when ``soft``.
Check = Callable[[Any, bool], None]


class Asker:
    """Asks questions through one ``ChatClient``, reusing cached replies of identical questions."""

    def __init__(self, chat: ChatClient, config: GeneratorConfig, cache: Cache | None) -> None:
        self.chat = chat
        self._config = config
        self._cache = cache

    def ask(self, question: Question, schema: type[R], check: Check | None = None) -> R:
        key = llm_key(question.messages, self._config.model, temperature=self._config.temperature,
                      seed=self._config.seed)
        cached = self._cache.get_llm(key) if self._cache is not None else None
        if cached is not None:
            try:
                return _read(cached, schema, check, soft=False)
            except Malformed:
                logger.info("ignoring an unusable cached model reply", extra={"event": "cache.bad_entry"})
        attempts = 1 + self._config.max_malformed_retries
        conversation = list(question.messages)
        problem, soft_left, attempt = "", True, 0
        while attempt < attempts:
            content = self.chat.ask(conversation, question.name, question.schema, question.what,
                                    question.expect_tokens)
            try:
                reply = _read(content, schema, check, soft=soft_left)
            except Soft as exc:
                soft_left, problem = False, str(exc)
                self._log(question, problem, "soft")
                conversation = [*question.messages, {"role": "assistant", "content": content}, _reask(exc)]
                continue
            except Malformed as exc:
                attempt += 1
                problem = str(exc)
                self._log(question, problem, f"{attempt} of {attempts}")
                conversation = [*question.messages, {"role": "assistant", "content": content}, _reask(exc)]
                continue
            if self._cache is not None:
                self._cache.put_llm(key, content)
            return reply
        raise StillMalformed(f"model reply for {question.what} was malformed after {attempts} attempt(s): {problem}")

    def _log(self, question: Question, problem: str, attempt: str) -> None:
        logger.warning("model reply for %s re-asked (%s): %s", question.what, attempt, problem,
                       extra={"event": "llm.malformed", "model": self._config.model})


def _read(content: str, schema: type[R], check: Check | None, soft: bool) -> R:
    reply = parse_reply(content, schema)
    if check is not None:
        check(reply, soft)
    return reply


def _reask(exc: Malformed) -> dict[str, str]:
    hint = f" {exc.hint}" if exc.hint else ""
    return {
        "role": "user",
        "content": f"That reply was not usable: {exc}.{hint} Reply again with one JSON object that follows "
        "reply_shape exactly.",
    }
