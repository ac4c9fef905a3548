"""Stalled-job recovery inside the worker: leases on started jobs, and a sweep on every tick.

RQ notices an abandoned job only after its registry entry expires (about 90 s past the last
heartbeat) and a maintenance pass runs (every 10 minutes). Here every execution's registry score is
a lease of ``WORKER_STALL_TIMEOUT`` seconds, renewed on each heartbeat, and every worker sweeps its
queues once per heartbeat interval, idle or busy. A killed job is back on its queue within
stall timeout + one heartbeat interval.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from rq.job import Job
from rq.rate_limit import RateLimitRegistry
from rq.registry import DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry, ReadyJobRegistry
from rq.utils import now
from rq.worker_registration import clean_worker_registry

from worker import events, reporting
from worker.mixins import TickingMixin
from worker.stalls import STALLED_TOO_OFTEN, StallOutcome, StallSweeper

logger = logging.getLogger(__name__)


class StallGuardMixin(TickingMixin):
    _sweeper: StallSweeper | None = None
    _last_sweep = 0.0

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # The lease: a started job whose worker is silent this long is stalled (worker/stalls.py).
        return self.settings.worker_stall_timeout_s

    def on_tick(self) -> None:
        super().on_tick()
        self.sweep_if_due()

    def maintain_heartbeats(self, job: Job, execution: Any) -> None:
        try:
            super().maintain_heartbeats(job, execution)
        except redis.RedisError as exc:
            # A missed heartbeat costs nothing unless it lasts a whole lease; the job keeps running.
            logger.warning("heartbeat missed: %s", exc, extra={"event": "worker.heartbeat_missed"})
        self.sweep_if_due()

    def clean_registries(self) -> None:
        """RQ's maintenance, minus the two cleanups that would *fail* jobs our sweep requeues.

        RQ's started-registry cleanup fails expired leases as "abandoned" (ignoring JOB_MAX_STALLS),
        and its intermediate-list cleanup fails jobs a dead worker had taken; both are the sweep's.
        """
        self.sweep_if_due(force=True)
        for queue in self.queues:
            if not queue.acquire_maintenance_lock():
                continue
            try:
                for registry_class in (FinishedJobRegistry, FailedJobRegistry, DeferredJobRegistry,
                                       ReadyJobRegistry):
                    registry_class(name=queue.name, connection=self.connection, job_class=self.job_class,
                                   serializer=self.serializer).cleanup()
                for rate_limit_registry in RateLimitRegistry.all(self.connection):
                    rate_limit_registry.cleanup()
                clean_worker_registry(queue)
            finally:
                queue.release_maintenance_lock()
        self.last_cleaned_at = now()  # type: ignore[assignment]  # RQ annotates it as None only

    def sweep_if_due(self, force: bool = False) -> list[StallOutcome]:
        now = time.monotonic()
        if not force and now - self._last_sweep < self.settings.worker_heartbeat_interval_s:
            return []
        self._last_sweep = now
        if self._sweeper is None:
            self._sweeper = StallSweeper(self.connection, self.queue_names(),
                                         max_stalls=self.settings.job_max_stalls,
                                         orphan_after_s=self.settings.worker_stall_timeout_s,
                                         failure_ttl_s=self.settings.job_failure_ttl_s)
        try:
            outcomes = self._sweeper.sweep()
        except redis.RedisError as exc:
            logger.warning("stall sweep skipped: %s", exc, extra={"event": "worker.sweep_failed"})
            return []
        for outcome in outcomes:
            self._report(outcome)
        return outcomes

    def _report(self, outcome: StallOutcome) -> None:
        if outcome.action == "cleaned":
            logger.info("registry.cleaned job_id=%s: finished job left in the started registry",
                        outcome.job_id, extra={"event": "registry.cleaned", "job_id": outcome.job_id})
            return
        job = self.job_class(outcome.job_id, connection=self.connection)
        try:
            job.refresh()
        except Exception:
            logger.warning("stalled job %s vanished", outcome.job_id, extra={"event": "job.stalled"})
            return
        if outcome.action == "orphan_requeued":
            events.job_requeued(job, reason="orphaned", queue=outcome.queue)
            return
        events.job_stalled(job, worker=outcome.worker or None, stalls=outcome.stalls, queue=outcome.queue)
        reporting.capture_event("job.stalled", job, f"worker {outcome.worker or '?'} went silent")
        if outcome.action == "requeued":
            events.job_requeued(job, reason="stalled", queue=outcome.queue)
            return
        reason = f"JobStalled: {STALLED_TOO_OFTEN} ({outcome.stalls} stalls, limit {self.settings.job_max_stalls})"
        with self.connection.pipeline() as pipe:
            job._handle_failure(reason, pipeline=pipe, worker_name=self.name)
            pipe.execute()
        events.job_failed(job, None, attempt=outcome.stalls, will_retry=False, exc_type="JobStalled",
                          error=STALLED_TOO_OFTEN)
