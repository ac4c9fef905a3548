"""What a provider's reply says about its rate limits: OpenAI's ``x-ratelimit-*`` headers.

Every reply (a 200 or a 429) may carry, for requests and for tokens,

* ``x-ratelimit-limit-<unit>``: the most the window allows;
* ``x-ratelimit-remaining-<unit>``: what is left of it now;
* ``x-ratelimit-reset-<unit>``: how long until it is full again, as a Go duration (``6m0s``,
  ``1s``, ``250ms``, ``1h2m3.5s``) or a plain number of seconds.

A provider that sends none of them gets ``Limits()`` (all ``None``): the budget then falls back to
the configured rates or to AIMD (``jobs.provider_budget``). Unreadable values count as absent: a
header is the provider's word, never a reason to fail a call.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

UNITS = ("tokens", "requests")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_SCALE_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class Window:
    """One unit's limit as the reply states it; ``reset_s`` None when the provider did not say."""

    limit: int
    remaining: int
    reset_s: float | None


@dataclass(frozen=True)
class Limits:
    tokens: Window | None = None
    requests: Window | None = None

    @property
    def present(self) -> bool:
        return self.tokens is not None or self.requests is not None


def duration_s(raw: str | None) -> float | None:
    """Seconds in ``6m0s`` / ``1s`` / ``250ms`` / ``0.5`` (plain seconds); None when unreadable."""
    if raw is None:
        return None
    text = raw.strip().lower()
    try:
        value = float(text)
    except ValueError:
        return _go_duration(text)
    return value if math.isfinite(value) and value >= 0 else None


def _go_duration(text: str) -> float | None:
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _SCALE_S[unit] for number, unit in parts)


def number(raw: str | None) -> float | None:
    """A header's finite number, or None (absent or not a number)."""
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _count(raw: str | None) -> int | None:
    value = number(raw)
    return int(value) if value is not None and value >= 0 else None


def _window(headers: Mapping[str, str], unit: str) -> Window | None:
    limit = _count(headers.get(f"x-ratelimit-limit-{unit}"))
    remaining = _count(headers.get(f"x-ratelimit-remaining-{unit}"))
    if limit is None or remaining is None or limit <= 0:
        return None
    return Window(limit, min(remaining, limit), duration_s(headers.get(f"x-ratelimit-reset-{unit}")))


def parse(headers: Mapping[str, str]) -> Limits:
    """The limits in ``headers`` (case-insensitive mapping, as httpx's ``Headers``)."""
    return Limits(tokens=_window(headers, "tokens"), requests=_window(headers, "requests"))


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the provider asks us to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or an
    HTTP date). ``None`` when absent or unreadable."""
    millis = number(headers.get("retry-after-ms"))
    if millis is not None:
        return max(0.0, millis / 1000)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = number(raw)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
