"""Failed jobs: one ``job.failed`` line with the reason, then retry or fail by ``worker.retries``.

The adapter calls ``Failures.judge`` where RQ reports a failure (an exception in the work horse,
or a work horse killed by SIGKILL or the OOM killer, seen by the parent), and ``Failures.apply``
just before RQ's ``handle_job_failure`` schedules the retry or fails the job for good. The number
of retries already spent lives in the job's budget (``worker.budget``), not in RQ's job hash.
Nothing here imports RQ's worker.
"""

from __future__ import annotations

import os

from redis import Redis
from rq.job import Job

from worker import budget, events, reporting
from worker.errors import TransientJobError
from worker.retries import RetryDecision, decide
from worker.settings import Settings


class WorkHorseKilled(TransientJobError):
    """The work horse died from a signal (SIGKILL, OOM killer) or exited abnormally.

    Transient: the usual cause is memory pressure from something else on the machine; a job that
    kills its horse every time still stops after JOB_MAX_RETRIES."""


def horse_killed(ret_val: int | None) -> WorkHorseKilled:
    how = f"signal {os.WTERMSIG(ret_val)}" if ret_val and os.WIFSIGNALED(ret_val) else f"status {ret_val}"
    return WorkHorseKilled(f"work horse terminated unexpectedly ({how})")


class Failures:
    """Decides, logs and reports one failure of a job; then applies the decision to the job."""

    def __init__(self, connection: Redis, settings: Settings) -> None:
        self.connection = connection
        self.settings = settings
        self.pending: RetryDecision | None = None

    def judge(self, job: Job, exc: BaseException, duration_ms: int | None = None) -> RetryDecision:
        s = self.settings
        done = budget.retries_done(self.connection, job.id)
        decision = decide(exc, done, max_retries=s.job_max_retries, base_s=s.job_retry_delay_s,
                          cap_s=s.job_retry_max_delay_s)
        exc_type = "WorkHorseKilled" if isinstance(exc, WorkHorseKilled) else None
        events.job_failed(job, exc, attempt=decision.attempt, will_retry=decision.will_retry,
                          duration_ms=duration_ms, exc_type=exc_type)
        self._report(job, exc, decision)
        self.pending = decision
        return decision

    def _report(self, job: Job, exc: BaseException, decision: RetryDecision) -> None:
        """One Sentry event per incident: a retried attempt is only remembered (each attempt runs
        in its own work horse), and becomes a breadcrumb of the event sent when the job fails for good."""
        if decision.will_retry:
            if reporting.enabled():
                summary = f"{type(exc).__name__}: {events.error_text(exc)}"
                budget.note_attempt(self.connection, job.id, decision.attempt, summary)
            return
        earlier = budget.attempts(self.connection, job.id) if reporting.enabled() else []
        if isinstance(exc, WorkHorseKilled):
            reporting.capture_event("job.killed", job, str(exc), earlier=earlier)
        else:
            reporting.capture_job_exception(job, exc, earlier=earlier)

    def apply(self, job: Job) -> None:
        """Let RQ schedule exactly one more attempt after our delay, or none, whatever Retry the
        enqueuer passed: the policy is the worker's."""
        decision, self.pending = self.pending, None
        if decision is None or not decision.will_retry:
            job.retries_left = 0
            return
        job.retries_left = 1
        job.retry_intervals = [decision.delay_s]
        budget.count_retry(self.connection, job.id)
        events.job_retrying(job, attempt=decision.attempt + 1, delay_s=decision.delay_s)
