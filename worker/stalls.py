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
from rq.defaults import DEFAULT_FAILURE_TTL, RQ_KEY_PREFIX
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.queue import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.results import Result

from worker import budget

LEASES = "curriculum-worker:leases:{}"
SUSPECTS = "curriculum-worker:lease-suspects:{}"
ORPHANS = "curriculum-worker:orphans:{}"

SWEEP_BATCH = 100
RESULTS_PREFIX = f"{RQ_KEY_PREFIX}:results:"  # RQ's Result.get_key(job_id), pinned in test_rq_compat
STALLED_TOO_OFTEN = "stalled too many times"


def lease_key(queue_name: str) -> str:
    return LEASES.format(queue_name)


def started_registry_key(queue_name: str) -> str:
    """Key of RQ's started-jobs sorted set for ``queue_name`` (no Redis call)."""
    return str(StartedJobRegistry.key_template.format(queue_name))


def queue_keys(queue_name: str) -> tuple[str, str]:
    """(queue list, RQ's intermediate list) of a queue; names from RQ's own classes."""
    queue_key = Queue.redis_queue_namespace_prefix + queue_name
    return queue_key, IntermediateQueue.get_intermediate_queue_key(queue_key)


def stalled_score_range(now: float | None = None) -> tuple[str, str]:
    """Lease scores that have ended at ``now``."""
    moment = time.time() if now is None else now
    return "-inf", f"({moment}"


def queue_stalled_count(pipe: Any, queue_name: str, now: float | None = None) -> None:
    """Add the count of ended leases of ``queue_name`` to a pipeline (read-only: ZCOUNT)."""
    low, high = stalled_score_range(now)
    pipe.zcount(lease_key(queue_name), low, high)


_NOW_FN = """
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000, tonumber(t[1]), tonumber(t[2])
end
"""

# RQ's utcformat of a Redis TIME, for ended_at: civil date from days since the epoch.
_ISO_FN = """
local function iso(secs, micros)
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06dZ', y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, micros)
end
"""

# The one way a job goes back to the front of its queue (stall, orphan, shutdown): status queued,
# out of RQ's intermediate list, pushed only if not already on the queue, so no path can
# enqueue a job twice even when a write is retried. A canceled job is never put back, whoever asks.
_REQUEUE_FRONT_FN = """
local function requeue_front(queue, intermediate, queues, job_key, job_id)
  redis.call('LREM', intermediate, 0, job_id)
  if redis.call('HGET', job_key, 'status') == 'canceled' then return end
  redis.call('HSET', job_key, 'status', 'queued')
  if not redis.call('LPOS', queue, job_id) then redis.call('LPUSH', queue, job_id) end
  redis.call('SADD', queues, queue)
end
"""

# KEYS: leases, suspects   ARGV: member, lease seconds, 'grant' | 'renew'
# Returns 0 when a renewal finds the lease gone: a sweep took the job back.
_LEASE_LUA = _NOW_FN + """
if ARGV[3] == 'renew' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local now = redis_now()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# Settles every lease of one queue that two sweeps, confirm_s apart, found ended; atomically, so
# several workers sweeping at once never requeue a job twice and a sweeper dying half-way cannot
# leave a job in no list or registry. A job past its stall limit is failed in the same step, with
# its reason (RQ's failure Result, serialized by RQ in Python and passed in) and ended_at.
#   KEYS: leases, suspects, RQ started registry, queue, intermediate, RQ failed registry, RQ queues
#   ARGV: max stalls, default failure ttl, batch, RQ job prefix, budget prefix, confirm_s,
#         budget ttl, RQ results prefix, then the failure Result's fields as name, value pairs
_SWEEP_LUA = _NOW_FN + _ISO_FN + _REQUEUE_FRONT_FN + """
local now, secs, micros = redis_now()

local function fail(job_id, job_key, execution_id, worker, stalls)
  local ttl = tonumber(redis.call('HGET', job_key, 'failure_ttl') or '') or tonumber(ARGV[2])
  redis.call('LREM', KEYS[5], 0, job_id)
  redis.call('HSET', job_key, 'status', 'failed', 'ended_at', iso(secs, micros))
  redis.call('ZADD', KEYS[6], ttl < 0 and '+inf' or now + ttl, job_id)
  local result = {}
  for i = 9, #ARGV do table.insert(result, ARGV[i]) end
  table.insert(result, 'worker_name'); table.insert(result, worker)
  table.insert(result, 'execution_id'); table.insert(result, execution_id)
  local results_key = ARGV[8] .. job_id
  redis.call('XADD', results_key, 'MAXLEN', 10, '*', unpack(result))
  if ttl > 0 then
    redis.call('EXPIRE', job_key, ttl)
    redis.call('EXPIRE', results_key, ttl)
  end
  redis.call('HSET', ARGV[5] .. job_id, 'failure', 'stalled')
end

local function settle(member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
  redis.call('ZREM', KEYS[3], member)
  local job_id, execution_id = string.match(member, '^(.*):([^:]*)$')
  if not job_id then job_id, execution_id = member, '' end
  local job_key = ARGV[4] .. job_id
  if redis.call('HGET', job_key, 'status') ~= 'started' then return {job_id, 'cleaned', 0, ''} end
  local budget = ARGV[5] .. job_id
  local stalls = redis.call('HINCRBY', budget, 'stalls', 1)
  redis.call('EXPIRE', budget, tonumber(ARGV[7]))
  local worker = redis.call('HGET', job_key, 'worker_name') or ''
  if stalls <= tonumber(ARGV[1]) then
    requeue_front(KEYS[4], KEYS[5], KEYS[7], job_key, job_id)
    return {job_id, 'requeued', stalls, worker}
  end
  fail(job_id, job_key, execution_id, worker, stalls)
  return {job_id, 'failed', stalls, worker}
end

for _, member in ipairs(redis.call('HKEYS', KEYS[2])) do
  local score = redis.call('ZSCORE', KEYS[1], member)
  if not score or tonumber(score) >= now then redis.call('HDEL', KEYS[2], member) end
end
local out = {}
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(ended) do
  local seen = redis.call('HGET', KEYS[2], member)
  if not seen then
    redis.call('HSET', KEYS[2], member, now)
  elseif now - tonumber(seen) >= tonumber(ARGV[6]) then
    table.insert(out, settle(member))
  end
end
return out
"""

# One batch of RQ's intermediate list. An entry whose job hash is gone is removed; a job seen
# there still queued for orphan_after_s (its worker died between taking and starting it) goes back.
#   KEYS: intermediate, queue, RQ queues, orphans   ARGV: orphan_after_s, RQ job prefix, job ids...
_ORPHANS_LUA = _NOW_FN + _REQUEUE_FRONT_FN + """
local now = redis_now()
local out = {}
for i = 3, #ARGV do
  local job_id = ARGV[i]
  local job_key = ARGV[2] .. job_id
  local status = redis.call('HGET', job_key, 'status')
  if redis.call('EXISTS', job_key) == 0 then
    redis.call('LREM', KEYS[1], 0, job_id)
    redis.call('HDEL', KEYS[4], job_id)
    table.insert(out, {job_id, 'removed'})
  elseif status ~= 'queued' then
    redis.call('HDEL', KEYS[4], job_id)
  else
    local seen = redis.call('HGET', KEYS[4], job_id)
    if not seen then
      redis.call('HSET', KEYS[4], job_id, now)
    elseif now - tonumber(seen) >= tonumber(ARGV[1]) then
      redis.call('HDEL', KEYS[4], job_id)
      if redis.call('LPOS', KEYS[1], job_id) then
        requeue_front(KEYS[2], KEYS[1], KEYS[3], job_key, job_id)
        table.insert(out, {job_id, 'orphan_requeued'})
      end
    end
  end
end
return out
"""

# KEYS: queue list, intermediate list, set of queues, job hash   ARGV: job id
_REQUEUE_LUA = _REQUEUE_FRONT_FN + """
requeue_front(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
return 1
"""


def requeue_front(connection: Redis, queue_name: str, job_id: str) -> None:
    """Put a job back at the front of its queue (idempotent: never on the queue twice)."""
    queue_key, intermediate = queue_keys(queue_name)
    script = connection.register_script(_REQUEUE_LUA)
    script(keys=[queue_key, intermediate, Queue.redis_queues_keys, Job.redis_job_namespace_prefix + job_id],
           args=[job_id])


class Leases:
    """Grants, renews and releases the lease of one running execution (``job_id:execution_id``)."""

    def __init__(self, connection: Redis, lease_s: float) -> None:
        self.lease_s = lease_s
        self._script = connection.register_script(_LEASE_LUA)

    def grant(self, queue_name: str, member: str) -> None:
        self._script(keys=[lease_key(queue_name), SUSPECTS.format(queue_name)], args=[member, self.lease_s, "grant"])

    def renew(self, queue_name: str, member: str) -> bool:
        """False when the lease is gone: a sweep took the job back from this worker."""
        keys = [lease_key(queue_name), SUSPECTS.format(queue_name)]
        return bool(self._script(keys=keys, args=[member, self.lease_s, "renew"]))

    @staticmethod
    def release(pipe: Pipeline, queue_name: str, member: str) -> None:
        pipe.zrem(lease_key(queue_name), member)
        pipe.hdel(SUSPECTS.format(queue_name), member)


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
        self._sweep = connection.register_script(_SWEEP_LUA)
        self._orphans = connection.register_script(_ORPHANS_LUA)
        reason = f"JobStalled: {STALLED_TOO_OFTEN} (limit {max_stalls})"
        fields = Result("", Result.Type.FAILED, connection, exc_string=reason).serialize()
        fields.pop("worker_name", None)
        self._result_fields = [part for pair in fields.items() for part in pair]

    def sweep(self) -> list[StallOutcome]:
        outcomes = []
        for name in self.queues:
            outcomes.extend(self._settle_leases(name))
            outcomes.extend(self._recover_orphans(name))
        return outcomes

    def _settle_leases(self, name: str) -> list[StallOutcome]:
        queue_key, intermediate = queue_keys(name)
        keys = [lease_key(name), SUSPECTS.format(name), started_registry_key(name), queue_key, intermediate,
                FailedJobRegistry.key_template.format(name), Queue.redis_queues_keys]
        args: list[Any] = [self.max_stalls, self.failure_ttl_s, SWEEP_BATCH, Job.redis_job_namespace_prefix,
                           budget.KEY_PREFIX, self.confirm_s, budget.BUDGET_TTL_S,
                           RESULTS_PREFIX, *self._result_fields]
        return [StallOutcome(_text(job_id), name, _text(action), int(stalls), _text(worker))
                for job_id, action, stalls, worker in self._sweep(keys=keys, args=args)]

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
                    self._orphans(keys=keys, args=[self.orphan_after_s, Job.redis_job_namespace_prefix, *ids])}
            outcomes += [StallOutcome(job_id, name, action, 0, "") for job_id, action in gone.items()]
            present.update(set(ids) - set(gone))
            start += len(ids) - len(gone)
        stale = [job_id for job_id in map(_text, self.connection.hkeys(marks)) if job_id not in present]
        if stale:
            self.connection.hdel(marks, *stale)
        return outcomes


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
