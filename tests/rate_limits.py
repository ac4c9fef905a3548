"""A provider's rate limits for the local model server: token and request buckets, OpenAI's headers.

Each unit is a bucket of ``limit`` that refills evenly over ``window_s`` (OpenAI's limits replenish
continuously; ``x-ratelimit-reset-*`` is the time until the bucket is full again). A request is
charged its ``usage`` (prompt and completion tokens) and one request when it arrives; one that does
not fit is answered 429 with ``Retry-After`` (whole seconds) and ``retry-after-ms``: the time until
it would fit. With ``headers`` off the replies carry no ``x-ratelimit-*`` header (a provider that
sends none), 429s included. Everything the limiter charged is recorded, for tokens per minute.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field


def go_duration(seconds: float) -> str:
    """``6m0s``, ``1.5s``, ``250ms``: how OpenAI writes ``x-ratelimit-reset-*``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


@dataclass
class Bucket:
    limit: float
    window_s: float
    level: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = self.limit

    @property
    def rate(self) -> float:
        return self.limit / self.window_s

    def refill(self, now: float) -> None:
        self.level = min(self.limit, self.level + (now - self.at) * self.rate)
        self.at = now

    def wait_s(self, amount: float) -> float:
        return max(0.0, (min(amount, self.limit) - self.level) / self.rate)

    def headers(self, unit: str) -> dict[str, str]:
        return {f"x-ratelimit-limit-{unit}": str(int(self.limit)),
                f"x-ratelimit-remaining-{unit}": str(max(0, int(self.level))),
                f"x-ratelimit-reset-{unit}": go_duration((self.limit - self.level) / self.rate)}


class RateLimiter:
    """Tokens and requests per window, enforced on arrival; thread-safe."""

    def __init__(self, tokens: int, requests: int, window_s: float = 10.0, headers: bool = True) -> None:
        self.tokens = Bucket(tokens, window_s)
        self.requests = Bucket(requests, window_s)
        self.send_headers = headers
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.charged: list[tuple[float, int]] = []  # (when, tokens) of every admitted request
        self.admitted = 0
        self.refused = 0

    def admit(self, cost: int) -> tuple[bool, dict[str, str]]:
        """Charge ``cost`` tokens and one request, or refuse; the reply's headers either way."""
        with self._lock:
            now = time.monotonic()
            self.tokens.refill(now)
            self.requests.refill(now)
            wait = max(self.tokens.wait_s(cost), self.requests.wait_s(1))
            if wait <= 0:
                self.tokens.level -= cost
                self.requests.level -= 1
                self.charged.append((now, cost))
                self.admitted += 1
            else:
                self.refused += 1
            headers = self._headers()
        if wait > 0:
            headers.update({"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000))})
        return wait <= 0, headers

    def _headers(self) -> dict[str, str]:
        if not self.send_headers:
            return {}
        return {**self.tokens.headers("tokens"), **self.requests.headers("requests")}

    def tokens_per_minute(self) -> float:
        """Tokens admitted per minute, from the first admitted request to the last."""
        with self._lock:
            if len(self.charged) < 2:
                return 0.0
            span = self.charged[-1][0] - self.charged[0][0]
            return sum(cost for _, cost in self.charged) * 60 / span if span > 0 else 0.0

    def refused_share(self) -> float:
        total = self.admitted + self.refused
        return self.refused / total if total else 0.0
