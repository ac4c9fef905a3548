"""RQ's scheduler lock, taken over within a heartbeat or two of its holder's death.

RQ runs one scheduler per queue (a child process of one worker, holding
``rq:scheduler-lock:<queue>``, a 61-s key it refreshes every second). When that child is killed
with its worker (SIGKILL, OOM, a lost machine), the lock outlives both for a minute, and the other
workers only try to take it in RQ's maintenance, every ten minutes: enqueue_in jobs and retry
delays waited up to ten minutes. The worker's own dead child is restarted on the next tick
(``CurriculumWorker._restart_dead_scheduler``); this module covers a holder in another worker.

Every tick, each worker that does not hold the lock runs one script: it notes the holder's name and
its scheduler's ``last_heartbeat`` (RQ's ``rq:scheduler:<name>`` hash, updated every second), on
Redis's clock. A holder whose heartbeat has not changed for ``stale_s`` is dead: its lock is
deleted (only if it still names that holder) and the worker acquires it through RQ. Only equality
of the heartbeat text is compared, so no host's clock matters.

Key (this module owns it): ``curriculum-worker:scheduler-watch`` hash, lock key →
``<holder>|<its last heartbeat>|<Redis time first seen so>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

from jobs import keys
from worker import scripts

WATCH_KEY = keys.SCHEDULER_WATCH
#: Shortest time a holder's heartbeat must stand still before it counts as dead (RQ beats every 1 s).
MIN_STALE_S = 5

class SchedulerWatch:
    """Finds the scheduler locks of ``queues`` that are free or held by a dead scheduler."""

    def __init__(self, connection: Redis, queues: Sequence[str], heartbeat_s: float) -> None:
        self.stale_s = max(MIN_STALE_S, heartbeat_s)
        self._keys = [WATCH_KEY, *(RQScheduler.get_locking_key(name) for name in queues)]
        self.connection = connection

    def free_locks(self) -> list[str]:
        prefix = SCHEDULER_KEY_TEMPLATE % ""
        return [key.decode() if isinstance(key, bytes) else key
                for key in scripts.SCHEDULER_WATCH(self.connection, self._keys, [prefix, self.stale_s])]
