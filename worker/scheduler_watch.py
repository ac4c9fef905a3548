"""RQ's scheduler lock, taken over within a heartbeat or two of its holder's death.

RQ runs one scheduler per queue (a child process of one worker, holding
``rq:scheduler-lock:<queue>``, a 61-s key it refreshes every second). When that child is killed
with its worker (SIGKILL, OOM, a lost machine), the lock outlives both for a minute, and the other
workers only try to take it in RQ's maintenance, every ten minutes: enqueue_in jobs and retry
delays waited up to ten minutes. The worker's own dead child is restarted on the next tick
(``CurriculumWorker._restart_dead_scheduler``); this module covers a holder in another worker.

Every tick, each worker that does not hold the lock runs one script: it notes the holder's name and
its scheduler's ``last_heartbeat`` (RQ's ``rq:scheduler:<name>`` hash, updated every second), on
Redis's clock. A holder whose heartbeat has not changed for ``stale_s`` is dead: its lock is
deleted (only if it still names that holder) and the worker acquires it through RQ. Only equality
of the heartbeat text is compared, so no host's clock matters.

Key (this module owns it): ``curriculum-worker:scheduler-watch`` hash, lock key →
``<holder>|<its last heartbeat>|<Redis time first seen so>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

WATCH_KEY = "curriculum-worker:scheduler-watch"
#: Shortest time a holder's heartbeat must stand still before it counts as dead (RQ beats every 1 s).
MIN_STALE_S = 5

# KEYS: our watch hash, then RQ's scheduler lock of each queue
# ARGV: RQ scheduler hash prefix, stale seconds
# Returns the lock keys that are free now (never held, or a dead holder's, deleted here).
_WATCH_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local free = {}
for i = 2, #KEYS do
  local lock = KEYS[i]
  local holder = redis.call('GET', lock)
  if not holder then
    redis.call('HDEL', KEYS[1], lock)
    table.insert(free, lock)
  else
    local mark = holder .. '|' .. (redis.call('HGET', ARGV[1] .. holder, 'last_heartbeat') or '') .. '|'
    local seen = redis.call('HGET', KEYS[1], lock)
    if not seen or string.sub(seen, 1, #mark) ~= mark then
      redis.call('HSET', KEYS[1], lock, mark .. now)
    elseif now - tonumber(string.sub(seen, #mark + 1)) >= tonumber(ARGV[2]) then
      redis.call('DEL', lock)
      redis.call('HDEL', KEYS[1], lock)
      table.insert(free, lock)
    end
  end
end
redis.call('EXPIRE', KEYS[1], 3600)
return free
"""


class SchedulerWatch:
    """Finds the scheduler locks of ``queues`` that are free or held by a dead scheduler."""

    def __init__(self, connection: Redis, queues: Sequence[str], heartbeat_s: float) -> None:
        self.stale_s = max(MIN_STALE_S, heartbeat_s)
        self._keys = [WATCH_KEY, *(RQScheduler.get_locking_key(name) for name in queues)]
        self._script = connection.register_script(_WATCH_LUA)

    def free_locks(self) -> list[str]:
        prefix = SCHEDULER_KEY_TEMPLATE % ""
        return [key.decode() if isinstance(key, bytes) else key
                for key in self._script(keys=self._keys, args=[prefix, self.stale_s])]
