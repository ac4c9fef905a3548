"""A worker's registration in Redis, restored when Redis loses it (FLUSHALL, failover, restore).

RQ registers a worker once, at birth: its hash ``rq:worker:<name>`` and its entries in the
``rq:workers`` sets. After Redis loses its data, RQ's heartbeat recreates the hash with only
``last_heartbeat`` and never the sets, so ``stats`` reports 0 workers (and ``--min-workers``
alerts) while they run jobs. ``Registration.ensure`` runs once per heartbeat interval in the worker's
parent: one round trip to check, and the full registration written again when any part is gone.
Nothing here imports RQ's worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis import Redis

logger = logging.getLogger(__name__)


class Registration:
    """The keys of one worker's registration: its hash, and the sets that list it."""

    def __init__(self, connection: Redis, worker_key: str, sets: Sequence[str]) -> None:
        self.connection = connection
        self.worker_key = worker_key
        self.sets = list(sets)

    def ensure(self, fields: Callable[[], Mapping[str, Any]], ttl_s: int) -> bool:
        """Write the registration again if any part of it is gone; True when it was restored."""
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.hexists(self.worker_key, "birth")
            for key in self.sets:
                pipe.sismember(key, self.worker_key)
            present = pipe.execute()
        if all(present):
            return False
        with self.connection.pipeline() as pipe:
            pipe.hset(self.worker_key, mapping=dict(fields()))  # type: ignore[arg-type]  # RQ's serialize()
            pipe.expire(self.worker_key, ttl_s)
            for key in self.sets:
                pipe.sadd(key, self.worker_key)
            pipe.execute()
        logger.warning("worker.reregistered %s: its registration was gone from Redis", self.worker_key,
                       extra={"event": "worker.reregistered", "worker": self.worker_key})
        return True
