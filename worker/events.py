"""Lifecycle events, logged the same way from whichever process they happen in.

Each function emits one line whose ``event`` is a name from docs/interface.md, with the job's id, queue
and function as context. Argument values are never logged: they may hold user data, and a failed
job's exception message is trimmed for the same reason. Each job event is also counted in the
job metrics (``worker.metrics``): the lifecycle points are these functions, wherever they are called.
"""

from __future__ import annotations

import logging
from typing import Any

from rq.exceptions import StopRequested
from rq.job import Job

from worker.metrics import RECORDER, Announcement

logger = logging.getLogger("worker.events")
MAX_ERROR_CHARS = 500
MAX_NAME_CHARS = 200  # a hostile job's id or function name can be megabytes long


def job_context(job: Job, queue: str | None = None) -> dict[str, Any]:
    """job_id, queue and func of a job, without deserializing anything that might fail."""
    try:
        func = job.func_name
    except StopRequested:
        raise
    except Exception:
        func = None
    return {"job_id": clipped(job.id), "queue": queue or job.origin, "func": clipped(func)}


def clipped(text: str | None, limit: int = MAX_NAME_CHARS) -> str | None:
    """A job-chosen name (id, function) cut to ``limit`` characters for log lines."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _emit(level: int, event: str, job: Job | None, text: str = "", **fields: Any) -> None:
    context = job_context(job, fields.pop("queue", None)) if job is not None else {}
    context.update(fields)
    detail = " ".join(f"{k}={v}" for k, v in context.items() if v is not None)
    logger.log(level, "%s %s%s", event, detail, f" {text}" if text else "", extra={"event": event, **context})


def error_text(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else ""
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def job_started(job: Job) -> None:
    _emit(logging.INFO, "job.started", job)


def job_finished(job: Job, duration_ms: int, announce: Announcement | None = None) -> None:
    """Logged, counted, and ``announce`` (the job's end, ``jobs.notify``) sent with the counts."""
    _emit(logging.INFO, "job.finished", job, duration_ms=duration_ms)
    RECORDER.job_event(job, "finished", ran=True, duration_ms=duration_ms, announce=announce)


def job_failed(job: Job, exc: BaseException | None, *, attempt: int, will_retry: bool,
               duration_ms: int | None = None, exc_type: str | None = None, error: str | None = None) -> None:
    _emit(
        logging.WARNING if will_retry else logging.ERROR,
        "job.failed",
        job,
        exc_type=exc_type or (type(exc).__name__ if exc is not None else None),
        error=error if error is not None else error_text(exc),
        attempt=attempt,
        will_retry=will_retry,
        duration_ms=duration_ms,
    )
    if not will_retry:  # an attempt that will be retried is counted by job_retrying
        RECORDER.job_event(job, "failed", ran=duration_ms is not None)


def job_retrying(job: Job, *, attempt: int, delay_s: float) -> None:
    _emit(logging.INFO, "job.retrying", job, attempt=attempt, delay_s=delay_s)
    RECORDER.job_event(job, "retried", ran=True)


def job_stalled(job: Job, *, worker: str | None, stalls: int, queue: str) -> None:
    _emit(logging.WARNING, "job.stalled", job, queue=queue, worker=worker, stalls=stalls)
    RECORDER.job_event(job, "stalled", queue=queue)


def job_requeued(job: Job, *, reason: str, queue: str | None = None) -> None:
    _emit(logging.WARNING, "job.requeued", job, queue=queue, reason=reason)
    RECORDER.job_event(job, "requeued", queue=queue)


def job_refused(job: Job, queue: str, reason: str) -> None:
    _emit(logging.ERROR, "job.refused", job, queue=queue, reason=reason)
    RECORDER.job_event(job, "refused", queue=queue)


def outcome_dropped(job: Job, outcome: str, detail: str) -> None:
    """A run that lost its job (its lease taken back while it was paused) tried to write an outcome:
    nothing was written; the job's current run, if any, decides."""
    _emit(logging.WARNING, "job.outcome_dropped", job, outcome=outcome, reason=clipped(detail, MAX_ERROR_CHARS))


def job_not_requeued(job_id: str | None, queue: str | None, error: str) -> None:
    """A job that shutdown should have put back but could not (Redis down or refusing writes)."""
    logger.error("job.not_requeued job_id=%s queue=%s: %s; the stall sweep requeues it when its lease ends",
                 clipped(job_id), queue, error,
                 extra={"event": "job.not_requeued", "job_id": clipped(job_id), "queue": queue, "error": error})


def worker_event(event: str, name: str, **fields: Any) -> None:
    detail = " ".join(f"{k}={v}" for k, v in fields.items())
    logger.info("%s %s %s", event, name, detail, extra={"event": event, "worker": name, **fields})


def job_stopped(job: Job) -> None:
    """A running job stopped on request (``curriculum-worker cancel``, RQ's stop-job command)."""
    _emit(logging.WARNING, "job.stopped", job)


def job_canceled(job: Job, queue: str) -> None:
    """A job canceled after a worker had taken it off its queue: it is dropped, never run."""
    _emit(logging.WARNING, "job.canceled", job, queue=queue)
