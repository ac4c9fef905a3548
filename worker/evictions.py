"""Evictions Redis reports, logged by the worker at most once a minute.

A ``maxmemory-policy`` other than ``noeviction`` lets Redis delete job hashes and queue entries
under memory pressure, and nothing else notices: the jobs are simply gone. ``INFO stats`` counts
every eviction (``evicted_keys``); the worker reads it on its tick, once per ``EVERY_S``, and logs
``redis.evictions`` (an error) whenever the count went up. ``stats`` reports any eviction as a
problem. Nothing here imports RQ.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

logger = logging.getLogger("worker.events")

EVERY_S = 60.0


class EvictionWatch:
    def __init__(self, connection: redis.Redis, clock: Callable[[], float] = time.monotonic) -> None:
        self.connection = connection
        self.clock = clock
        self._last_check = -float("inf")
        self._seen: int | None = None

    def check_if_due(self) -> int:
        """New evictions since the last check (0 when none, not due, or INFO is denied)."""
        now = self.clock()
        if now - self._last_check < EVERY_S:
            return 0
        self._last_check = now
        try:
            evicted = int(self.connection.info("stats").get("evicted_keys", 0))
        except (redis.RedisError, ValueError):
            return 0  # INFO denied by ACL, a server that does not count, or Redis away (the tick's business)
        new = evicted - self._seen if self._seen is not None and evicted >= self._seen else evicted
        self._seen = evicted
        if new > 0:
            logger.error("redis.evictions: Redis evicted %d key(s) (INFO evicted_keys %d): jobs may be lost; "
                         "set maxmemory-policy noeviction", new, evicted,
                         extra={"event": "redis.evictions", "evicted": new, "evicted_keys": evicted})
        return new
