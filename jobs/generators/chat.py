"""One question to a chat-completions endpoint, asked until it yields an answer or cannot.

The generator asks for "the outline" or "lesson m2-l3" and gets the reply's text back. Everything
providers do to that on the way is handled here, once, so the generator only deals with content:

* **Structured output, with a ladder.** ``response_format`` is a strict ``json_schema`` first; a
  provider that rejects it (HTTP 400 naming the format) gets ``json_object``, then plain
  instructions. A rejected ``max_tokens`` becomes ``max_completion_tokens``; a rejected
  ``temperature`` or ``seed`` is left out. What a provider accepts is remembered per base URL and
  model (``jobs.generators.provider_memo``): for the process, and in the llm cache when there is
  one, because RQ runs each job in a fresh work horse whose memory dies with the job.
* **Per-call retries** for 429/5xx: ``Retry-After`` / ``retry-after-ms`` is honoured when it is at
  most ``retry_max_wait_s`` (by every call of the client, not just the one that was told),
  otherwise capped exponential backoff with jitter. When the retries are
  spent (or the provider asks for a longer wait) the error is a ``TransientJobError`` and the job
  layer retries the whole job later. The SDK's own retries stay off: one retry layer per level.
* **Truncation** (``finish_reason: length``): asked again with twice the ``max_tokens``, up to
  ``max_tokens_cap``; then ``ReplyTruncated``.
* **Refusals** (``message.refusal`` or ``finish_reason: content_filter``): ``ModelRefused``.
* **Broken replies** are transient and retried like a 5xx: a 200 whose body is not JSON (an HTML
  page from a proxy), a reply with no ``choices``, a connection that breaks off mid-body.
  Replies that put their JSON in ``tool_calls`` instead of ``content`` are read from there.
* **Budgets.** ``OPENAI_TIMEOUT`` bounds the whole call: the client's timeout bounds connecting
  and each read, and a wall-clock deadline cuts a body that drips in slowly. Every call is
  counted against the job's ``CallBudget`` (calls and the provider's own token ``usage``).

``ChatClient.call`` is the single place that performs an HTTP request: a request body in, the
parsed reply, its token usage and the response headers out (timed for the worker's metrics with
``jobs.context.model_call``, inside the ``LLM_GLOBAL_CONCURRENCY`` gate). The shared provider
budget (``jobs.provider_budget``) wraps that method: ``_budgeted_call``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import openai

from jobs import llm_gate, provider_budget
from jobs.cache import digest
from jobs.context import model_call, model_tokens
from jobs.errors import PermanentJobError, TransientJobError
from jobs.generators.call_budget import CallBudget
from jobs.generators.completion import BrokenReply, CallResult, Completion, parse_completion, read_body
from jobs.generators.provider_errors import is_retryable, map_status_error, rejected_part
from jobs.generators.provider_memo import PROCESS_MEMO, Accepts, ProviderMemo
from jobs.ratelimit_headers import retry_after_s

if TYPE_CHECKING:
    from jobs.cache import Cache
    from jobs.generators import GeneratorConfig

logger = logging.getLogger(__name__)


class ModelRefused(PermanentJobError):
    """The model declined to answer (a refusal or a content filter): asking again will not help."""


class ReplyTruncated(PermanentJobError):
    """The reply hit ``max_tokens`` even at the largest budget we allow."""


class _Rejected(Exception):
    """The provider rejected part of this request (``part``: response_format or a parameter)."""

    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part


class ChatClient:
    """Asks questions of one model at one endpoint; used as a context manager (closes the client)."""

    def __init__(
        self,
        config: GeneratorConfig,
        cache: Cache | None = None,
        memo: ProviderMemo = PROCESS_MEMO,
        sleep: Callable[[float], None] = time.sleep,
        budget: CallBudget | None = None,
    ) -> None:
        self._config = config
        self.budget = budget or CallBudget(config.max_calls_per_job, config.max_tokens_per_job)
        self._cache = cache
        self._memo = memo
        self._sleep = sleep
        self._pause_lock = threading.Lock()
        self._resume_at = 0.0  # monotonic time before which no call starts (a provider's Retry-After)
        self._provider = digest({"base_url": config.base_url or "", "model": config.model})
        self._client = openai.OpenAI(
            api_key=config.api_key, base_url=config.base_url, timeout=config.request_timeout_s, max_retries=0
        )

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def ask(
        self, messages: Sequence[dict[str, str]], name: str, schema: dict[str, Any], what: str, expect_tokens: int = 0
    ) -> str:
        """The text of a finished reply to ``messages``; ``schema`` (named ``name``) describes it.

        ``expect_tokens`` estimates a long reply's size, so that it starts with a budget that fits
        instead of being cut off first (within ``max_tokens_cap``).
        """
        budget = min(max(self._config.max_tokens, expect_tokens), self._config.max_tokens_cap)
        while True:
            accepts = self._accepts()
            body = self._body(messages, accepts, name, schema, budget)
            try:
                done = self._with_retries(body, what)
            except _Rejected as exc:
                self._learn(accepts, exc)
                continue
            if done.refused:
                raise ModelRefused(f"the model refused to write {what}")
            if done.finish_reason != "length":
                return done.content or ""
            budget = self._grow(budget, what)

    # --- pieces of ask ---

    def _body(
        self, messages: Sequence[dict[str, str]], accepts: Accepts, name: str, schema: dict[str, Any], budget: int
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self._config.model, "messages": list(messages), accepts.budget_param: budget}
        optional = {"temperature": self._config.temperature, "seed": self._config.seed}
        body.update({k: v for k, v in optional.items() if k not in accepts.dropped})
        fmt = accepts.format
        if fmt == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "strict": True, "schema": schema},
            }
        elif fmt == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _grow(self, budget: int, what: str) -> int:
        cap = self._config.max_tokens_cap
        if budget >= cap:
            raise ReplyTruncated(
                f"model reply for {what} was truncated at {budget} tokens (finish_reason length)"
            )
        grown = min(cap, budget * 2)
        logger.info(
            "model reply for %s truncated at %s tokens; asking again with %s",
            what,
            budget,
            grown,
            extra={"event": "llm.truncated", "model": self._config.model, "max_tokens": grown},
        )
        return grown

    def _with_retries(self, body: dict[str, Any], what: str) -> Completion:
        attempt = 0
        while True:
            self._hold()
            self.budget.reserve()
            try:
                result = self._budgeted_call(body)
            except openai.APIStatusError as exc:
                part = rejected_part(exc)
                if part is not None and part in body:
                    raise _Rejected(part) from None
                wait = self._wait_s(exc, attempt)
                if wait is None:
                    # from None: the SDK's message holds the response body, which may echo the request.
                    raise map_status_error(exc) from None
                status: object = exc.status_code
            except BrokenReply as exc:
                if attempt >= self._config.call_retries:
                    raise TransientJobError(f"model API sent a broken reply for {what}: {exc}") from None
                wait, status = self._backoff(attempt), str(exc)
            else:
                self.budget.spend(result.prompt_tokens, result.completion_tokens)
                return result.completion
            attempt += 1
            logger.warning(
                "model API failed for %s (%s); call %s again in %.2f s",
                what,
                status,
                attempt + 1,
                wait,
                extra={"event": "llm.retrying", "status": status, "wait_s": round(wait, 3)},
            )
            self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        step: float = min(self._config.retry_max_wait_s, self._config.retry_base_s * 2.0**attempt)
        return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not crypto

    def _wait_s(self, exc: openai.APIStatusError, attempt: int) -> float | None:
        """How long to wait before calling again, or ``None`` to give up on this call."""
        if not is_retryable(exc) or attempt >= self._config.call_retries:
            return None
        cap = self._config.retry_max_wait_s
        asked = retry_after_s(exc.response.headers)
        if asked is not None:
            if asked > cap:
                return None  # a longer wait is the job layer's business
            self._pause(asked)
            return asked
        return self._backoff(attempt)

    def _pause(self, seconds: float) -> None:
        """Hold every call of this client (all lesson threads) until the provider's wait is over."""
        with self._pause_lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def _hold(self) -> None:
        with self._pause_lock:
            left = self._resume_at - time.monotonic()
        if left > 0:
            self._sleep(left)

    # --- what the provider accepts ---

    def _accepts(self) -> Accepts:
        known = self._memo.get(self._provider)
        if known is None and self._cache is not None:
            stored = Accepts.loads(self._cache.get_llm(self._memo_key()))
            known = self._memo.learn(self._provider, stored) if stored is not None else None
        return known or Accepts()

    def _learn(self, accepts: Accepts, rejected: _Rejected) -> None:
        """Ask without what was rejected from now on; give up when there is nothing left to drop."""
        part = accepts.format if rejected.part == "response_format" else rejected.part
        simpler = accepts.without(part)
        if simpler is None:
            raise PermanentJobError(f"model API rejected the request's {rejected.part} (HTTP 400)")
        now = self._memo.learn(self._provider, simpler)
        if self._cache is not None:
            self._cache.put_llm(self._memo_key(), now.dumps())
        logger.warning(
            "model API rejected %s; asking with %s from now on",
            part,
            now.dumps(),
            extra={"event": "llm.provider_fallback", "model": self._config.model, "rejected": part},
        )

    def _memo_key(self) -> str:
        return f"accepts:{self._provider}"

    # --- the shared provider budget (issue 20) around the one HTTP call ---

    def _budgeted_call(self, body: dict[str, Any]) -> CallResult:
        """``call`` after reserving its tokens in the shared provider budget, settled with its reply.

        A 429 the provider means as "later" goes back in line (keeping its place) instead of
        spending a per-call retry, until the job's deadline (``provider_budget.ProviderBusy``).
        """
        shared = provider_budget.current()
        ask = _ask_of(body)
        held = shared.reserve(ask)
        while True:
            try:
                result = self.call(body)
            except openai.APIStatusError as exc:
                shared.settle(held, exc.response.headers, None, exc.status_code)
                # Without a budget (off, or Redis unreachable) the per-call retries' backoff applies.
                if not (held.counted and exc.status_code == 429 and is_retryable(exc)):
                    raise
                logger.info("model API rate limited; waiting for the provider budget",
                            extra={"event": "llm.rate_limited", "status": 429})
                self.budget.reserve()  # the job's own call count (OPENAI_MAX_CALLS_PER_JOB, usage) sees every call
                held = shared.reserve(ask, retry_of=held)
                continue
            except BaseException:
                shared.leave(held.token)
                raise
            usage = provider_budget.Usage(result.prompt_tokens, result.completion_tokens)
            shared.settle(held, result.headers, usage, 200)
            return result

    # --- the one HTTP call ---

    def call(self, body: dict[str, Any]) -> CallResult:
        """Perform exactly one chat completion within ``OPENAI_TIMEOUT``, start to last byte.

        ``openai.APIStatusError`` passes through; a 200 without a usable completion raises
        ``BrokenReply``; timeouts and connection failures are ``TransientJobError``.
        """
        timeout = self._config.request_timeout_s
        try:
            # LLM_GLOBAL_CONCURRENCY (across processes and instances), then the worker's metrics:
            # latency and error class of every call.
            with llm_gate.current().slot(), model_call():
                deadline = time.monotonic() + timeout
                with self._client.chat.completions.with_streaming_response.create(**body) as response:
                    raw = read_body(response.iter_bytes(), deadline, timeout)
                    headers = dict(response.headers.items())
        except openai.APIStatusError:
            raise
        except openai.APITimeoutError as exc:
            raise TransientJobError(f"model API timed out after {timeout} s") from exc
        except openai.APIConnectionError as exc:
            raise TransientJobError("could not connect to the model API") from exc
        except openai.OpenAIError as exc:
            raise PermanentJobError(f"model API call failed ({type(exc).__name__})") from None
        result = parse_completion(raw, headers)
        model_tokens(result.prompt_tokens, result.completion_tokens)
        return result


def _ask_of(body: dict[str, Any]) -> provider_budget.Ask:
    """What a request will cost the budget: its messages and schema (as characters), its max_tokens."""
    fmt = body.get("response_format") or {}
    prompt_chars = len(json.dumps(body.get("messages", []))) + len(json.dumps(fmt))
    limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
    return provider_budget.Ask.of(prompt_chars, limit, str((fmt.get("json_schema") or {}).get("name", "chat")))
