"""What the worker does about canceled and stopped jobs (see ``worker.cancel`` for the client side).

``Job.cancel`` takes a waiting job off its queue, but a worker may have taken the id off the queue
(into RQ's intermediate list) a moment before. The adapter (``worker.runtime``) asks here twice:
in the parent before it forks a work horse (the status fetched at the take says ``canceled``:
drop it), and in the horse right after RQ marked the job ``started`` (RQ's canceled registry
still lists it, whatever the status now says: put ``canceled`` back and end the horse without
running the job). A cancel
that comes after that write meets a ``started`` job and is sent RQ's stop-job command instead,
since ``worker.cancel`` watches the job hash. Nothing here imports RQ's worker.
"""

from __future__ import annotations

from redis import Redis
from rq.job import Job, JobStatus

from jobs import notify
from worker import events, storage
from worker.cancel import canceled_before_start
from worker.intake import takes_key


def was_canceled(job: Job) -> bool:
    """The job's status, as fetched just after the take, is ``canceled``.

    No fresh read: a cancel that lands after the fetch is still caught, in the work horse, by
    ``canceled_while_starting`` (``Job.cancel`` also lists the job in RQ's canceled registry); this
    check only saves forking a horse for a job canceled before the take, and costs no round trip."""
    return job.get_status(refresh=False) == JobStatus.CANCELED


def drop_taken(connection: Redis, job: Job, queue_name: str) -> None:
    """A canceled job a worker had taken: out of the intermediate list, its take count gone; logged."""
    storage.drop_taken(connection, queue_name, job.id, takes_key=takes_key(job.id))
    events.job_canceled(job, queue_name)


def canceled_while_starting(connection: Redis, job: Job) -> bool:
    """In the work horse, after RQ wrote ``started``: was the job canceled before that write?"""
    return canceled_before_start(connection, job.id, job.origin)


def restore_canceled(connection: Redis, job: Job) -> None:
    """Undo RQ's ``started`` for a job canceled while it was starting, and announce the end."""
    job.set_status(JobStatus.CANCELED)
    events.job_canceled(job, job.origin)
    notify.publish(connection, job.id, JobStatus.CANCELED.value)
