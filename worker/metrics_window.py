"""Reading the job metrics over a window, for the probe: which hashes, and what they add up to.

A window is the last N minutes up to and including the current one. Up to an hour, it is read
from its N minute hashes. A longer one is covered exactly by the minutes of the hour it starts
in, from its first minute on, and the hour hashes of the ``ceil(N / 60)`` hours after that one
(the current hour's hash holds only minutes up to now; an hour still in the future is simply
empty); all 60 minute hashes of the start hour are read and those before the window skipped. So
the probe sends the same HGETALLs at any time of the hour and for any number of jobs: 5 for 5m,
60 for 1h, 84 for 24h, in its one pipeline. Percentiles
come from the histogram buckets, interpolated within the bucket as Prometheus'
``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from worker.metrics import BOUNDS_MS, LABELS, LLM_BASE, hour_key, job_base, minute_key, total_key

WINDOWS_S = {"5m": 300, "1h": 3600, "24h": 86400}
DEFAULT_WINDOW = "1h"


def window_start(window_s: int, now: float) -> tuple[int, int]:
    """(Unix hour, minute of that hour) of the window's first minute."""
    return divmod(int(now // 60) - window_s // 60 + 1, 60)


def window_keys(base: str, window_s: int, now: float) -> list[str]:
    """The window's minute hashes, or the start hour's 60 and the following hours' (see the module's doc)."""
    if window_s <= 3600:
        last = int(now // 60)
        return [minute_key(base, m) for m in range(last - window_s // 60 + 1, last + 1)]
    hour, _ = window_start(window_s, now)
    return [*(minute_key(base, hour * 60 + m) for m in range(60)),
            *(hour_key(base, hour + n) for n in range(1, -(-window_s // 3600) + 1))]


Counts = dict[str, float]


def _add(into: Counts, fields: Mapping[str, float]) -> Counts:
    for name, value in fields.items():
        into[name] = into.get(name, 0) + value
    return into


def add_reads(pipe: Any, queues: Sequence[str], window_s: int, now: float) -> None:
    """Queue the reads of every queue's window and lifetime hashes, then the model calls' (read-only)."""
    for base in [*(job_base(q) for q in queues), LLM_BASE]:
        for key in window_keys(base, window_s, now):
            pipe.hgetall(key)
        pipe.hgetall(total_key(base))


def take_reads(replies: Iterable[Any], queues: Sequence[str], window_s: int, now: float,
               ) -> tuple[dict[str, tuple[Counts, Counts]], tuple[Counts, Counts]]:
    """(window counts, lifetime counts) per queue, and the same for model calls, from ``add_reads``' replies."""
    it = iter(replies)

    # Minutes of a long window's start hour before the window begins are read but not added.
    first = window_start(window_s, now)[1] if window_s > 3600 else 0

    def one(base: str) -> tuple[Counts, Counts]:
        window: Counts = {}
        for index, _ in enumerate(window_keys(base, window_s, now)):
            fields = _decode(next(it))
            if index >= first:
                _add(window, fields)
        return window, _decode(next(it))

    per_queue = {q: one(job_base(q)) for q in queues}
    return per_queue, one(LLM_BASE)


def _decode(reply: Any) -> dict[str, float]:
    if isinstance(reply, Exception):
        raise reply
    return {(k.decode() if isinstance(k, bytes) else str(k)): _count(v) for k, v in (reply or {}).items()}


def _count(value: Any) -> float:
    number = float(value)
    return int(number) if number.is_integer() else number


def buckets(counts: Mapping[str, float], name: str) -> list[float]:
    """Per-bucket (not cumulative) counts of histogram ``name``, in ``BOUNDS_MS`` order."""
    return [counts.get(f"{name}:{label}", 0) for label in LABELS]


def quantile(q: float, counts: Sequence[float]) -> float | None:
    """The ``q`` quantile from per-bucket counts; None without data. The last (inf) bucket yields its lower bound."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = BOUNDS_MS[index - 1] if index else 0.0
            upper = BOUNDS_MS[index]
            if math.isinf(upper):
                return lower
            return round(lower + (upper - lower) * (rank - seen) / count, 1)
        seen += count
    return None


def queue_metrics(window: Mapping[str, float], window_s: int) -> dict[str, Any]:
    """The contract's ``metrics`` object of one queue (plus the other outcomes' counts)."""
    finished, failed = int(window.get("finished", 0)), int(window.get("failed", 0))
    run, wait = buckets(window, "run"), buckets(window, "wait")
    return {
        "window_s": window_s,
        "finished": finished,
        "failed": failed,
        "retried": int(window.get("retried", 0)),
        "stalled": int(window.get("stalled", 0)),
        "refused": int(window.get("refused", 0)),
        "requeued": int(window.get("requeued", 0)),
        "throughput_per_min": round(finished / (window_s / 60), 3),
        "failure_rate": round(failed / (finished + failed), 4) if finished + failed else None,
        "run_time_ms": {"p50": quantile(0.5, run), "p95": quantile(0.95, run)},
        "wait_time_ms": {"p50": quantile(0.5, wait), "p95": quantile(0.95, wait)},
    }


def llm_metrics(window: Mapping[str, float], window_s: int) -> dict[str, Any]:
    latency = buckets(window, "latency")
    return {
        "window_s": window_s,
        "calls": int(window.get("calls", 0)),
        "errors": int(window.get("errors", 0)),
        "errors_by_kind": {k.removeprefix("error:"): int(v) for k, v in sorted(window.items())
                           if k.startswith("error:")},
        "latency_ms": {"p50": quantile(0.5, latency), "p95": quantile(0.95, latency)},
        "prompt_tokens": int(window.get("prompt_tokens", 0)),
        "completion_tokens": int(window.get("completion_tokens", 0)),
    }


def problems(metrics: Mapping[str, Any] | None, *, max_failure_rate: float | None,
             max_p95_wait_s: float | None, max_new_failed: int | None = None) -> list[str]:
    """Breaches of --max-failure-rate, --max-p95-wait and --max-new-failed over the window (no data: no breach)."""
    if not metrics:
        return []
    found, window = [], f"over the last {metrics['window_s'] // 60} min"
    if max_new_failed is not None and metrics["failed"] > max_new_failed:
        found.append(f"{metrics['failed']:g} jobs failed {window}, above --max-new-failed {max_new_failed}")
    rate, wait_ms = metrics["failure_rate"], metrics["wait_time_ms"]["p95"]
    if max_failure_rate is not None and rate is not None and rate > max_failure_rate:
        found.append(f"failure rate {rate:g} {window}, above --max-failure-rate {max_failure_rate:g}")
    if max_p95_wait_s is not None and wait_ms is not None and wait_ms / 1000 > max_p95_wait_s:
        found.append(f"p95 wait {wait_ms / 1000:g} s {window}, above --max-p95-wait {max_p95_wait_s:g}")
    return found
