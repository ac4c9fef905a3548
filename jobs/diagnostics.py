"""Jobs for probes, load tests and benchmarks."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from worker.errors import RequestInvalid

MAX_SLEEP_S = 300.0


def canary(sleep_s: float = 0) -> dict[str, Any]:
    """Do nothing (or sleep up to 300 s) and report who ran it; proves the pipeline end to end."""
    if isinstance(sleep_s, bool) or not isinstance(sleep_s, int | float) or not math.isfinite(sleep_s):
        raise RequestInvalid(["sleep_s: must be a number"])
    if not 0 <= sleep_s <= MAX_SLEEP_S:
        raise RequestInvalid([f"sleep_s: must be between 0 and {MAX_SLEEP_S:g}"])
    started = time.monotonic()
    if sleep_s:
        time.sleep(sleep_s)
    return {"ok": True, "pid": os.getpid(), "slept_s": round(time.monotonic() - started, 3)}
