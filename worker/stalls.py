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


# Claims every expired lease of one queue and settles it, atomically, so that several workers
# sweeping at once never requeue the same job twice (the Lua script runs alone on the server), and
# a sweeper dying half-way cannot leave a job in no registry at all.
#   KEYS: started registry, queue list, intermediate list, failed registry, set of queues
#   ARGV: now, max stalls, failed-registry score, batch size, job key prefix, ended_at
_SWEEP_LUA = """
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
    redis.call('LREM', KEYS[3], 0, job_id)
    if stalls <= tonumber(ARGV[2]) then
      redis.call('HSET', job_key, 'status', 'queued')
      redis.call('LPUSH', KEYS[2], job_id)
      redis.call('SADD', KEYS[5], KEYS[2])
      table.insert(out, {job_id, 'requeued', stalls, worker})
    else
      redis.call('HSET', job_key, 'status', 'failed', 'ended_at', ARGV[6])
      redis.call('ZADD', KEYS[4], ARGV[3], job_id)
      table.insert(out, {job_id, 'failed', stalls, worker})
    end
  elseif status == 'queued' then
    -- Taken by a worker that died before starting it: back on the queue, not counted as a stall.
    redis.call('LREM', KEYS[3], 0, job_id)
    if not redis.call('LPOS', KEYS[2], job_id) then
      redis.call('LPUSH', KEYS[2], job_id)
      redis.call('SADD', KEYS[5], KEYS[2])
    end
    table.insert(out, {job_id, 'orphan_requeued', 0, ''})
  else
    table.insert(out, {job_id, 'cleaned', 0, ''})
  end
end
return out
"""

# Moves one job from the intermediate list back to the front of its queue, if it is still there
# and still only queued (a live worker marks it started within milliseconds of taking it).
#   KEYS: intermediate list, queue list, job hash, first-seen key     ARGV: job id
_MOVE_BACK_LUA = """
if redis.call('HGET', KEYS[3], 'status') ~= 'queued' then return 0 end
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  if not redis.call('LPOS', KEYS[2], ARGV[1]) then redis.call('LPUSH', KEYS[2], ARGV[1]) end
  redis.call('DEL', KEYS[4])
  return 1
end
return 0
"""

SWEEP_BATCH = 100
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
            queue_key = Queue.redis_queue_namespace_prefix + name
            keys = [started_registry_key(name), queue_key, f"{queue_key}:intermediate",
                    FailedJobRegistry.key_template.format(name), Queue.redis_queues_keys]
            args: list[str | int | float] = [repr(moment), self.max_stalls, moment + self.failure_ttl_s, SWEEP_BATCH,
                    Job.redis_job_namespace_prefix, utcformat(datetime.fromtimestamp(moment, UTC))]
            for job_id, action, stalls, worker in self._script(keys=keys, args=args):
                outcomes.append(StallOutcome(_text(job_id), name, _text(action), int(stalls), _text(worker)))
            outcomes.extend(self._recover_orphans(name, queue_key, moment))
        return outcomes

    def _recover_orphans(self, name: str, queue_key: str, now: float) -> list[StallOutcome]:
        """Jobs a worker took off the queue (into RQ's intermediate list) but died before starting.

        They hold no lease, so the sweep above cannot see them; RQ's own cleanup would *fail* them
        after ten minutes. An entry still ``queued`` across sweeps ``orphan_after_s`` apart goes back.
        """
        intermediate = f"{queue_key}:intermediate"
        recovered = []
        for raw in self.connection.lrange(intermediate, 0, SWEEP_BATCH - 1):
            job_id = _text(raw)
            seen_key = f"{intermediate}:cw_seen:{job_id}"
            if self.connection.hget(Job.redis_job_namespace_prefix + job_id, "status") != b"queued":
                self.connection.delete(seen_key)
                continue
            if self.connection.set(seen_key, repr(now), nx=True, ex=int(self.orphan_after_s * 4) + 60):
                continue
            first_seen = float(self.connection.get(seen_key) or now)
            keys = [intermediate, queue_key, Job.redis_job_namespace_prefix + job_id, seen_key]
            if now - first_seen >= self.orphan_after_s and self._move_back(keys=keys, args=[job_id]):
                recovered.append(StallOutcome(job_id, name, "orphan_requeued", 0, ""))
        return recovered


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
