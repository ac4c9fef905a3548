"""Idempotent enqueueing: the same request enqueued twice is paid for once.

The key is a digest of the validated, normalized request and ``PROMPT_VERSION``, stored as
``curriculum:idempotency:<sha256>`` and pointing at the job that answers it. The digest is taken
over RFC 8785 canonical JSON (``jobs.canonical``), so clients in other languages compute the same
key: docs/wire-format.md specifies it, and tests/vectors/canonical.json pins it for every client. While that job is
waiting or running, or finished with its result still stored, enqueueing the same request again
returns it; once it failed, was stopped or canceled, or has expired, a new job takes the key.

Two enqueuers racing on one key cannot both create a job: the key is read under ``WATCH`` and the
new job is written together with the key in one ``MULTI``/``EXEC`` transaction (rq accepts the
pipeline), so the loser of the race retries and finds the winner's job. Nothing is ever left
pointing at a job that was not created.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from redis import Redis, WatchError
from redis.client import Pipeline
from rq.exceptions import NoSuchJobError
from rq.job import Job

from jobs import keys
from jobs.canonical import canonical_digest
from jobs.generators import PROMPT_VERSION
from worker.errors import WorkerError
from worker.jsonjob import JsonJob

KEY_PREFIX = keys.IDEMPOTENCY  # wire contract: never changes
# Statuses after which a job will never produce a result: the next duplicate gets a new job.
DEAD = frozenset({"failed", "stopped", "canceled"})
_ATTEMPTS = 20

#: Writes one new job on the given pipeline (inside MULTI) under the given id and returns it.
EnqueueFn = Callable[[Pipeline | None, str | None], Job]


def idempotency_document(body: dict[str, Any]) -> dict[str, Any]:
    """What the key digests: the normalized request (every field, defaults filled) and the prompt version."""
    return {"prompt_version": PROMPT_VERSION, "request": body}


def idempotency_key(body: dict[str, Any]) -> str:
    """Redis key for a request already validated and normalized by ``parse_request``."""
    return keys.idempotency(canonical_digest(idempotency_document(body)))


def reusable(connection: Redis, job_id: str) -> tuple[str, str] | None:
    """(job_id, status) when the job can stand in for a new one; None when a new job is needed."""
    try:
        job = JsonJob.fetch(job_id, connection=connection)
    except (NoSuchJobError, ValueError):
        return None
    status = job.get_status(refresh=False)
    value = status.value if status is not None else None
    if value is None or value in DEAD:
        return None
    if value == "finished" and job.return_value() is None:
        return None  # the job hash outlived its result
    return job.id, value


def enqueue_once(connection: Redis, key: str, enqueue: EnqueueFn, *, ttl_s: int) -> tuple[str, str]:
    """Return the live job for ``key``, or enqueue one and point ``key`` at it, atomically."""
    with connection.pipeline() as pipe:
        for _ in range(_ATTEMPTS):
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                current = pipe.get(key)
                found = reusable(connection, current.decode()) if isinstance(current, bytes) else None
                if found is not None:
                    return found
                pipe.multi()
                job = enqueue(pipe, uuid.uuid4().hex)
                pipe.set(key, job.id, ex=ttl_s)
                pipe.execute()
                return job.id, "queued"
            except WatchError:
                continue  # another enqueuer changed the key first: look again
            finally:
                pipe.reset()
    raise WorkerError(f"could not claim idempotency key after {_ATTEMPTS} attempts")
