"""Job and model-call metrics kept in Redis: how many, how fast, how often failing, per queue.

RQ keeps no history (``finished`` is a registry whose entries expire, so a rate cannot be taken
from it). Here every job outcome is counted as it happens, into small time-bucketed hashes that
expire on their own, so memory is fixed however many jobs run and the probe reads any window in
one pipeline. Keys (all hashes, all with a TTL, under this service's own prefix):

=========================================  ========================  ===============================
key                                        expires                   holds
=========================================  ========================  ===============================
``curriculum-worker:metrics:job:Q:m:M``    25 h 10 min after M       queue Q, Unix minute M
``curriculum-worker:metrics:job:Q:h:H``    30 days 1 h after H       queue Q, Unix hour H
``curriculum-worker:metrics:job:Q:total``  400 days after last write queue Q, lifetime counters
``curriculum-worker:metrics:llm:m:H`` ...  the same three kinds      model calls, all queues
=========================================  ========================  ===============================

Fields of a job hash: one count per outcome (``finished``, ``failed``, ``retried``, ``stalled``,
``refused``, ``requeued``) and histogram bucket counts ``run:<le>`` (run time of finished jobs)
and ``wait:<le>`` (enqueued -> started, every attempt that ran), ``<le>`` being the bucket's upper
bound in ms or ``inf``; the lifetime hash also holds ``run_sum_ms`` and ``wait_sum_ms``. A model
hash holds ``calls``, ``errors``, ``error:<ExceptionClass>``, ``latency:<le>``, ``prompt_tokens``
and ``completion_tokens`` (the provider's own ``usage`` of each reply), and ``latency_sum_ms`` in
the lifetime hash. Fields appear only once counted, and a key only once
something happened in its minute or hour: a quiet hour costs nothing. Each hash stays small enough
for Redis' compact listpack encoding (at most 6 + 2 x 20 fields). Memory: see ``MEMORY_BOUND``.

Recording costs one pipelined round trip per event, never raises, and logs a Redis error at most
once a minute: metrics must never fail or slow down a job.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import redis
from redis import Redis

from jobs import keys

logger = logging.getLogger(__name__)

PREFIX = keys.METRICS
OUTCOMES = ("finished", "failed", "retried", "stalled", "refused", "requeued")
#: Histogram bucket upper bounds in ms (1-2-5 steps from 5 ms to 83 min); beyond: ``inf``.
BOUNDS_MS: tuple[float, ...] = (5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000,
                                100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, math.inf)
#: A minute's hash is read (as part of its hour: ``worker.metrics_window``) up to 25 h after the minute.
MINUTE_TTL_S = 25 * 3600 + 600
HOUR_TTL_S = 30 * 86400 + 3600
TOTAL_TTL_S = 400 * 86400
ERROR_LOG_INTERVAL_S = 60.0
#: Memory, per queue (and once more for the model calls), whatever the number of jobs: at most this
#: many minute and hour hashes exist at once, each under ``MAX_HASH_BYTES`` by ``MEMORY USAGE``
#: with every field set (tests/test_metrics.py measures both).
MAX_HASH_BYTES = 900
MINUTE_KEYS = MINUTE_TTL_S // 60 + 1
HOUR_KEYS = HOUR_TTL_S // 3600 + 1
MEMORY_BOUND_BYTES = (MINUTE_KEYS + HOUR_KEYS + 1) * MAX_HASH_BYTES


def bucket_label(bound: float) -> str:
    return "inf" if math.isinf(bound) else str(int(bound))


LABELS: tuple[str, ...] = tuple(bucket_label(b) for b in BOUNDS_MS)


def bucket_of(value_ms: float) -> str:
    """The label of the first bucket whose upper bound is >= ``value_ms`` (Prometheus ``le``)."""
    for bound, label in zip(BOUNDS_MS, LABELS, strict=True):
        if value_ms <= bound:
            return label
    return "inf"


job_base = keys.metrics_job
LLM_BASE = keys.METRICS_LLM


def minute_key(base: str, minute: int) -> str:
    return f"{base}:m:{minute}"


def hour_key(base: str, hour: int) -> str:
    return f"{base}:h:{hour}"


def total_key(base: str) -> str:
    return f"{base}:total"


def add_counts(pipe: Any, base: str, counts: Mapping[str, int], sums: Mapping[str, float], now: float) -> None:
    """Queue the writes of one event on ``pipe``: the minute, hour and lifetime hashes, and their TTLs."""
    minute = int(now // 60)
    # A bucket expires at a fixed time after it began (EXPIREAT), however late its last write came.
    targets = ((minute_key(base, minute), minute * 60 + MINUTE_TTL_S),
               (hour_key(base, minute // 60), minute // 60 * 3600 + HOUR_TTL_S))
    for key, expires_at in targets:
        for name, amount in counts.items():
            pipe.hincrby(key, name, amount)
        pipe.expireat(key, expires_at)
    for name, amount in counts.items():
        pipe.hincrby(total_key(base), name, amount)
    pipe.expire(total_key(base), TOTAL_TTL_S)
    for name, total in sums.items():
        pipe.hincrbyfloat(total_key(base), name, total)


def job_counts(outcome: str, run_ms: float | None, wait_ms: float | None) -> tuple[dict[str, int], dict[str, float]]:
    counts: dict[str, int] = {outcome: 1}
    sums: dict[str, float] = {}
    if run_ms is not None:
        counts[f"run:{bucket_of(run_ms)}"] = 1
        sums["run_sum_ms"] = round(run_ms, 3)
    if wait_ms is not None:
        counts[f"wait:{bucket_of(wait_ms)}"] = 1
        sums["wait_sum_ms"] = round(wait_ms, 3)
    return counts, sums


def model_call_counts(latency_ms: float, error: str | None) -> tuple[dict[str, int], dict[str, float]]:
    counts = {"calls": 1, f"latency:{bucket_of(latency_ms)}": 1}
    if error is not None:
        counts["errors"] = 1
        counts[f"error:{error}"] = 1
    return counts, {"latency_sum_ms": round(latency_ms, 3)}


def _ms_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() * 1000)


#: A Pub/Sub message sent with a job's counts: (channel, message), see ``jobs.notify``.
Announcement = tuple[str, str]


class Recorder:
    """Writes events into Redis; swallows (and rate-limits the logging of) Redis errors."""

    def __init__(self, *, enabled: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.enabled = enabled
        self.clock = clock
        self._last_error_log = -math.inf

    def job(self, connection: Redis, queue: str, outcome: str, *, run_ms: float | None = None,
            wait_ms: float | None = None, announce: Announcement | None = None) -> None:
        """Count a job's outcome; ``announce``, a Pub/Sub (channel, message), goes out in the same
        round trip (``jobs.notify``), and goes out even when metrics are off."""
        if self.enabled:
            self._write(connection, job_base(queue), *job_counts(outcome, run_ms, wait_ms), announce=announce)
        elif announce is not None:
            self._write(connection, None, {}, {}, announce=announce)

    def job_event(self, job: Any, outcome: str, *, queue: str | None = None, ran: bool = False,
                  duration_ms: float | None = None, announce: Announcement | None = None) -> None:
        """Record ``outcome`` for an RQ job; ``ran``: this attempt was started, so its wait is known.

        Run time (finished jobs only) is RQ's ``ended_at - started_at`` when both are set, else
        ``duration_ms``; wait is ``started_at - enqueued_at`` of this attempt.
        """
        if job.connection is None or not (self.enabled or announce):
            return
        run_ms = None
        if outcome == "finished":
            run_ms = _ms_between(job.started_at, job.ended_at)
            run_ms = duration_ms if run_ms is None else run_ms
        wait_ms = _ms_between(job.enqueued_at, job.started_at) if ran else None
        self.job(job.connection, queue or job.origin, outcome, run_ms=run_ms, wait_ms=wait_ms, announce=announce)

    def model_call(self, connection: Redis, latency_ms: float, error: str | None) -> None:
        if self.enabled:
            self._write(connection, LLM_BASE, *model_call_counts(latency_ms, error))

    def model_tokens(self, connection: Redis, prompt_tokens: int, completion_tokens: int) -> None:
        if self.enabled and (prompt_tokens or completion_tokens):
            counts = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
            self._write(connection, LLM_BASE, counts, {})

    def _write(self, connection: Redis, base: str | None, counts: Mapping[str, int], sums: Mapping[str, float],
               announce: Announcement | None = None) -> None:
        try:
            with connection.pipeline(transaction=False) as pipe:
                if base is not None:
                    add_counts(pipe, base, counts, sums, self.clock())
                if announce is not None:
                    pipe.publish(*announce)
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._log_error(exc)

    def _log_error(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_error_log < ERROR_LOG_INTERVAL_S:
            return
        self._last_error_log = now
        logger.warning("metrics (or a job event) not recorded: %s (%s); jobs are unaffected", type(exc).__name__, exc,
                       extra={"event": "metrics.unavailable", "exc_type": type(exc).__name__})


#: The process's recorder, used by ``worker.events``. State only: it holds no client.
RECORDER = Recorder()


def install(connection: Redis, *, enabled: bool) -> None:
    """Switch recording on or off (``WORKER_METRICS``), and record the jobs' model calls on ``connection``.

    The connection is the worker's own: redis-py opens fresh sockets in each forked work horse.
    """
    from jobs import context

    RECORDER.enabled = enabled

    def observe(latency_s: float, error: str | None) -> None:
        RECORDER.model_call(connection, latency_s * 1000, error)

    def count_tokens(prompt_tokens: int, completion_tokens: int) -> None:
        RECORDER.model_tokens(connection, prompt_tokens, completion_tokens)

    context.install_model_call_observer(observe if enabled else None)
    context.install_model_tokens_observer(count_tokens if enabled else None)
