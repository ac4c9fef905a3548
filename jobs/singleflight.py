"""One generation per content key at a time, across every worker.

``worker.client`` deduplicates at enqueue time, but the contract lets any service enqueue with plain
rq, so two identical requests can still run at once on two workers. Before generating, a job takes
a short Redis lock on the curriculum's content key (``jobs.keys.lock``, ``SET NX`` with an
expiry, via redis-py's ``Lock``) and renews it from a thread while it works. A job that finds the
lock taken waits, polling the ``content`` cache, and serves the other job's result from there
instead of paying for the same model calls again.

The lock's holder is written down (``jobs.keys.lock_holder``: lock name and token,
expiring with the lock), so the worker that kills a job's work horse for a graceful shutdown can
release that job's lock at once (``release_held``) instead of leaving the next worker to wait out
``ttl_s`` (``jobs/lua/singleflight_release.lua``).

Failure modes are bounded: a lock holder that dies stops renewing, the lock expires after
``ttl_s`` and a waiter takes it and generates; a holder that fails releases the lock and a waiter
generates; a waiter gives up after ``wait_s`` and generates anyway; and when Redis itself fails,
the job generates without a lock, as the cache does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from redis.exceptions import LockError
from redis.lock import Lock

from jobs import keys
from jobs.lua import Lua

logger = logging.getLogger(__name__)

Lookup = Callable[[], dict[str, Any] | None]

LOCK_TTL_S = 30.0
POLL_S = 0.5
RELEASE_HELD = Lua("singleflight_release")
holder_key = keys.lock_holder


def release_held(connection: redis.Redis, job_id: str) -> bool:
    """Release the generation lock ``job_id`` holds, if any (its work horse was killed)."""
    return bool(RELEASE_HELD(connection, [holder_key(job_id)], []))


class SingleFlight:
    """Hands out turns to generate a content key; see the module docstring."""

    def __init__(self, connection: redis.Redis, *, wait_s: float, ttl_s: float = LOCK_TTL_S,
                 poll_s: float = POLL_S, prefix: str = keys.LOCK, holder: str | None = None) -> None:
        self._redis = connection
        self._holder = holder
        self._wait_s = wait_s
        self._ttl_s = ttl_s
        self._poll_s = poll_s
        self._prefix = prefix

    def lock_name(self, key: str) -> str:
        return keys.lock(key, self._prefix)

    @contextlib.contextmanager
    def turn(self, key: str, lookup: Lookup, on_wait: Callable[[], None]) -> Iterator[dict[str, Any] | None]:
        """Yields another job's result for ``key`` if one appears, else None: generate it now.

        With None, this job holds the lock (when Redis allows) for the whole block; results must
        be put in the cache inside the block so that waiters find them before the lock goes.
        """
        lock, hit = self._wait_for_turn(key, lookup, on_wait)
        if lock is None:
            yield hit
            return
        record = self._record_holder(lock)
        stop = threading.Event()
        renewer = threading.Thread(target=_renew, args=(lock, self._ttl_s / 3, stop, record), daemon=True,
                                   name="curriculum-lock-renewer")
        renewer.start()
        try:
            yield None
        finally:
            stop.set()
            renewer.join(timeout=5)
            _release(lock)
            if record is not None:
                with contextlib.suppress(redis.RedisError, OSError):
                    self._redis.delete(record)

    def _record_holder(self, lock: Lock) -> str | None:
        if self._holder is None:
            return None
        key = holder_key(self._holder)
        token = lock.local.token
        try:
            with self._redis.pipeline() as pipe:
                pipe.hset(key, mapping={"lock": str(lock.name), "token": token})
                pipe.expire(key, int(self._ttl_s) + 1)
                pipe.execute()
        except (redis.RedisError, OSError):
            return None
        return key

    def _wait_for_turn(self, key: str, lookup: Lookup,
                       on_wait: Callable[[], None]) -> tuple[Lock | None, dict[str, Any] | None]:
        deadline = time.monotonic() + self._wait_s
        waiting = False
        while True:
            lock = self._redis.lock(self.lock_name(key), timeout=self._ttl_s, blocking=False, thread_local=False)
            try:
                acquired = lock.acquire()
            except (redis.RedisError, OSError) as exc:
                logger.warning("generation lock unavailable, generating without it: %s", type(exc).__name__,
                               extra={"event": "curriculum.lock_unavailable"})
                return None, None
            # The holder may have finished between our cache miss and now: check once more.
            hit = lookup()
            if acquired:
                if hit is None:
                    return lock, None
                _release(lock)
            if hit is not None:
                return None, hit
            if not waiting:
                waiting = True
                on_wait()
                logger.info("same curriculum being generated by another job, waiting for it",
                            extra={"event": "curriculum.waiting", "content_key": key[:16]})
            if time.monotonic() >= deadline:
                logger.warning("gave up waiting for another job's curriculum, generating it",
                               extra={"event": "curriculum.wait_timeout", "content_key": key[:16]})
                return None, None
            time.sleep(self._poll_s)


def _renew(lock: Lock, every_s: float, stop: threading.Event, record: str | None) -> None:
    """Reset the lock's (and its holder record's) expiry every ``every_s`` seconds until ``stop``;
    give up if it was lost."""
    while not stop.wait(every_s):
        try:
            lock.reacquire()
            if record is not None and lock.timeout is not None:
                lock.redis.expire(record, int(lock.timeout) + 1)
        except LockError:
            logger.warning("generation lock lost", extra={"event": "curriculum.lock_lost"})
            return
        except (redis.RedisError, OSError):
            continue  # the expiry is three renewals away: the next attempt may succeed


def _release(lock: Lock) -> None:
    with contextlib.suppress(LockError, redis.RedisError, OSError):
        lock.release()
