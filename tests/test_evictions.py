"""Evictions Redis actually made are a problem for `stats` (exit 1) and an error in the worker's log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import clean_env, run_cli
from tests.servers import RedisServer
from tests.workers import WorkerProcess


@pytest.fixture(scope="module")
def evicting() -> Iterator[RedisServer]:
    """A Redis with a small maxmemory and allkeys-lru that has already evicted keys."""
    server = RedisServer().start()
    client = server.client()
    client.config_set("maxmemory", 2 * 1024 * 1024)
    client.config_set("maxmemory-policy", "allkeys-lru")
    for batch in range(40):
        with client.pipeline(transaction=False) as pipe:
            for i in range(50):
                pipe.set(f"filler:{batch}:{i}", "x" * 2048)
            pipe.execute()
    assert int(client.info("stats")["evicted_keys"]) > 0
    client.close()
    yield server
    server.stop()


def test_stats_reports_evictions_as_a_problem(evicting: RedisServer) -> None:
    """evicted_keys > 0: status unhealthy, exit 1, a problem naming it; the policy stays a warning."""
    done = run_cli("stats", "--json", env=clean_env(REDIS_URL=evicting.url))
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert report["redis"]["evicted_keys"] > 0
    assert any("evicted" in p and "evicted_keys" in p for p in report["problems"])
    assert any("maxmemory-policy is allkeys-lru" in w for w in report["warnings"])


def test_the_worker_logs_evictions(evicting: RedisServer, workers: list[WorkerProcess]) -> None:
    """A worker on a Redis that has evicted keys logs redis.evictions with the count."""
    worker = WorkerProcess(clean_env(REDIS_URL=evicting.url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1",
                                     WORKER_STALL_TIMEOUT="3"))
    workers.append(worker)
    logged = worker.wait_for("redis.evictions", timeout=30)
    assert logged["evicted"] > 0 and logged["level"] == "error"


def test_no_eviction_no_problem(redis_url: str, conn: redis.Redis) -> None:
    """A Redis that never evicted reports evicted_keys 0 and no eviction problem."""
    conn.config_resetstat()
    report = json.loads(run_cli("stats", "--json", env=clean_env(REDIS_URL=redis_url)).stdout)
    assert report["redis"]["evicted_keys"] == 0
    assert not any("evicted" in p for p in report["problems"])
