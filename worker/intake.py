"""Taking a job off its queues: reliably for any number of queues, and without trusting the job.

**Reliable.** RQ moves a job into the queue's intermediate list (BLMOVE) only when a worker has one
queue; with several it pops with BLPOP, and a worker that dies before the job is marked started
leaves it in no list at all (29 jobs lost in 300 SIGKILLs, 5 in 120 SIGTERMs). Here every take is
an atomic LMOVE into the queue's intermediate list, tried per queue in priority order in one
script; the stall sweep's orphan recovery already covers every queue's intermediate list. While
idle the worker blocks (BLMOVE) on its highest-priority queue for at most ``POLL_S`` at a time and
then tries every queue again: a job on a lower-priority queue waits at most ``POLL_S`` longer, and
a stop request is seen within ``POLL_S`` (the worker is never interrupted while it takes a job: a
stop that lands after the take gives the job back to the front of its queue, untouched).

**Not trusted.** Before a job is read, its size in Redis is checked (every field of its hash, and
its arguments after decompression, against ``JOB_MAX_PAYLOAD_BYTES``), so a 100 MB argument never
reaches the worker's memory. A job whose hash cannot be read (garbage in ``created_at``, ``status``,
``timeout``...) is failed as ``poison`` instead of crashing the worker, and so is a job taken
``POISON_TAKES`` times without ever starting (its reading kills the worker in a way no ``except``
catches). Both are failed with the reason in one atomic step, by id, without reading them.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from redis import Redis
from rq.defaults import DEFAULT_FAILURE_TTL
from rq.exceptions import DequeueTimeout, StopRequested
from rq.job import Job
from rq.queue import Queue

from jobs import keys as service_keys
from worker import storage
from worker.metrics import RECORDER
from worker.storage import SUSPENDED, TakeCount, Taken, fail_by_id, queue_keys
from worker.vetting import MAX_JOB_ID_CHARS

logger = logging.getLogger("worker.events")

POLL_S = 1
DEFAULT_LIMIT = 4 * 1024 * 1024  # JOB_MAX_PAYLOAD_BYTES's default
POISON_TAKES = 3
#: Our own key per job: how often a worker took it without starting it (deleted when it starts).
TAKES_KEY_PREFIX = service_keys.TAKES
TAKES_TTL_S = 86_400
LOGGED_ID_CHARS = 80

TAKE_COUNT = TakeCount(TAKES_KEY_PREFIX, TAKES_TTL_S)


def _never() -> bool:
    return False


def take(connection: Redis, queue_names: Sequence[str], timeout: float | None,
         limit: int = DEFAULT_LIMIT, stop: Callable[[], bool] = _never) -> Taken | None:
    """The next job id, moved atomically into its queue's intermediate list (``worker.storage.take``);
    ``None`` when all queues are empty and ``timeout`` is None, or once ``stop()`` is true;
    ``DequeueTimeout`` when nothing came within ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        stopping = remaining is None or stop()
        # While idle, block on the first queue for at most POLL_S (never past the deadline, never
        # once stopping), then try every queue again.
        block_s = 0 if stopping or remaining is None or remaining <= 0 else max(1, math.ceil(min(remaining, POLL_S)))
        found = storage.take(connection, queue_names, limit=limit, count=TAKE_COUNT, block_s=block_s)
        if isinstance(found, Taken):
            return found
        if stopping or remaining is None:
            return None  # burst: nothing to take (or `rq suspend`, which ends a burst worker too)
        if remaining <= 0:
            raise DequeueTimeout(timeout, [queue_keys(name)[0] for name in queue_names])
        if found == SUSPENDED:  # `rq suspend`: take nothing, look again in a second
            time.sleep(min(remaining, POLL_S))


def takes_key(job_id: str) -> str:
    return TAKES_KEY_PREFIX + job_id


def give_back(connection: Redis, queue_name: str, job_id: str) -> None:
    """A job taken but never started goes back to the front of its queue, its take uncounted."""
    storage.requeue(connection, queue_name, job_id, takes_key=takes_key(job_id))


def size_refusal(taken: Taken, limit: int) -> str | None:
    """Why a job is too big to read (naming the size), or None; decompresses at most ``limit`` bytes."""
    if len(taken.job_id) > MAX_JOB_ID_CHARS:
        return f"job id is {len(taken.job_id)} characters (limit {MAX_JOB_ID_CHARS})"
    if taken.stored_bytes > limit:
        return f"job is {taken.stored_bytes} bytes in Redis, above JOB_MAX_PAYLOAD_BYTES ({limit})"
    if taken.data and decompressed_size(taken.data, limit) > limit:
        return f"payload decompresses to more than JOB_MAX_PAYLOAD_BYTES ({limit} bytes)"
    return None


def decompressed_size(data: bytes, limit: int) -> int:
    """Size of RQ's payload once decompressed, counting no further than ``limit + 1`` bytes."""
    try:
        return len(zlib.decompressobj().decompress(data, limit + 1))
    except zlib.error:
        return len(data)  # RQ stores it as is when it is not zlib data


def fail_unread(connection: Redis, queue_name: str, job_id: str, reason: str, *, worker_name: str = "",
                ttl_s: int = DEFAULT_FAILURE_TTL) -> bool:
    """Fail a job by id with ``reason``, never reading it; it expires after ``ttl_s`` (JOB_FAILURE_TTL).
    False if its hash is gone."""
    done = fail_by_id(connection, queue_name, job_id, f"JobRefused: {reason}", worker_name=worker_name,
                      ttl_s=ttl_s, takes_key=takes_key(job_id))
    job_refused(job_id, queue_name, reason)
    RECORDER.job(connection, queue_name, "refused")
    return done


def origin_rewritten(job_id: str, queue_name: str, origin: str) -> None:
    logger.warning("job.origin_rewritten job_id=%s queue=%s: its origin named another queue", _clip(job_id),
                   queue_name, extra={"event": "job.origin_rewritten", "job_id": _clip(job_id), "queue": queue_name,
                                      "origin": _clip(origin)})


def _clip(text: str) -> str:
    return text if len(text) <= LOGGED_ID_CHARS else text[: LOGGED_ID_CHARS - 1] + "…"


def job_refused(job_id: str, queue_name: str, reason: str) -> None:
    shown = job_id if len(job_id) <= LOGGED_ID_CHARS else job_id[: LOGGED_ID_CHARS - 1] + "…"
    logger.error("job.refused job_id=%s queue=%s %s", shown, queue_name, reason,
                 extra={"event": "job.refused", "job_id": shown, "queue": queue_name, "func": None,
                        "reason": reason})


@dataclass(frozen=True)
class Intake:
    """One worker's way of taking jobs: its payload limit, and its job class for reading them."""

    max_payload_bytes: int
    failure_ttl_s: int = DEFAULT_FAILURE_TTL
    #: The worker's stop flag: checked before every blocking wait and after every take.
    should_stop: Callable[[], bool] = _never

    def next_job(self, connection: Redis, queues: Sequence[Queue], timeout: float | None,
                 job_class: type[Job], worker_name: str = "") -> tuple[Job, Queue] | None:
        by_key = {queue.key: queue for queue in queues}
        while True:
            taken = take(connection, [queue.name for queue in queues], timeout, self.max_payload_bytes,
                         self.should_stop)
            if taken is None:
                return None
            queue = by_key[taken.queue_key]
            if self.should_stop():
                give_back(connection, queue.name, taken.job_id)
                return None
            job = self.read(connection, queue, taken, job_class, worker_name)
            if job is not None:
                return job, queue

    def read(self, connection: Redis, queue: Queue, taken: Taken, job_class: type[Job],
             worker_name: str) -> Job | None:
        """The job, or None when it was refused, failed as poison, or is gone."""
        if taken.foreign_origin is not None:
            origin_rewritten(taken.job_id, queue.name, taken.foreign_origin)
        if taken.takes > POISON_TAKES:
            poison = f"poison: taken {taken.takes - 1} times without starting (it stops workers)"
            fail_unread(connection, queue.name, taken.job_id, poison, worker_name=worker_name,
                        ttl_s=self.failure_ttl_s)
            return None
        too_big = size_refusal(taken, self.max_payload_bytes)
        if too_big is not None:
            fail_unread(connection, queue.name, taken.job_id, too_big, worker_name=worker_name,
                        ttl_s=self.failure_ttl_s)
            return None
        try:
            return job_class.fetch(taken.job_id, connection=connection)
        except (redis.ConnectionError, redis.TimeoutError, StopRequested):
            raise  # Redis or a stop, not the job: orphan recovery has the job
        except Exception as exc:
            if not connection.exists(Job.key_for(taken.job_id)):
                storage.drop_taken(connection, queue.name, taken.job_id, takes_key=takes_key(taken.job_id))
                return None
            reason = f"poison: the job hash cannot be read ({type(exc).__name__})"
            fail_unread(connection, queue.name, taken.job_id, reason, worker_name=worker_name,
                        ttl_s=self.failure_ttl_s)
            return None
