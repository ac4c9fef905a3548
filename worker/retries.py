"""The per-job retry layer: which failures are worth another attempt, and when.

The policy lives in the worker, not in each enqueuer, because other services enqueue with plain
``rq`` and no ``Retry``. Transient failures (network, rate limits, timeouts, a killed work horse)
are retried up to ``JOB_MAX_RETRIES`` times with capped exponential backoff; everything else
fails at once: an invalid request, an authentication error or a bug will not fix itself.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import redis
from rq.timeouts import JobTimeoutException

from worker.errors import JobError


def is_transient(exc: BaseException | None) -> bool:
    if isinstance(exc, JobError):
        return exc.transient
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError | ConnectionError | TimeoutError
                      | JobTimeoutException)


def retry_delay_s(retries_done: int, base_s: int, cap_s: int) -> int:
    """Capped exponential backoff with equal jitter, in whole seconds (RQ schedules in seconds)."""
    step = min(cap_s, base_s << min(retries_done, 30))
    jittered = step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not crypto
    return max(1, math.ceil(jittered))


@dataclass(frozen=True)
class RetryDecision:
    attempt: int
    will_retry: bool
    delay_s: int


def decide(exc: BaseException | None, retries_done: int, *, max_retries: int, base_s: int,
           cap_s: int) -> RetryDecision:
    will_retry = is_transient(exc) and retries_done < max_retries
    delay = retry_delay_s(retries_done, base_s, cap_s) if will_retry else 0
    return RetryDecision(attempt=retries_done + 1, will_retry=will_retry, delay_s=delay)
