"""Cancel a job: a waiting one never starts, a running one is stopped; neither is requeued.

Only RQ's own mechanisms are used, so plain RQ tools (rq-dashboard, ``rq info``) see what they
expect, and docs/wire-format.md spells out the same steps for other languages:

- a job that waits (``queued``, ``deferred``, ``scheduled``) is canceled with RQ's ``Job.cancel``
  in a transaction that ``WATCH``es the job hash, so a worker starting it at that moment makes the
  transaction fail and the job is then treated as running. ``Job.cancel`` sets the status
  ``canceled``, takes the id off its queue (and the deferred or scheduled registry) and adds it to
  RQ's canceled registry ``rq:canceled:<queue>``. A worker that had already taken the id off the
  queue checks that registry before it runs the job (``worker.runtime``).
- a ``started`` job gets RQ's ``stop-job`` command (``rq.command.send_stop_job_command``): a Pub/Sub
  message to the worker named in the job hash, which kills the job's work horse (its model calls
  die with it) and marks the job ``stopped``, never retried.

A job that has already ended is left alone.
"""

from __future__ import annotations

from typing import Literal

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError
from rq.command import PUBSUB_CHANNEL_TEMPLATE, send_command
from rq.job import JobStatus, validate_job_id
from rq.registry import CanceledJobRegistry

from jobs import notify
from worker.errors import JobNotFound, RequestInvalid, WorkerError
from worker.jsonjob import JsonJob

WAITING = frozenset({JobStatus.QUEUED.value, JobStatus.DEFERRED.value, JobStatus.SCHEDULED.value})
ENDED = frozenset({"finished", "failed", "stopped", "canceled"})

#: What ``cancel_job`` did: ``canceled`` a waiting job, is ``stopping`` a running one, or found it
#: had already ``ended`` (its status says how).
Action = Literal["canceled", "stopping", "ended"]


class NotListening(WorkerError):
    """A started job whose worker is not subscribed to its command channel (it died, or lost Redis):
    nothing can stop it; the stall sweep will deal with it once its lease runs out."""


def cancel_job(connection: Redis, job_id: str) -> tuple[Action, str]:
    """Cancel or stop ``job_id``; returns what was done and the job's status then.

    Raises JobNotFound for an unknown id, NotListening when a running job's worker does not listen.
    """
    try:
        validate_job_id(job_id)
    except ValueError as exc:
        raise RequestInvalid([f"job_id: {exc}"]) from None
    with connection.pipeline() as pipe:
        while True:
            try:
                return _cancel_once(connection, pipe, job_id)
            except WatchError:
                continue  # the job changed state meanwhile (a worker took or started it): look again


def _cancel_once(connection: Redis, pipe: Pipeline, job_id: str) -> tuple[Action, str]:
    key = JsonJob.key_for(job_id)
    pipe.watch(key)  # type: ignore[no-untyped-call]
    raw = pipe.hget(key, "status")
    status = raw.decode() if isinstance(raw, bytes) else raw
    if status is None:
        pipe.reset()
        raise JobNotFound(f"no job with id {job_id!r} (never enqueued, or its result expired)")
    if status in ENDED:
        pipe.reset()
        return "ended", status
    if status in WAITING:
        job = JsonJob.fetch(job_id, connection=connection)
        pipe.multi()
        job.cancel(pipeline=pipe)
        pipe.execute()
        notify.publish(connection, job_id, JobStatus.CANCELED.value)
        return "canceled", JobStatus.CANCELED.value
    pipe.reset()
    if status != JobStatus.STARTED.value:  # RQ's transient "created" and the like: nothing to act on yet
        raise NotListening(f"job {job_id} is {status}, neither waiting nor running; try again")
    return _stop(connection, job_id), status


def _stop(connection: Redis, job_id: str) -> Action:
    """``send_stop_job_command``'s message, checking that the worker actually received it."""
    raw = connection.hget(JsonJob.key_for(job_id), "worker_name")
    worker = raw.decode() if isinstance(raw, bytes) else raw
    if not worker or not connection.pubsub_numsub(PUBSUB_CHANNEL_TEMPLATE % worker)[0][1]:
        raise NotListening(f"job {job_id} is started but its worker {worker or '?'} is not listening; "
                           "it cannot be stopped (a dead worker's job is recovered by the stall sweep)")
    send_command(connection, worker, "stop-job", job_id=job_id)
    return "stopping"


def canceled_before_start(connection: Redis, job_id: str, queue: str) -> bool:
    """Whether ``Job.cancel`` reached a job a worker had already taken (read-only)."""
    registry_key = CanceledJobRegistry.key_template.format(queue)
    return connection.zscore(registry_key, job_id) is not None
