"""Jobs for probes, load tests and benchmarks."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from jobs.errors import RequestInvalid

MAX_SLEEP_S = 300.0
#: A job enqueued with ``meta={COUNT_RUNS: True}`` counts its own runs and returns in these fields
#: of its job hash: load tests (bench.kill_matrix) see a function that ran, or returned, twice even
#: when the worker died before it could log or record it.
COUNT_RUNS = "count_runs"
RUNS_FIELD = "cw_canary_runs"
RETURNS_FIELD = "cw_canary_returns"


def _count(field: str) -> None:
    from rq import get_current_job

    job = get_current_job()
    if job is not None and job.meta.get(COUNT_RUNS):
        job.connection.hincrby(job.key, field, 1)


def canary(sleep_s: float = 0) -> dict[str, Any]:
    """Do nothing (or sleep up to 300 s) and report who ran it; proves the pipeline end to end."""
    if isinstance(sleep_s, bool) or not isinstance(sleep_s, int | float) or not math.isfinite(sleep_s):
        raise RequestInvalid(["sleep_s: must be a number"])
    if not 0 <= sleep_s <= MAX_SLEEP_S:
        raise RequestInvalid([f"sleep_s: must be between 0 and {MAX_SLEEP_S:g}"])
    _count(RUNS_FIELD)
    started = time.monotonic()
    if sleep_s:
        time.sleep(sleep_s)
    _count(RETURNS_FIELD)
    return {"ok": True, "pid": os.getpid(), "slept_s": round(time.monotonic() - started, 3)}
