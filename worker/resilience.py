"""Surviving Redis outages: the worker waits Redis out with the settings' backoff, then resumes.

RQ's dequeue loop retries a lost connection forever, doubling up to a minute, while other Redis
errors make ``work()`` return and the process exit 0, so a supervisor thinks all is well. Here the
dequeue loop retries ``REDIS_MAX_RETRIES`` times with the same capped, jittered backoff as start-up
(logging ``redis.retrying``), and then ends the worker with ``RedisUnavailable``: exit code 3.
Short blips inside a job are absorbed below this, by redis-py's per-command ``Retry``.
"""

from __future__ import annotations

import logging

import redis
from rq.exceptions import DequeueTimeout
from rq.job import Job
from rq.queue import Queue
from rq.worker import WorkerStatus

from worker.connection import Reconnect
from worker.errors import RedisUnavailable
from worker.intake import Intake
from worker.mixins import WorkerBase

logger = logging.getLogger(__name__)


class ResilientDequeueMixin(WorkerBase):
    intake: Intake
    fatal_error: RedisUnavailable | None = None
    _reconnect: Reconnect | None = None

    def dequeue_job_and_maintain_ttl(self, timeout: int | None,
                                     max_idle_time: int | None = None) -> tuple[Job, Queue] | None:
        """Wait for the next job; ``None`` when a burst run finds the queues empty."""
        self.procline("Listening on " + ",".join(self.queue_names()))
        while True:
            try:
                self.set_state(WorkerStatus.IDLE)
                self.heartbeat()
                if self.should_run_maintenance_tasks:
                    self.run_maintenance_tasks()
                # worker.intake: an atomic move per queue (never BLPOP), size limits before reading,
                # unreadable jobs failed as poison.
                result = self.intake.next_job(self.connection, self._ordered_queues, timeout, self.job_class,
                                              self.name)
                self._redis_recovered()
                if result is not None:
                    self.reorder_queues(reference_queue=result[1])
                    result[0].redis_server_version = self.get_redis_server_version()
                    self.heartbeat()
                return result
            except DequeueTimeout:
                self._redis_recovered()
                if self._stop_requested:
                    return None
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._redis_failed(exc)

    @property
    def reconnect(self) -> Reconnect:
        if self._reconnect is None:
            self._reconnect = Reconnect(self.settings)
        return self._reconnect

    def _redis_recovered(self) -> None:
        failures = self.reconnect.succeeded()
        if failures:
            logger.info("redis.recovered after %d failed attempt(s)", failures,
                        extra={"event": "redis.recovered", "attempts": failures})

    def _redis_failed(self, exc: BaseException) -> None:
        try:
            self.reconnect.wait_or_give_up(exc)
        except RedisUnavailable as unavailable:
            self.fatal_error = unavailable
            raise

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Per-command retries are spent mid-job. End with exit 3; the job's lease runs out
            # and another worker's sweep puts it back.
            self.fatal_error = self.reconnect.give_up(exc)
            raise self.fatal_error from exc

    def teardown(self) -> None:
        try:
            super().teardown()
        except redis.RedisError as exc:
            # Redis is gone; the worker's key expires on its own. Don't mask why we are stopping.
            logger.warning("could not deregister from Redis: %s", exc, extra={"event": "worker.teardown_failed"})
