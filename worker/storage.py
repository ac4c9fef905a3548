"""RQ's storage format, as this service writes it: key builders, and the one take, requeue, drop
of a taken job, and fail-by-id.

RQ writes its own keys through its classes. Where the service moves a job itself (it takes jobs
through RQ's intermediate lists, puts them back after a stall, a pause or a stop, and fails the
jobs it refuses or cannot read, which RQ never sees), it does so here, each transition in one
atomic script under ``worker/lua/``: ``take.lua``, ``requeue.lua`` (and its included
``requeue_front``, which the sweep and orphan recovery share) and ``fail_by_id.lua`` (its included
``fail_job``, which the stall sweep shares), so every failure has the same fields, TTL and clock.
Key names come from RQ's own classes (``tests/test_rq_compat.py`` pins them); the service's own
keys (take counts, fences) are passed in by the modules that own them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq.defaults import RQ_KEY_PREFIX
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.queue import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.suspension import WORKERS_SUSPENDED

from worker.scripts import FAIL_BY_ID, REQUEUE, TAKE

#: The worker hash field naming its running job: RQ 1.x wrote it and dashboards still read it.
CURRENT_JOB_FIELD = "current_job"
RESULTS_PREFIX = f"{RQ_KEY_PREFIX}:results:"  # RQ's Result.get_key(job_id), pinned in test_rq_compat
#: The take's reply while `rq suspend` is in force.
SUSPENDED = "suspended"


def queue_keys(queue_name: str) -> tuple[str, str]:
    """(queue list, RQ's intermediate list) of a queue; names from RQ's own classes."""
    queue_key = Queue.redis_queue_namespace_prefix + queue_name
    return queue_key, IntermediateQueue.get_intermediate_queue_key(queue_key)


def started_registry_key(queue_name: str) -> str:
    """Key of RQ's started-jobs sorted set for ``queue_name`` (no Redis call)."""
    return str(StartedJobRegistry.key_template.format(queue_name))


def failed_registry_key(queue_name: str) -> str:
    return str(FailedJobRegistry.key_template.format(queue_name))


# --- take ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Taken:
    """A job id just moved into its queue's intermediate list, with what the take script measured."""

    queue_key: str
    job_id: str
    takes: int
    stored_bytes: int
    data: bytes | None  # the compressed payload; None when the hash is over the limit
    foreign_origin: str | None = None  # the origin it had, when that was not the queue it came from

    @classmethod
    def of(cls, reply: list[Any]) -> Taken:
        queue_key, job_id, takes, total, data, origin = reply
        return cls(_text(queue_key), _text(job_id), int(takes), int(total), data if data else None,
                   _text(origin) if origin else None)


@dataclass(frozen=True)
class TakeCount:
    """The service's count of takes without a start (``worker.intake`` owns the key)."""

    key_prefix: str
    ttl_s: int


def take(connection: Redis, queue_names: Sequence[str], *, limit: int, count: TakeCount,
         block_s: int = 0) -> Taken | str | None:
    """Take the next job of the first non-empty queue (``take.lua``): ``Taken``, ``SUSPENDED`` or
    None when every queue is empty. With ``block_s``, an empty take then waits up to that many
    seconds on the first queue (BLMOVE into its intermediate list) and counts what came."""
    lists = [key for name in queue_names for key in queue_keys(name)]
    keys = [WORKERS_SUSPENDED, *lists]
    args: list[Any] = [count.key_prefix, count.ttl_s, Job.redis_job_namespace_prefix, limit,
                       Queue.redis_queue_namespace_prefix]
    found = TAKE(connection, keys, [*args, "take"])
    if not found and block_s > 0:
        job_id = connection.blmove(lists[0], lists[1], block_s)
        if job_id is not None:
            found = TAKE(connection, keys[:3], [*args, "count", job_id])
    if not found:
        return None
    return SUSPENDED if found in (b"suspended", SUSPENDED) else Taken.of(found)


# --- requeue -------------------------------------------------------------------------------------

def requeue(connection: Redis, queue_name: str, job_id: str, *, run: str | None = None,
            fence_key: str | None = None, takes_key: str | None = None) -> bool:
    """Put a job back at the front of its queue (idempotent: never on the queue twice; a canceled
    job stays off it). For a started job, only if ``run`` still holds the job's fence at
    ``fence_key`` (``worker.fencing``): False if not. ``takes_key``: uncount the take (a job given
    back unstarted), in the same step."""
    queue_key, intermediate = queue_keys(queue_name)
    job_key = Job.key_for(job_id)
    keys = [queue_key, intermediate, Queue.redis_queues_keys, job_key, fence_key or job_key, takes_key or job_key]
    return bool(REQUEUE(connection, keys, [job_id, run if fence_key and run else "", "1" if takes_key else "0"]))


def drop_taken(connection: Redis, queue_name: str, job_id: str, *, takes_key: str) -> None:
    """A taken job that is not to run nor go back (canceled, or its hash gone): out of RQ's
    intermediate list, its take count gone, in one transaction."""
    with connection.pipeline() as pipe:
        pipe.lrem(queue_keys(queue_name)[1], 0, job_id)
        pipe.delete(takes_key)
        pipe.execute()


# --- fail ----------------------------------------------------------------------------------------

def failure_args(connection: Redis, exc_string: str, worker_name: str | None) -> list[Any]:
    """``exc_info`` (RQ's zlib format), then RQ's failure Result as field, value pairs: what
    ``fail_job`` in ``worker/lua/fail.lua`` writes. ``worker_name`` None leaves that field out
    (the sweep adds the stalled run's worker and execution in Lua)."""
    result = Result("", Result.Type.FAILED, connection, exc_string=exc_string, worker_name=worker_name or "")
    fields = result.serialize()
    if worker_name is None:
        fields.pop("worker_name", None)
    return [zlib.compress(exc_string.encode()), *(part for pair in fields.items() for part in pair)]


def fail_by_id(connection: Redis, queue_name: str, job_id: str, exc_string: str, *, worker_name: str,
               ttl_s: int, takes_key: str, worker_key: str | None = None) -> bool:
    """Fail a job by id in one atomic step, never reading it (see the module docstring).

    ``worker_key``, when given, is the failing worker's RQ hash, whose failed-job count goes up.
    False if the job's hash is gone."""
    job_key = Job.key_for(job_id)
    keys = [job_key, failed_registry_key(queue_name), queue_keys(queue_name)[1], takes_key,
            RESULTS_PREFIX + job_id, worker_key or job_key]
    args = [job_id, ttl_s, "1" if worker_key else "0", *failure_args(connection, exc_string, worker_name)]
    return bool(FAIL_BY_ID(connection, keys, args))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
