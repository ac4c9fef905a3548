"""Periodic jobs (rq-scheduler), run from the worker's own tick: no extra process or service.

At start every worker registers ``jobs.periodic.PERIODIC_JOBS`` under their stable ids (idempotent:
the same hash and sorted-set member are rewritten, never added twice). Then, once per
``SCHEDULER_INTERVAL``, one worker at a time (rq-scheduler's lock) moves due jobs onto their
queues. rq-scheduler has no serializer option; its ``job_class``/``queue_class`` arguments take
our JSON-only classes, so scheduled jobs are JSON like every other job. One-off ``enqueue_at`` /
``enqueue_in`` and retry delays use RQ's built-in scheduler, which the worker also runs.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable

import redis
from rq_scheduler import Scheduler

from jobs.periodic import PERIODIC_JOBS, PeriodicJob
from jobs.registry import is_registered
from worker.jsonjob import JsonJob, JsonQueue

logger = logging.getLogger(__name__)

SCHEDULER_INTERVAL_S = 10


def build_scheduler(connection: redis.Redis, queue_name: str) -> Scheduler:
    return Scheduler(queue_name=queue_name, connection=connection, interval=SCHEDULER_INTERVAL_S,
                     job_class=JsonJob, queue_class=JsonQueue)


def register_periodic(scheduler: Scheduler, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> list[str]:
    """Create or update each periodic job under its stable id; returns the ids."""
    for job in jobs:
        if not is_registered(job.func):
            raise ValueError(f"periodic job {job.id}: {job.func} is not a registered job function")
        scheduler.cron(job.cron, job.func, args=list(job.args), id=job.id, queue_name=scheduler.queue_name,
                       description=job.description or job.id, result_ttl=3600)
    return [job.id for job in jobs]


class PeriodicPass:
    """Registers the periodic jobs once, then enqueues due ones at most every ``SCHEDULER_INTERVAL_S``."""

    def __init__(self, connection: redis.Redis, queue_name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.connection = connection
        self.queue_name = queue_name
        self.clock = clock
        self._scheduler: Scheduler | None = None
        self._last_pass = 0.0

    def register(self) -> None:
        # rq-scheduler calls crontab in a way that warns on every pass; the times are right.
        warnings.filterwarnings("ignore", message="Version 0.22.0", category=FutureWarning)
        self._scheduler = build_scheduler(self.connection, self.queue_name)
        ids = register_periodic(self._scheduler)
        logger.info("periodic.registered %s", ",".join(ids), extra={"event": "periodic.registered", "ids": ids})

    def ensure_registered(self) -> bool:
        """Register the periodic jobs again if Redis lost them (FLUSHALL, failover); one round trip
        while they are there. True when they were restored."""
        if self._scheduler is None:
            return False
        key = self._scheduler.scheduled_jobs_key
        with self.connection.pipeline(transaction=False) as pipe:
            for job in PERIODIC_JOBS:
                pipe.zscore(key, job.id)
            if all(score is not None for score in pipe.execute()):
                return False
        ids = register_periodic(self._scheduler)
        logger.warning("periodic.restored %s: the schedule was gone from Redis", ",".join(ids),
                       extra={"event": "periodic.restored", "ids": ids})
        return True

    def run_if_due(self) -> None:
        now = self.clock()
        if self._scheduler is None or now - self._last_pass < SCHEDULER_INTERVAL_S:
            return
        self._last_pass = now
        try:
            self._enqueue_due(self._scheduler)
        except redis.RedisError as exc:
            logger.warning("periodic pass skipped: %s", exc, extra={"event": "periodic.skipped"})

    @staticmethod
    def _enqueue_due(scheduler: Scheduler) -> None:
        if not scheduler.acquire_lock():
            return
        try:
            for job in list(scheduler.get_jobs_to_queue()):
                scheduler.enqueue_job(job)
                logger.info("periodic.enqueued %s", job.id,
                            extra={"event": "periodic.enqueued", "job_id": job.id, "queue": job.origin})
        finally:
            scheduler.remove_lock()
