"""Vetting: which jobs may run at all, decided before a work horse is forked.

A job is refused (failed with a reason, nothing it names imported or called) when its payload is
not JSON, it calls a method on an instance, or its function is not registered. The adapter asks
``refusal_reason`` for every dequeued job and calls ``refuse`` when there is one; extend the
checks here. Nothing here imports RQ's worker.
"""

from __future__ import annotations

from redis import Redis
from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now

from jobs.registry import is_registered
from worker import events, reporting
from worker.stalls import queue_keys


def refusal_reason(job: Job) -> str | None:
    """Why ``job`` must not run, or None. Reading ``func_name`` deserializes the payload as JSON."""
    try:
        func_name = job.func_name
        has_instance = job.instance is not None
    except DeserializationError:
        return "payload is not JSON (only rq.serializers.JSONSerializer is accepted)"
    except Exception as exc:
        return f"payload cannot be read ({type(exc).__name__})"
    if has_instance:
        return "method calls on instances are not accepted"
    if not is_registered(func_name):
        return f"{func_name!r} is not a registered job function"
    return None


def refuse(connection: Redis, job: Job, queue: Queue, reason: str, *, worker_name: str, worker_key: str) -> None:
    """Fail a job without importing or calling anything it names; ``ended_at`` is now.

    ``worker_key`` is the refusing worker's RQ hash, whose failed-job count goes up."""
    events.job_refused(job, queue.name, reason)
    reporting.capture_event("job.refused", job, reason)
    job.ended_at = now()
    with connection.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        job._handle_failure(f"JobRefused: {reason}", pipeline=pipe, worker_name=worker_name)
        # A single-queue worker dequeues through RQ's intermediate list; drop the entry so
        # RQ's maintenance does not "fail" the job a second time.
        pipe.lrem(queue_keys(queue.name)[1], 1, job.id)
        pipe.hincrby(worker_key, "failed_job_count", 1)
        pipe.execute()

