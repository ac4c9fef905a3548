"""``LLM_GLOBAL_CONCURRENCY``: at most L model calls in flight across every process and instance.

``LLM_CONCURRENCY`` calls per job, times ``WORKER_CONCURRENCY`` jobs, times instances, can exceed what a
provider allows. This is a fair semaphore in Redis with leases instead of counters:

* a caller takes a ticket and waits in ``waiters`` (ordered by ticket); the first ``L - holders``
  tickets may enter, so calls are let in first come, first served, across all processes;
* a holder is a member of ``holders`` scored by its lease's expiry; a thread renews the leases of
  the slots a process holds every third of ``lease_s``; a process that dies (SIGKILL, OOM) stops
  renewing, and its slots come free when the lease runs out;
* a waiter renews its place each time it polls; a dead waiter drops out after ``WAIT_LEASE_MS``.

Every decision runs in a Lua script (``jobs/lua/llm_gate_*.lua``) on Redis's clock, so hosts' clocks
need not agree. The keys (``jobs.keys.LLM_GATE``) share a hash tag, so the scripts also work on a cluster.
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

from jobs import keys
from jobs.lua import Lua

logger = logging.getLogger(__name__)

HOLDERS = keys.LLM_GATE_HOLDERS
WAITERS = keys.LLM_GATE_WAITERS
WAITER_LEASES = keys.LLM_GATE_WAITER_LEASES
KEYS = [HOLDERS, WAITERS, WAITER_LEASES, keys.LLM_GATE_TICKETS]
LIMIT = keys.LLM_GATE_LIMIT
LIMIT_TTL_S = 86_400
WAIT_LEASE_MS = 5_000
POLL_S = (0.02, 0.25)  # first and longest pause between attempts while waiting

ACQUIRE = Lua("llm_gate_acquire")
RENEW = Lua("llm_gate_renew")
LEAVE = Lua("llm_gate_leave")


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

    def _connection(self) -> redis.Redis:
        assert self._redis is not None  # a gate without a connection has no limit, never runs a script
        return self._redis

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
            LEAVE(self._connection(), KEYS[:3], [token])
        except redis.RedisError as exc:  # the lease runs out on its own; never mask the call's outcome
            logger.warning("could not give a model-call slot back: %s", type(exc).__name__,
                           extra={"event": "llm_gate.release_failed"})

    def _wait_for_turn(self, token: str) -> None:
        pause = POLL_S[0]
        args: list[int | str] = [self.limit or 0, self.lease_ms, WAIT_LEASE_MS, token]
        while not ACQUIRE(self._connection(), KEYS, args):
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
                renewed = RENEW(self._connection(), [HOLDERS], [self.lease_ms, *held])
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
