"""RQ's storage format, as this service writes it: key builders and the one way to fail a job by id.

RQ writes its own keys through its classes; where the service has to write them itself (a job it
refuses or cannot read, so never hands to RQ), it does so here, in one atomic script
(``worker/lua/fail_by_id.lua``), with the same fields, TTL and clock everywhere. Key names come
from RQ's own classes (``tests/test_rq_compat.py`` pins them).
"""

from __future__ import annotations

import zlib

from redis import Redis
from rq.defaults import RQ_KEY_PREFIX
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.queue import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.results import Result

from worker.scripts import FAIL_BY_ID

RESULTS_PREFIX = f"{RQ_KEY_PREFIX}:results:"  # RQ's Result.get_key(job_id), pinned in test_rq_compat


def queue_keys(queue_name: str) -> tuple[str, str]:
    """(queue list, RQ's intermediate list) of a queue; names from RQ's own classes."""
    queue_key = Queue.redis_queue_namespace_prefix + queue_name
    return queue_key, IntermediateQueue.get_intermediate_queue_key(queue_key)


def started_registry_key(queue_name: str) -> str:
    """Key of RQ's started-jobs sorted set for ``queue_name`` (no Redis call)."""
    return str(StartedJobRegistry.key_template.format(queue_name))


def failed_registry_key(queue_name: str) -> str:
    return str(FailedJobRegistry.key_template.format(queue_name))


def fail_by_id(connection: Redis, queue_name: str, job_id: str, exc_string: str, *, worker_name: str,
               ttl_s: int, takes_key: str, worker_key: str | None = None) -> bool:
    """Fail a job by id in one atomic step, never reading it (see the module docstring).

    ``worker_key``, when given, is the failing worker's RQ hash, whose failed-job count goes up.
    False if the job's hash is gone."""
    result = Result(job_id, Result.Type.FAILED, connection, exc_string=exc_string, worker_name=worker_name)
    fields = [part for pair in result.serialize().items() for part in pair]
    job_key = Job.key_for(job_id)
    keys = [job_key, failed_registry_key(queue_name), queue_keys(queue_name)[1], takes_key,
            RESULTS_PREFIX + job_id, worker_key or job_key]
    args = [job_id, ttl_s, zlib.compress(exc_string.encode()), "1" if worker_key else "0", *fields]
    return bool(FAIL_BY_ID(connection, keys, args))
