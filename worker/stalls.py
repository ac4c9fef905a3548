"""The one rule for "stalled", shared by the runtime's stall detector and the health probe.

Our worker gives every execution in RQ's started registry a lease of ``WORKER_STALL_TIMEOUT``
seconds (the registry score is *last heartbeat + stall timeout*), and renews it on every heartbeat.
A started job is therefore stalled exactly when its score lies in the past: its worker died, hung,
or lost Redis for longer than the stall timeout. Counting them is one ``ZCOUNT`` per queue.
"""

from __future__ import annotations

import time
from typing import Any

from rq.registry import StartedJobRegistry


def started_registry_key(queue_name: str) -> str:
    """Key of RQ's started-jobs sorted set for ``queue_name`` (no Redis call)."""
    return str(StartedJobRegistry.key_template.format(queue_name))


def stalled_score_range(now: float | None = None) -> tuple[str, str]:
    """ZSET score range that holds the stalled executions at ``now``: leases that ended before it."""
    moment = time.time() if now is None else now
    return "-inf", f"({moment}"


def queue_stalled_count(pipe: Any, queue_name: str, now: float | None = None) -> None:
    """Add the stalled count of ``queue_name`` to a pipeline (read-only: ZCOUNT)."""
    low, high = stalled_score_range(now)
    pipe.zcount(started_registry_key(queue_name), low, high)
