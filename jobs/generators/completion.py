"""Reading one provider reply: its body within the deadline, then the completion in it.

A 200 is not always a completion: a proxy's HTML page, a reply with no ``choices`` and a connection
broken off mid-body are ``BrokenReply`` (the caller retries the call, like a 5xx). A reply that
carries its JSON in ``tool_calls`` instead of ``content`` is read from there. Token counts are the
provider's own ``usage``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from jobs.errors import TransientJobError


class BrokenReply(Exception):
    """A 200 that carries no usable completion (not JSON, no choices, cut off mid-body): retry the call."""


@dataclass(frozen=True)
class Completion:
    """What one HTTP call returned: the text, why the model stopped, and whether it refused."""

    content: str | None
    finish_reason: str | None
    refused: bool


@dataclass(frozen=True)
class CallResult:
    """One provider call: the completion, the provider's token counts, and the response headers."""

    completion: Completion
    prompt_tokens: int = 0
    completion_tokens: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)


def read_body(chunks: Iterable[bytes], deadline: float, timeout: float) -> bytes:
    """The whole body, or an error once ``deadline`` passes (a reply dripping in is cut off)."""
    parts: list[bytes] = []
    try:
        for chunk in chunks:
            parts.append(chunk)
            if time.monotonic() > deadline:
                raise TransientJobError(f"model API timed out after {timeout} s (the reply was still arriving)")
    except httpx2.TimeoutException as exc:
        raise TransientJobError(f"model API timed out after {timeout} s") from exc
    except httpx2.TransportError as exc:
        raise BrokenReply("the connection broke off while the reply was being sent") from exc
    return b"".join(parts)


def _tokens(usage: object, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and value >= 0 else 0


def _content(message: dict[str, Any]) -> str | None:
    """The reply's text; a provider that answered with a tool call carries its JSON in the arguments."""
    content = message.get("content")
    if isinstance(content, str) and content.strip():
        return content
    for call in message.get("tool_calls") or []:
        arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
        if isinstance(arguments, str) and arguments.strip():
            return arguments
    return content if isinstance(content, str) else None


def parse_completion(raw: bytes, headers: Mapping[str, str]) -> CallResult:
    try:
        data = json.loads(raw)
    except ValueError:
        raise BrokenReply("the reply was not JSON (an HTML page from a proxy?)") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BrokenReply("the reply had no choices")
    choice = choices[0]
    raw_message = choice.get("message")
    message: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
    finish = choice.get("finish_reason")
    refused = bool(message.get("refusal")) or finish == "content_filter"
    usage = data.get("usage")
    completion = Completion(_content(message), finish if isinstance(finish, str) else None, refused)
    return CallResult(completion, _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens"), headers)
