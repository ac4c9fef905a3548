"""What an HTTP error from a model provider means for us: retry the call, step down, or give up.

Three questions, answered from the status, the error body and the headers, never by printing them
(a provider's message may echo the request or part of the API key):

* is it worth another call? (How long to wait is the headers' word: ``jobs.ratelimit_headers``.)
* did the provider reject part of our request (``response_format``, ``max_tokens``, ``temperature``,
  ``seed``), so that a request without it may work?
* which of our errors does the job end with (``map_status_error``)?
"""

from __future__ import annotations

import openai

from jobs.errors import PermanentJobError, TransientJobError

#: Statuses a later call may succeed on: timeout, conflict, rate limit, and every 5xx.
RETRYABLE_STATUS = frozenset({408, 409, 429})
_SAFE_CODE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
#: Words in a 400's error body that say the structured-output request itself was the problem.
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured output", "schema")
#: Request parameters some providers refuse and we can do without (or rename).
_OPTIONAL_PARAMS = ("max_tokens", "temperature", "seed")


def _error_body(exc: openai.APIStatusError) -> dict[str, object]:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
    return {}


def error_code(exc: openai.APIStatusError) -> str:
    """The provider's error code (or type) when it is a short identifier; '' otherwise."""
    body = _error_body(exc)
    code = body.get("code") or body.get("type")
    if isinstance(code, str) and 0 < len(code) <= 64 and set(code.lower()) <= _SAFE_CODE_CHARS:
        return code
    return ""


def is_retryable(exc: openai.APIStatusError) -> bool:
    """A rate limit or server-side failure (not an exhausted quota: waiting will not refill it)."""
    if error_code(exc) == "insufficient_quota":
        return False
    return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500


def rejected_part(exc: openai.APIStatusError) -> str | None:
    """What of our request a 400/422 blames: ``response_format`` (e.g. no ``json_schema`` support),
    ``max_tokens``, ``temperature`` or ``seed``; ``None`` for anything else."""
    if exc.status_code not in (400, 422):
        return None
    body = _error_body(exc)
    param = str(body.get("param") or "").lower()
    text = " ".join(str(body.get(k) or "") for k in ("message", "param", "code", "type")).lower()
    if not text.strip() and isinstance(exc.body, str):
        text = exc.body.lower()
    if param.startswith("response_format") or any(word in text for word in _FORMAT_WORDS):
        return "response_format"
    for name in _OPTIONAL_PARAMS:
        if param == name or f"'{name}'" in text or f'"{name}"' in text:
            return name
    return None


def map_status_error(exc: openai.APIStatusError) -> TransientJobError | PermanentJobError:
    """Our own message for an HTTP error from the model API: status, error code, no request details."""
    status = exc.status_code
    code = error_code(exc)
    suffix = f", code {code}" if code else ""
    if code == "insufficient_quota":
        return PermanentJobError(f"model API quota exhausted (HTTP {status}{suffix})")
    if is_retryable(exc):
        kind = "rate limited" if status == 429 else "temporarily failed"
        return TransientJobError(f"model API {kind} (HTTP {status}{suffix})")
    if status in (401, 403):
        return PermanentJobError(
            f"model API refused our credentials (HTTP {status}{suffix}); check the API key"
        )
    return PermanentJobError(f"model API rejected the request (HTTP {status}{suffix})")
