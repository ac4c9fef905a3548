"""``LLM_GLOBAL_CONCURRENCY``: at most L model calls in flight across every process and instance.

``LLM_CONCURRENCY`` calls per job, times ``WORKER_CONCURRENCY`` jobs, times instances, can exceed what a
provider allows. This is a fair semaphore in Redis with leases instead of counters:

* a caller takes a ticket and waits in ``waiters`` (ordered by ticket); the first ``L - holders``
  tickets may enter, so calls are let in first come, first served, across all processes;
* a holder is a member of ``holders`` scored by its lease's expiry; a thread renews the leases of
  the slots a process holds every third of ``lease_s``; a process that dies (SIGKILL, OOM) stops
  renewing, and its slots come free when the lease runs out;
* a waiter renews its place each time it polls; a dead waiter drops out after ``WAIT_LEASE_MS``.

Every decision runs in one Lua script on Redis's clock, so hosts' clocks need not agree. The keys
share a hash tag, so the script also works on a cluster.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

logger = logging.getLogger(__name__)

PREFIX = "cw:{llm_gate}"
HOLDERS = f"{PREFIX}:holders"  # zset: token -> lease expiry (ms, Redis clock)
WAITERS = f"{PREFIX}:waiters"  # zset: token -> ticket number (arrival order)
WAITER_LEASES = f"{PREFIX}:waiter_leases"  # zset: token -> expiry of the waiter's place (ms)
TICKETS = f"{PREFIX}:tickets"  # counter
KEYS = [HOLDERS, WAITERS, WAITER_LEASES, TICKETS]
#: string: the LLM_GLOBAL_CONCURRENCY the last worker to start was configured with ("none": unset)
LIMIT = f"{PREFIX}:limit"
LIMIT_TTL_S = 86_400
WAIT_LEASE_MS = 5_000
POLL_S = (0.02, 0.25)  # first and longest pause between attempts while waiting

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_ACQUIRE = _NOW + """
local limit, lease, wait_lease, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
for _, dead in ipairs(gone) do
  redis.call('ZREM', KEYS[2], dead)
  redis.call('ZREM', KEYS[3], dead)
end
if not redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token)
end
local rank = redis.call('ZRANK', KEYS[2], token)
if rank < limit - redis.call('ZCARD', KEYS[1]) then
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
  redis.call('ZADD', KEYS[1], now + lease, token)
  return 1
end
redis.call('ZADD', KEYS[3], now + wait_lease, token)
return 0
"""

_RENEW = _NOW + """
local renewed = 0
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[i])
end
return renewed
"""

_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 0
"""


@dataclass(frozen=True)
class GateState:
    """What ``stats`` shows: live holders and live waiters (expired entries are not counted)."""

    holders: int
    waiters: int


def read_state(connection: redis.Redis, now_s: float) -> GateState:
    """One round trip, no writes: entries whose lease outlasts ``now_s`` (the caller's clock)."""
    now_ms = int(now_s * 1000)
    with connection.pipeline(transaction=False) as pipe:
        pipe.zcount(HOLDERS, f"({now_ms}", "+inf")
        pipe.zcount(WAITER_LEASES, f"({now_ms}", "+inf")
        holders, waiters = pipe.execute()
    return GateState(holders=int(holders), waiters=int(waiters))


def announce_limit(connection: redis.Redis, limit: int | None) -> str | None:
    """Record this worker's limit beside the gate (one round trip); the limit recorded before it,
    when that differs: instances configured differently let in up to the largest of their limits."""
    mine = "none" if limit is None else str(limit)
    before = connection.set(LIMIT, mine, ex=LIMIT_TTL_S, get=True)
    previous = before.decode() if isinstance(before, bytes) else before
    return previous if isinstance(previous, str) and previous != mine else None


class LlmGate:
    """``with gate.slot():`` around one model call; ``limit=None`` lets every call through at once."""

    def __init__(self, connection: redis.Redis | None, limit: int | None, lease_s: float = 30.0) -> None:
        self.limit = limit if connection is not None else None
        self.lease_ms = int(lease_s * 1000)
        self._redis = connection
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        if connection is not None and limit is not None:
            self._acquire = connection.register_script(_ACQUIRE)
            self._renew = connection.register_script(_RENEW)
            self._leave = connection.register_script(_LEAVE)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.limit is None:
            yield
            return
        token = secrets.token_hex(8)
        try:
            self._wait_for_turn(token)
            yield
        finally:
            self._give_back(token)

    def _give_back(self, token: str) -> None:
        with self._lock:
            self._held.discard(token)
        try:
            self._leave(keys=KEYS, args=[token])
        except redis.RedisError as exc:  # the lease runs out on its own; never mask the call's outcome
            logger.warning("could not give a model-call slot back: %s", type(exc).__name__,
                           extra={"event": "llm_gate.release_failed"})

    def _wait_for_turn(self, token: str) -> None:
        pause = POLL_S[0]
        args: list[int | str] = [self.limit or 0, self.lease_ms, WAIT_LEASE_MS, token]
        while not self._acquire(keys=KEYS, args=args):
            time.sleep(pause)
            pause = min(pause * 2, POLL_S[1])
        with self._lock:
            self._held.add(token)
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew_forever, name="llm-gate-lease", daemon=True)
                self._renewer.start()

    def _renew_forever(self) -> None:
        """Extend the lease of every slot this process holds, every third of the lease."""
        while True:
            time.sleep(self.lease_ms / 3000)
            with self._lock:
                held = list(self._held)
            if not held:
                continue
            try:
                renewed = self._renew(keys=[HOLDERS], args=[self.lease_ms, *held])
            except redis.RedisError as exc:
                logger.warning("could not renew model-call slots: %s", type(exc).__name__,
                               extra={"event": "llm_gate.renew_failed"})
                continue
            if renewed < len(held):
                logger.warning("%s model-call slot(s) outlived their lease", len(held) - renewed,
                               extra={"event": "llm_gate.lease_lost"})


_current = LlmGate(None, None)


def install(gate: LlmGate) -> None:
    """The gate this process's model calls go through (a job installs one before it generates)."""
    global _current
    _current = gate


def current() -> LlmGate:
    return _current
