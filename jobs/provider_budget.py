"""One rate-limit budget per provider and API key, shared by every process and instance through Redis.

The provider's real ceiling is tokens and requests per window; ``LLM_GLOBAL_CONCURRENCY`` (calls in
flight) cannot express it. So before each call a process *reserves* its estimated tokens (the
prompt's size, corrected by what replies reported, plus ``max_tokens`` or the completion size
learned for that kind of question) and one request; when the budget is spent it *waits* in line;
after the call it *settles*: the reply's ``usage`` replaces the estimate, and its
``x-ratelimit-*`` headers (``jobs.ratelimit_headers``) say what the limits, refill rates and
remainders really are. The budget is a token bucket per unit:

* **headers** (OpenAI and most compatible providers): limits and refill rates learned from replies;
* **config**: ``LLM_TOKENS_PER_MINUTE`` / ``LLM_REQUESTS_PER_MINUTE`` for units the headers do not
  cover (a provider that sends none);
* **AIMD**: neither: calls in flight start at 4, grow by one per window of successes, and halve on a
  429 (at most once per wait);
* **learning**: nothing known yet (a new key, or Redis lost the keys): two calls in flight until
  the first reply tells.

A 429 empties the bucket and blocks every caller until the wait the provider names
(``Retry-After`` / ``retry-after-ms``, else the reset of the exhausted unit). Waiting is fair: a
caller takes a ticket, and enters only when the tokens of every caller ahead of it *and* its own
fit (so nobody is starved by smaller requests); a call re-tried after a 429 keeps its ticket.

Every decision runs in ``jobs/lua/provider_budget.lua`` on Redis's clock; the keys of one budget share a hash
tag. Keys carry ``budget_id``: a digest of the base URL and of a digest of the API key, never the
key. Everything is relearned when the keys vanish; a Redis error lets the call through (the
provider's own 429s still hold the line).
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from jobs import keys, ratelimit_headers
from jobs.errors import TransientJobError
from jobs.lua import Lua

logger = logging.getLogger(__name__)

INDEX = keys.LLM_BUDGETS  # set: the budget ids in use (for the probe)
PARTS = keys.LLM_BUDGET_PARTS
SCRIPT = Lua("provider_budget")
WAIT_LEASE_MS = 5_000
POLL_S = (0.01, 0.25)  # shortest and longest pause between polls while waiting
#: Plain-text tokens per character, for the prompt estimate (corrected by replies' usage).
CHARS_PER_TOKEN = 4
WAITING_STAGE = "waiting for the model provider"


def budget_id(base_url: str | None, api_key: str | None) -> str:
    """Names one provider account: the key enters only as a digest of a digest."""
    key_digest = hashlib.sha256((api_key or "").encode()).hexdigest()
    return hashlib.sha256(f"{base_url or 'openai'}\0{key_digest}".encode()).hexdigest()[:16]


class ProviderBusy(TransientJobError):
    """The provider's rate limit leaves no room for this call before the job's deadline."""


@dataclass(frozen=True)
class BudgetConfig:
    """The settings a budget needs; ``enabled`` False keeps the old behaviour (LLM_BUDGET=false)."""

    base_url: str | None
    api_key: str | None
    tokens_per_minute: int | None = None
    requests_per_minute: int | None = None
    call_lease_s: float = 120.0
    enabled: bool = True


@dataclass(frozen=True)
class Ask:
    """What one call will cost: the prompt's estimated tokens, its ``max_tokens``, its kind."""

    prompt_tokens: int
    max_tokens: int
    name: str

    @classmethod
    def of(cls, prompt_chars: int, max_tokens: int, name: str) -> Ask:
        return cls(math.ceil(prompt_chars / CHARS_PER_TOKEN), max_tokens, name)


@dataclass(frozen=True)
class Held:
    """A granted reservation; ``epoch`` None when Redis could not be asked (nothing to settle)."""

    token: str
    ticket: int
    need: int
    ask: Ask
    epoch: str | None

    @property
    def counted(self) -> bool:
        """Whether the budget holds this reservation (False: off, or Redis could not be asked)."""
        return self.epoch is not None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


class ProviderBudget:
    """Reserve before a call, settle after; ``enabled`` False (or no Redis) lets every call through."""

    def __init__(self, connection: redis.Redis | None, config: BudgetConfig, deadline: float | None = None,
                 on_wait: Callable[[bool], None] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.enabled = config.enabled and connection is not None
        self.config = config
        self.deadline = deadline  # time.monotonic() after which waiting is pointless (the job's end)
        self.id = budget_id(config.base_url, config.api_key)
        self._keys = keys.llm_budget(self.id)
        self._redis = connection
        self._on_wait = on_wait
        self._sleep = sleep
        self._lock = threading.Lock()
        self._waiting = 0
        self._indexed = False

    # --- before the call ---

    def reserve(self, ask: Ask, retry_of: Held | None = None) -> Held:
        """Wait in line until the budget has room for ``ask``; ``retry_of`` keeps a throttled call's place."""
        token = retry_of.token if retry_of else secrets.token_hex(8)
        ticket = retry_of.ticket if retry_of else 0
        if not self.enabled:
            return Held(token, ticket, 0, ask, None)
        waiting = False
        try:
            self._index()
            while True:
                granted, ticket, wait_ms, epoch, need = self._run("reserve", token, ask.prompt_tokens,
                                                                  ask.max_tokens, ask.name, ticket, *self._lease_args())
                if granted:
                    return Held(token, int(ticket), int(need), ask, _text(epoch))
                self._check_deadline(token, int(wait_ms) / 1000)
                if not waiting:
                    waiting = True
                    self._waiting_changed(+1)
                self._sleep(min(max(int(wait_ms) / 1000, POLL_S[0]), POLL_S[1]))
        except redis.RedisError as exc:
            self._redis_failed("reserve", exc)
            return Held(token, int(ticket), 0, ask, None)
        finally:
            if waiting:
                self._waiting_changed(-1)

    def _lease_args(self) -> list[Any]:
        c = self.config
        return [WAIT_LEASE_MS, int(c.call_lease_s * 1000), c.tokens_per_minute or 0, c.requests_per_minute or 0,
                secrets.token_hex(8)]

    def _check_deadline(self, token: str, wait_s: float) -> None:
        if self.deadline is None or time.monotonic() + wait_s < self.deadline:
            return
        self.leave(token)
        raise ProviderBusy("model provider rate limit: no room for the call before the job's deadline")

    def _index(self) -> None:
        if not self._indexed and self._redis is not None:
            self._redis.sadd(INDEX, self.id)
            self._indexed = True

    # --- after the call ---

    def settle(self, held: Held, headers: Mapping[str, str], usage: Usage | None, status: int) -> None:
        """Count what the call used and learn what the reply says (200 or an error, 429 included)."""
        if held.epoch is None:
            return
        headers = {name.lower(): value for name, value in headers.items()}
        limits = ratelimit_headers.parse(headers)
        retry = ratelimit_headers.retry_after_s(headers) if status == 429 else None
        try:
            self._run("settle", held.token, held.epoch, held.need,
                      usage.prompt_tokens if usage else -1, usage.completion_tokens if usage else 0,
                      held.ask.name, status, -1 if retry is None else int(retry * 1000),
                      *_window_args(limits.tokens), *_window_args(limits.requests), held.ask.prompt_tokens)
        except redis.RedisError as exc:
            self._redis_failed("settle", exc)

    def leave(self, token: str) -> None:
        """Give up a place in line or a call in flight (the call failed before any reply)."""
        if not self.enabled:
            return
        try:
            self._run("leave", token)
        except redis.RedisError as exc:
            self._redis_failed("leave", exc)

    # --- plumbing ---

    def _run(self, op: str, *args: Any) -> Any:
        assert self._redis is not None  # only an enabled budget runs its script, and it has a connection
        return SCRIPT(self._redis, self._keys, [op, *args])

    def _waiting_changed(self, delta: int) -> None:
        # Under the lock: two threads crossing zero at once must report in the order they crossed.
        with self._lock:
            before = self._waiting
            self._waiting += delta
            if self._on_wait is not None and (before == 0) != (self._waiting == 0):
                self._on_wait(self._waiting > 0)

    def _redis_failed(self, op: str, exc: redis.RedisError) -> None:
        # The provider's own 429s still hold the line; a budget outage must not fail model calls.
        logger.warning("provider budget %s failed (%s); calling without it", op, type(exc).__name__,
                       extra={"event": "llm_budget.redis_failed"})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _window_args(window: ratelimit_headers.Window | None) -> list[int]:
    if window is None:
        return [-1, -1, -1]
    reset_ms = -1 if window.reset_s is None else int(window.reset_s * 1000)
    return [window.limit, window.remaining, reset_ms]


class WaitingProgress:
    """A job's progress that shows ``waiting for the model provider`` while any of its calls waits."""

    def __init__(self, progress: Callable[[str, int, int], None]) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._last = ("starting", 0, 1)
        self._waiting = False

    def report(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._last = (stage, done, total)
            self._progress(WAITING_STAGE if self._waiting else stage, done, total)

    def waiting(self, now_waiting: bool) -> None:
        with self._lock:
            self._waiting = now_waiting
            stage, done, total = self._last
            try:
                self._progress(WAITING_STAGE if now_waiting else stage, done, total)
            except redis.RedisError as exc:  # the stage is a courtesy; the call must go on
                logger.warning("could not show the waiting stage: %s", type(exc).__name__,
                               extra={"event": "llm_budget.progress_failed"})


_current = ProviderBudget(None, BudgetConfig(None, None, enabled=False))


def install(budget: ProviderBudget) -> None:
    """The budget this process's model calls go through (a job installs one before it generates)."""
    global _current
    _current = budget


def current() -> ProviderBudget:
    return _current
