"""The stall sweep as the worker runs it: at most once per heartbeat interval, and reported.

The adapter calls ``sweep_if_due`` on every tick (idle or busy) and before RQ's maintenance, so a
killed job is back on its queue within stall timeout + two heartbeat intervals (the lease, then
two sweeps that agree it ended; see ``worker.stalls``). Each outcome becomes a log event and, for
stalls, a Sentry message. Nothing here imports RQ's worker.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import redis
from redis import Redis
from rq.job import Job

from worker import events, reporting
from worker.jsonjob import JsonJob
from worker.settings import Settings
from worker.stalls import STALLED_TOO_OFTEN, StallOutcome, StallSweeper

logger = logging.getLogger(__name__)

#: RQ's own intermediate-list cleanup fails a job it sees there on two maintenance passes at least
#: a minute apart (passes come >= 10 minutes apart); our orphan recovery must come first.
ORPHAN_AFTER_MAX_S = 300


def build_sweeper(connection: Redis, queues: Sequence[str], settings: Settings) -> StallSweeper:
    return StallSweeper(connection, queues, max_stalls=settings.job_max_stalls,
                        confirm_s=settings.worker_heartbeat_interval_s + 1,
                        orphan_after_s=min(settings.worker_stall_timeout_s, ORPHAN_AFTER_MAX_S),
                        failure_ttl_s=settings.job_failure_ttl_s)


class StallGuard:
    def __init__(self, connection: Redis, queues: Sequence[str], settings: Settings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.connection = connection
        self.settings = settings
        self.clock = clock
        self.sweeper = build_sweeper(connection, queues, settings)
        self._last_sweep = -float("inf")

    def sweep_if_due(self, force: bool = False) -> list[StallOutcome]:
        now = self.clock()
        if not force and now - self._last_sweep < self.settings.worker_heartbeat_interval_s:
            return []
        self._last_sweep = now
        try:
            outcomes = self.sweeper.sweep()
        except redis.RedisError as exc:
            logger.warning("stall sweep skipped: %s", exc, extra={"event": "worker.sweep_failed"})
            return []
        for outcome in outcomes:
            self._report(outcome)
        return outcomes

    def _report(self, outcome: StallOutcome) -> None:
        if outcome.action in ("cleaned", "removed"):
            where = "lease" if outcome.action == "cleaned" else "intermediate list"
            logger.info("registry.cleaned job_id=%s: entry of an ended or deleted job left in the %s",
                        outcome.job_id, where,
                        extra={"event": "registry.cleaned", "job_id": outcome.job_id, "where": where})
            return
        job: Job = JsonJob(outcome.job_id, connection=self.connection)
        if outcome.action == "orphan_requeued":
            events.job_requeued(job, reason="orphaned", queue=outcome.queue)
            return
        with contextlib.suppress(Exception):  # a job deleted meanwhile is still reported by id
            job.refresh()
        events.job_stalled(job, worker=outcome.worker or None, stalls=outcome.stalls, queue=outcome.queue)
        reporting.capture_event("job.stalled", job, f"worker {outcome.worker or '?'} went silent")
        if outcome.action == "requeued":
            events.job_requeued(job, reason="stalled", queue=outcome.queue)
            return
        events.job_failed(job, None, attempt=outcome.stalls, will_retry=False, exc_type="JobStalled",
                          error=STALLED_TOO_OFTEN)
