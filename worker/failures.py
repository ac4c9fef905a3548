"""Failed jobs: one ``job.failed`` line with the reason, then retry or fail by ``worker.retries``.

RQ's own failure log line prints the job's arguments, so it is replaced, not extended. Exceptions
raised by the job are classified in the work horse (``handle_exception``); a work horse killed by
SIGKILL or the OOM killer is handled in the parent (``handle_work_horse_killed``). Both end in
``handle_job_failure``, which asks RQ to schedule the retry or to fail the job for good.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from rq.job import Job
from rq.job_lifecycle import call_exception_handlers
from rq.queue import Queue

from worker import events, reporting
from worker.errors import TransientJobError
from worker.intake import takes_key
from worker.mixins import WorkerBase
from worker.retries import RETRIES_FIELD, RetryDecision, decide
from worker.stalls import orphan_marks_key

logger = logging.getLogger(__name__)


class WorkHorseKilled(TransientJobError):
    """The work horse died from a signal (SIGKILL, OOM killer) or exited abnormally.

    Transient: the usual cause is memory pressure from something else on the machine; a job that
    kills its horse every time still stops after JOB_MAX_RETRIES."""


class FailureHandlingMixin(WorkerBase):
    _decision: RetryDecision | None = None
    _job_started_at = 0.0

    def perform_job(self, job: Job, queue: Queue, execution: Any) -> bool:
        self._job_started_at = time.monotonic()
        self._decision = None
        return bool(super().perform_job(job, queue, execution))

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        # Every take goes through the intermediate list (worker.intake), whatever the number of queues.
        super().prepare_job_execution(job, True)
        # This stay in the intermediate list is over: its first-seen mark must not date the next, and
        # takes that never started stop counting towards poison.
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.hdel(orphan_marks_key(job.origin), job.id)
            pipe.delete(takes_key(job.id))
            pipe.execute()
        # Logged once Redis says "started", so the event and the job's status agree.
        events.job_started(job)

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: Any, execution: Any) -> None:
        super().handle_job_success(job, queue, started_job_registry, execution)
        events.job_finished(job, duration_ms=self.elapsed_ms())

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self._job_started_at) * 1000) if self._job_started_at else 0

    def _decide(self, job: Job, exc: BaseException | None) -> RetryDecision:
        done = int(self.connection.hget(job.key, RETRIES_FIELD) or 0)
        s = self.settings
        self._decision = decide(exc, done, max_retries=s.job_max_retries, base_s=s.job_retry_delay_s,
                                cap_s=s.job_retry_max_delay_s)
        return self._decision

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        exc = exc_info[1]
        decision = self._decide(job, exc)
        events.job_failed(job, exc, attempt=decision.attempt, will_retry=decision.will_retry,
                          duration_ms=self.elapsed_ms())
        reporting.capture_job_exception(job, exc)
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def handle_work_horse_killed(self, job: Job, retpid: Any, ret_val: Any, rusage: Any) -> None:
        how = f"signal {os.WTERMSIG(ret_val)}" if ret_val and os.WIFSIGNALED(ret_val) else f"status {ret_val}"
        exc = WorkHorseKilled(f"work horse terminated unexpectedly ({how})")
        decision = self._decide(job, exc)
        events.job_failed(job, exc, attempt=decision.attempt, will_retry=decision.will_retry,
                          exc_type="WorkHorseKilled")
        reporting.capture_event("job.killed", job, str(exc))
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: Any = None,
                           exc_string: str = "", execution: Any = None) -> None:
        decision, self._decision = self._decision, None
        if decision is not None and decision.will_retry:
            # Let RQ schedule exactly one more attempt after our delay, whatever Retry the
            # enqueuer passed: the policy is the worker's.
            job.retries_left = 1
            job.retry_intervals = [decision.delay_s]
            self.connection.hincrby(job.key, RETRIES_FIELD, 1)
            events.job_retrying(job, attempt=decision.attempt + 1, delay_s=decision.delay_s)
        else:
            job.retries_left = 0
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
