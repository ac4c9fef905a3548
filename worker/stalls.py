"""Leases on running jobs, and the sweep that recovers the jobs of silent workers, on Redis's clock.

Keys (this module owns them; ``<queue>`` is the RQ queue name):

``curriculum-worker:leases:<queue>``
    sorted set: one member per running execution (RQ's ``<job id>:<execution id>``), scored with
    the lease's end in Redis ``TIME`` seconds. Granted before the work horse is forked, renewed on
    every heartbeat, removed with RQ's own started-registry entry when the execution ends.
``curriculum-worker:lease-suspects:<queue>``
    hash: execution → Redis time at which a sweep first found its lease ended.
``curriculum-worker:orphans:<queue>``
    hash: job id → Redis time at which a sweep first saw it, still ``queued``, in RQ's
    intermediate list (taken off the queue by a worker that never started it).
``curriculum-worker:fence:<job id>``
    string: the execution (``<job id>:<execution id>``) that may write the job's outcome
    (``worker.fencing``). Set with the lease; deleted when a sweep takes the lease back or orphan
    recovery requeues the job; left to expire ``FENCE_ENDED_TTL_S`` after its run released it.

Every score is written and compared with ``TIME`` inside the scripts, so no host's clock matters.
A lease is taken back only when two sweeps at least ``confirm_s`` apart both find it ended: after
a Redis pause (``CLIENT PAUSE``, ``DEBUG SLEEP``, a slow fork) the first sweep only marks it, and
the live worker's heartbeat, queued behind the pause, renews it before the second. RQ's started
registry keeps RQ's meaning (its scores come from ``get_heartbeat_ttl``, well past our lease), so
RQ's cleanup never reaches a job this sweep would recover while any worker runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.defaults import DEFAULT_FAILURE_TTL
from rq.job import Job
from rq.queue import Queue

from jobs import keys as service_keys
from worker import budget, scripts
from worker.storage import (
    CURRENT_JOB_FIELD,
    RESULTS_PREFIX,
    failed_registry_key,
    failure_args,
    queue_keys,
    started_registry_key,
)

LEASES = service_keys.LEASES + "{}"
SUSPECTS = service_keys.LEASE_SUSPECTS + "{}"
ORPHANS = service_keys.ORPHANS + "{}"
FENCE_PREFIX = service_keys.FENCE
#: A fence outlives its run's end this long, so the parent can tell "my horse finished" from
#: "a sweep took my job" when its last heartbeat finds the lease gone.
FENCE_ENDED_TTL_S = 600
#: Bounds a fence whose queue is never swept again; far past any lease or job timeout.
FENCE_MAX_TTL_S = 7 * 86_400

SWEEP_BATCH = 100
STALLED_TOO_OFTEN = "stalled too many times"


def lease_key(queue_name: str) -> str:
    return LEASES.format(queue_name)


def fence_key(job_id: str) -> str:
    return FENCE_PREFIX + job_id


def stalled_score_range(now: float | None = None) -> tuple[str, str]:
    """Lease scores that have ended at ``now``."""
    moment = time.time() if now is None else now
    return "-inf", f"({moment}"


def queue_stalled_count(pipe: Any, queue_name: str, now: float | None = None) -> None:
    """Add the count of ended leases of ``queue_name`` to a pipeline (read-only: ZCOUNT)."""
    low, high = stalled_score_range(now)
    pipe.zcount(lease_key(queue_name), low, high)


class Leases:
    """Grants, renews and releases the lease of one running execution (``job_id:execution_id``)."""

    def __init__(self, connection: Redis, lease_s: float) -> None:
        self.lease_s = lease_s
        self.connection = connection

    @staticmethod
    def _keys(queue_name: str, member: str) -> list[str]:
        return [lease_key(queue_name), SUSPECTS.format(queue_name), fence_key(member.rsplit(":", 1)[0])]

    def grant(self, queue_name: str, member: str, worker_key: str, obsolete: Sequence[str] = ()) -> None:
        """The lease of a new run, which also becomes the job's fence (``worker.fencing``); in the
        same step the job becomes ``current_job`` of the worker hash ``worker_key`` and the
        ``obsolete`` keys (the run's start ends their use) are deleted."""
        keys = [*self._keys(queue_name, member), worker_key, *obsolete]
        job_id = member.split(":", 1)[0]  # the member is RQ's execution composite key, job id first
        scripts.LEASE(self.connection, keys,
                      [member, self.lease_s, "grant", FENCE_MAX_TTL_S, job_id, CURRENT_JOB_FIELD])

    def renew(self, queue_name: str, member: str) -> bool:
        """False when the lease is gone: a sweep took the job back from this worker."""
        return bool(scripts.LEASE(self.connection, self._keys(queue_name, member), [member, self.lease_s, "renew", 0]))

    def release(self, pipe: Pipeline, queue_name: str, member: str, *, fenced: bool = False) -> None:
        """In the transaction that ends the run: lease gone, its fence kept a while (see FENCE_ENDED_TTL_S).

        ``fenced``: the transaction commits only while the fence names this run (worker.fencing),
        so plain commands do; otherwise a script touches the fence only if it is still the run's
        (a script in a pipeline costs redis-py a SCRIPT EXISTS round trip first)."""
        leases, suspects, fence = self._keys(queue_name, member)
        if fenced:
            pipe.zrem(leases, member)
            pipe.hdel(suspects, member)
            pipe.expire(fence, FENCE_ENDED_TTL_S)
            return
        scripts.LEASE_RELEASE(pipe, [leases, suspects, fence], [member, FENCE_ENDED_TTL_S])


@dataclass(frozen=True)
class StallOutcome:
    """What a sweep did with one job: ``requeued``, ``failed``, ``cleaned`` (its lease outlived the
    job), ``orphan_requeued`` or ``removed`` (an intermediate-list entry whose job is gone)."""

    job_id: str
    queue: str
    action: str
    stalls: int
    worker: str


class StallSweeper:
    """Recovers the jobs of silent workers in the given queues; see the module docstring."""

    def __init__(self, connection: Redis, queues: Sequence[str], *, max_stalls: int, confirm_s: float,
                 orphan_after_s: float, failure_ttl_s: int = DEFAULT_FAILURE_TTL) -> None:
        self.connection = connection
        self.queues = list(queues)
        self.max_stalls = max_stalls
        self.confirm_s = confirm_s
        self.orphan_after_s = orphan_after_s
        self.failure_ttl_s = failure_ttl_s
        # The stalled run's worker and execution are added to the failure Result in the script.
        self._failure = failure_args(connection, f"JobStalled: {STALLED_TOO_OFTEN} (limit {max_stalls})", None)

    def sweep(self) -> list[StallOutcome]:
        outcomes = []
        for name in self.queues:
            outcomes.extend(self._settle_leases(name))
            outcomes.extend(self._recover_orphans(name))
        return outcomes

    def _settle_leases(self, name: str) -> list[StallOutcome]:
        queue_key, intermediate = queue_keys(name)
        keys = [lease_key(name), SUSPECTS.format(name), started_registry_key(name), queue_key, intermediate,
                failed_registry_key(name), Queue.redis_queues_keys]
        args: list[Any] = [self.max_stalls, self.failure_ttl_s, SWEEP_BATCH, Job.redis_job_namespace_prefix,
                           budget.KEY_PREFIX, self.confirm_s, budget.BUDGET_TTL_S,
                           RESULTS_PREFIX, FENCE_PREFIX, *self._failure]
        return [StallOutcome(_text(job_id), name, _text(action), int(stalls), _text(worker))
                for job_id, action, stalls, worker in scripts.SWEEP(self.connection, keys, args)]

    def _recover_orphans(self, name: str) -> list[StallOutcome]:
        """Walk RQ's whole intermediate list in batches; drop the marks of entries that left it."""
        queue_key, intermediate = queue_keys(name)
        marks = ORPHANS.format(name)
        keys = [intermediate, queue_key, Queue.redis_queues_keys, marks]
        outcomes, present, start = [], set(), 0
        for _ in range(int(self.connection.llen(intermediate)) // SWEEP_BATCH + 2):
            ids = [_text(raw) for raw in self.connection.lrange(intermediate, start, start + SWEEP_BATCH - 1)]
            if not ids:
                break
            gone = {_text(job_id): _text(action) for job_id, action in
                    scripts.ORPHANS(self.connection, keys, [self.orphan_after_s, Job.redis_job_namespace_prefix,
                                                  FENCE_PREFIX, *ids])}
            outcomes += [StallOutcome(job_id, name, action, 0, "") for job_id, action in gone.items()]
            present.update(set(ids) - set(gone))
            start += len(ids) - len(gone)
        stale = [job_id for job_id in map(_text, self.connection.hkeys(marks)) if job_id not in present]
        if stale:
            self.connection.hdel(marks, *stale)
        return outcomes


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
