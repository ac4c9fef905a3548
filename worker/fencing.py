"""Fencing: a run that lost its lease cannot write its job's status or result.

A worker paused past its lease (SIGSTOP, a frozen VM, a long GC) comes back to a job the stall
sweep has already put back, and maybe a sibling already ran. Its work horse must not then write
``finished`` (the job would stay queued and run again) nor overwrite the sibling's result.

Each run carries a token: RQ's execution composite key (``<job id>:<execution id>``), written to
the job's fence key (``worker.stalls.fence_key``) when the lease is granted. The sweep deletes the
fence when it takes a lease back; a new run overwrites it. Every transaction RQ writes a job's
status or result in, and RQ's heartbeat of the running job, while the adapter holds the fence, is a
``FencedPipeline``: it WATCHes the
fence key and reads it before MULTI, so the write commits only if the fence still names this run
when EXEC runs; otherwise ``StaleRun`` is raised and nothing is written.

``StaleRun`` derives from ``BaseException`` on purpose: it must pass RQ's ``except Exception``
around its pipelines (which would log "failed to persist" and carry on) and reach the adapter's
override that called RQ, which logs ``job.outcome_dropped`` and stops there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

from redis import Redis, RedisError, WatchError
from redis.client import Pipeline


class StaleRun(BaseException):  # a control-flow signal like SystemExit, not an error
    """This run lost its lease: the fence names another run or none."""

    def __init__(self, token: str, current: str | None) -> None:
        super().__init__(f"run {token} no longer holds its job (fence: {current or 'none'})")
        self.token = token
        self.current = current


class Fence:
    """The fence this process holds while RQ writes one run's outcome (see the module docstring)."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.token: str | None = None

    @contextlib.contextmanager
    def holding(self, key: str, token: str) -> Iterator[None]:
        """Every transaction on the fenced client inside the block is checked against ``token``."""
        previous = self.key, self.token
        self.key, self.token = key, token
        try:
            yield
        finally:
            self.key, self.token = previous

    @property
    def held(self) -> bool:
        return self.key is not None


def current_token(connection: Redis, key: str) -> str | None:
    raw = connection.get(key)
    return raw.decode() if isinstance(raw, bytes) else raw


class FencedPipeline(Pipeline):
    """A redis-py pipeline whose transactions commit only while the fence names the held run."""

    fence: Fence

    def watch(self, *names: Any) -> Any:
        if self.fence.key is None:
            return super().watch(*names)  # type: ignore[no-untyped-call]
        if self.explicit_transaction:
            raise RedisError("Cannot issue a WATCH after a MULTI")
        self._verify(self._watch_and_read(*names))
        return True

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        key, token = self.fence.key, self.fence.token
        # redis-py's Pipeline shadows its transaction() method with this flag.
        in_transaction = cast(bool, self.transaction) or self.explicit_transaction
        if key is None or token is None or not in_transaction:
            return super().execute(raise_on_error)
        if not self.watching and self.command_stack:
            self._verify(self._watch_and_read())
        try:
            return super().execute(raise_on_error)
        except WatchError:
            # The fence (or a key RQ watched) changed between WATCH and EXEC: name the cause.
            current = current_token(Redis(connection_pool=self.connection_pool), key)
            if current != token:
                raise StaleRun(token, current) from None
            raise

    def _watch_and_read(self, *names: Any) -> Any:
        """WATCH ``names`` and the fence key, and read the fence, in one round trip on the
        connection the transaction will use (redis-py would take one round trip for each)."""
        key = self.fence.key
        conn = self.connection
        if conn is None:
            conn = self.connection = self.connection_pool.get_connection()
        packed = conn.pack_commands([("WATCH", *names, key), ("GET", key)])  # type: ignore[no-untyped-call]
        conn.send_packed_command(packed)  # type: ignore[no-untyped-call]
        self.parse_response(conn, "WATCH")  # type: ignore[no-untyped-call]  # sets self.watching
        return self.parse_response(conn, "GET")  # type: ignore[no-untyped-call]

    def _verify(self, current: Any) -> None:
        token = self.fence.token
        assert token is not None
        current = current.decode() if isinstance(current, bytes) else current
        if current != token:
            self.reset()
            raise StaleRun(token, current)


class FencedRedis(Redis):
    """A client over an existing connection pool whose pipelines are ``FencedPipeline``s.

    It shares the pool (and so every option ``build_redis`` set); unfenced unless ``fence.holding``."""

    fence: Fence | None = None  # RQ's scheduler rebuilds a client of this class without one

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        if self.fence is None:
            return super().pipeline(transaction, shard_hint)
        pipe = FencedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.fence = self.fence
        return pipe


def fenced_client(connection: Redis, fence: Fence) -> FencedRedis:
    client = FencedRedis(connection_pool=connection.connection_pool)
    client.fence = fence
    return client
