"""The one rule for "stalled", shared by the runtime's stall detector and the health probe.

Our worker gives every execution in RQ's started registry a lease of ``WORKER_STALL_TIMEOUT``
seconds (the registry score is *last heartbeat + stall timeout*), and renews it on every heartbeat.
A started job is therefore stalled exactly when its score lies in the past: its worker died, hung,
or lost Redis for longer than the stall timeout. Counting them is one ``ZCOUNT`` per queue.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq.defaults import DEFAULT_FAILURE_TTL
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.queue import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.utils import utcformat


def started_registry_key(queue_name: str) -> str:
    """Key of RQ's started-jobs sorted set for ``queue_name`` (no Redis call)."""
    return str(StartedJobRegistry.key_template.format(queue_name))


def stalled_score_range(now: float | None = None) -> tuple[str, str]:
    """ZSET score range that holds the stalled executions at ``now``: leases that ended before it."""
    moment = time.time() if now is None else now
    return "-inf", f"({moment}"


def queue_stalled_count(pipe: Any, queue_name: str, now: float | None = None) -> None:
    """Add the stalled count of ``queue_name`` to a pipeline (read-only: ZCOUNT)."""
    low, high = stalled_score_range(now)
    pipe.zcount(started_registry_key(queue_name), low, high)


# The one way a job goes back to the front of its queue (stall, orphan, shutdown): status queued,
# out of RQ's intermediate list, pushed only if not already on the queue, so no path can
# enqueue a job twice even when a write is retried.
_REQUEUE_FRONT_FN = """
local function requeue_front(queue, intermediate, queues, job_key, job_id)
  redis.call('HSET', job_key, 'status', 'queued')
  redis.call('LREM', intermediate, 0, job_id)
  if not redis.call('LPOS', queue, job_id) then redis.call('LPUSH', queue, job_id) end
  redis.call('SADD', queues, queue)
end
"""

# Claims every expired lease of one queue and settles it, atomically, so that several workers
# sweeping at once never requeue the same job twice (the Lua script runs alone on the server), and
# a sweeper dying half-way cannot leave a job in no registry at all.
#   KEYS: started registry, queue list, intermediate list, failed registry, set of queues
#   ARGV: now, max stalls, failed-registry score, batch size, job key prefix, ended_at
_SWEEP_LUA = _REQUEUE_FRONT_FN + """
local out = {}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
for _, member in ipairs(members) do
  redis.call('ZREM', KEYS[1], member)
  local job_id = string.match(member, '^([^:]+)') or member
  local job_key = ARGV[5] .. job_id
  local status = redis.call('HGET', job_key, 'status')
  if status == 'started' then
    local stalls = redis.call('HINCRBY', job_key, 'cw_stalls', 1)
    local worker = redis.call('HGET', job_key, 'worker_name') or ''
    if stalls <= tonumber(ARGV[2]) then
      requeue_front(KEYS[2], KEYS[3], KEYS[5], job_key, job_id)
      table.insert(out, {job_id, 'requeued', stalls, worker})
    else
      redis.call('LREM', KEYS[3], 0, job_id)
      redis.call('HSET', job_key, 'status', 'failed', 'ended_at', ARGV[6])
      redis.call('ZADD', KEYS[4], ARGV[3], job_id)
      table.insert(out, {job_id, 'failed', stalls, worker})
    end
  elseif status == 'queued' then
    -- Taken by a worker that died before starting it: back on the queue, not counted as a stall.
    requeue_front(KEYS[2], KEYS[3], KEYS[5], job_key, job_id)
    table.insert(out, {job_id, 'orphan_requeued', 0, ''})
  else
    table.insert(out, {job_id, 'cleaned', 0, ''})
  end
end
return out
"""

# Moves one job from the intermediate list back to the front of its queue, if it is still there
# and still only queued (a live worker marks it started within milliseconds of taking it).
#   KEYS: intermediate list, queue list, set of queues, job hash, first-seen hash   ARGV: job id
_MOVE_BACK_LUA = _REQUEUE_FRONT_FN + """
redis.call('HDEL', KEYS[5], ARGV[1])
if redis.call('HGET', KEYS[4], 'status') ~= 'queued' then return 0 end
if redis.call('LPOS', KEYS[1], ARGV[1]) == false then return 0 end
requeue_front(KEYS[2], KEYS[1], KEYS[3], KEYS[4], ARGV[1])
return 1
"""

# KEYS: queue list, intermediate list, set of queues, job hash   ARGV: job id
_REQUEUE_LUA = _REQUEUE_FRONT_FN + """
requeue_front(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
return 1
"""


def queue_keys(queue_name: str) -> tuple[str, str]:
    """(queue list, RQ's intermediate list) of a queue; names from RQ's own classes."""
    queue_key = Queue.redis_queue_namespace_prefix + queue_name
    return queue_key, IntermediateQueue.get_intermediate_queue_key(queue_key)


def orphan_marks_key(queue_name: str) -> str:
    """Hash of first-seen times of jobs waiting in the intermediate list (see ``_recover_orphans``)."""
    return f"{queue_keys(queue_name)[1]}:cw_seen"


def requeue_front(connection: Redis, queue_name: str, job_id: str) -> None:
    """Put a job back at the front of its queue (idempotent: never on the queue twice)."""
    queue_key, intermediate = queue_keys(queue_name)
    script = connection.register_script(_REQUEUE_LUA)
    script(keys=[queue_key, intermediate, Queue.redis_queues_keys, Job.redis_job_namespace_prefix + job_id],
           args=[job_id])


SWEEP_BATCH = 100
STALLS_FIELD = "cw_stalls"  # a field of RQ's job hash, counted by the sweep script above
STALLED_TOO_OFTEN = "stalled too many times"


@dataclass(frozen=True)
class StallOutcome:
    """What a sweep did with one expired lease: ``requeued``, ``failed`` or ``cleaned`` (not started)."""

    job_id: str
    queue: str
    action: str
    stalls: int
    worker: str


class StallSweeper:
    """Finds stalled jobs in the given queues and requeues them, or fails them past ``max_stalls``."""

    def __init__(self, connection: Redis, queues: Sequence[str], *, max_stalls: int, orphan_after_s: float,
                 failure_ttl_s: int = DEFAULT_FAILURE_TTL) -> None:
        self.connection = connection
        self.queues = list(queues)
        self.max_stalls = max_stalls
        self.orphan_after_s = orphan_after_s
        self.failure_ttl_s = failure_ttl_s
        self._script = connection.register_script(_SWEEP_LUA)
        self._move_back = connection.register_script(_MOVE_BACK_LUA)

    def sweep(self, now: float | None = None) -> list[StallOutcome]:
        moment = time.time() if now is None else now
        outcomes = []
        for name in self.queues:
            queue_key, intermediate = queue_keys(name)
            keys = [started_registry_key(name), queue_key, intermediate,
                    FailedJobRegistry.key_template.format(name), Queue.redis_queues_keys]
            args: list[str | int | float] = [repr(moment), self.max_stalls, moment + self.failure_ttl_s, SWEEP_BATCH,
                    Job.redis_job_namespace_prefix, utcformat(datetime.fromtimestamp(moment, UTC))]
            for job_id, action, stalls, worker in self._script(keys=keys, args=args):
                outcomes.append(StallOutcome(_text(job_id), name, _text(action), int(stalls), _text(worker)))
            outcomes.extend(self._recover_orphans(name, moment))
        return outcomes

    def _recover_orphans(self, name: str, now: float) -> list[StallOutcome]:
        """Jobs a worker took off the queue (into RQ's intermediate list) but died before starting.

        They hold no lease, so the sweep above cannot see them; RQ's own cleanup would *fail* them.
        Each entry still ``queued`` gets a first-seen mark in one hash per queue; marks of entries
        that left the list (or started) are dropped on every pass, so a mark always belongs to the
        current stay, and a job seen ``queued`` for ``orphan_after_s`` goes back.
        """
        queue_key, intermediate = queue_keys(name)
        seen_key = orphan_marks_key(name)
        present = [_text(raw) for raw in self.connection.lrange(intermediate, 0, SWEEP_BATCH - 1)]
        marks = {_text(k): float(v) for k, v in self.connection.hgetall(seen_key).items()}
        stale = [job_id for job_id in marks if job_id not in present]
        if stale:
            self.connection.hdel(seen_key, *stale)
        recovered = []
        for job_id in present:
            job_key = Job.redis_job_namespace_prefix + job_id
            if self.connection.hget(job_key, "status") != b"queued":
                self.connection.hdel(seen_key, job_id)
            elif job_id not in marks:
                self.connection.hsetnx(seen_key, job_id, repr(now))
            elif now - marks[job_id] >= self.orphan_after_s and self._move_back(
                    keys=[intermediate, queue_key, Queue.redis_queues_keys, job_key, seen_key], args=[job_id]):
                recovered.append(StallOutcome(job_id, name, "orphan_requeued", 0, ""))
        return recovered


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
