"""Issue 10 #9, the smaller findings: stats fails fast, TLS on a plain port is named, dead workers
drop out of stats, and the kill matrix counts runs of the function itself."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bench.kill_matrix import function_counts, function_figures
from jobs.diagnostics import COUNT_RUNS
from tests.conftest import clean_env, run_cli
from tests.servers import RedisServer
from tests.workers import WorkerProcess
from worker.jsonjob import JsonQueue

QUEUE = "curriculum_generation"


class SilentListener:
    """Accepts TCP connections and never answers: a black hole that counts connection attempts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for client in self.accepted:
            client.close()


@pytest.fixture
def black_hole() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


def test_stats_makes_one_connection_attempt(black_hole: SilentListener) -> None:
    """stats against a server that never answers exits 3 after one attempt, not after the retries."""
    env = clean_env(REDIS_URL=f"redis://127.0.0.1:{black_hole.port}/0", REDIS_CONNECT_TIMEOUT="1",
                    REDIS_MAX_RETRIES="3", REDIS_RETRY_DELAY="100", REDIS_RETRY_MAX_DELAY="100")
    result = run_cli("stats", "--json", env=env, timeout=60)
    assert result.returncode == 3, result.stderr
    assert len(black_hole.accepted) == 1, "one connection attempt, no stacked retries"


def test_tls_aimed_at_a_plain_port_is_named(redis_server: RedisServer) -> None:
    """rediss:// to a plain Redis port: exit 3 saying the port speaks plain Redis, not 'timed out'."""
    url = redis_server.url.replace("redis://", "rediss://")
    result = run_cli("stats", env=clean_env(REDIS_URL=url, REDIS_CONNECT_TIMEOUT="1", REDIS_TLS_VERIFY="false"),
                     timeout=60)
    assert result.returncode == 3
    assert "speaks plain Redis on this port, not TLS" in result.stderr, result.stderr
    assert "timed out" not in result.stderr.splitlines()[-1]


def test_sigkilled_worker_drops_out_of_stats(redis_url: str, conn: redis.Redis) -> None:
    """A SIGKILLed worker whose registration is still in Redis no longer counts once it has been silent
    for a heartbeat interval plus the stall timeout; --min-workers 1 then fails."""
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1", WORKER_STALL_TIMEOUT="3")
    worker = WorkerProcess(env)
    try:
        name = worker.wait_for("worker.started")["worker"]
        live = json.loads(run_cli("stats", "--json", env=env).stdout)
        assert live["workers"]["total"] == 1
        worker.kill_hard()
    finally:
        worker.stop()
    key = f"rq:worker:{name}"
    time.sleep(1 + 3 + 0.5)  # let it be silent for longer than a heartbeat interval plus the stall timeout
    assert conn.exists(key), "RQ keeps the dead worker's registration for about a minute more"
    result = run_cli("stats", "--json", "--min-workers", "1", env=env)
    report = json.loads(result.stdout)
    assert report["workers"]["total"] == 0, report
    assert result.returncode == 1


def test_kill_matrix_counts_function_returns_not_worker_events(redis_url: str, conn: redis.Redis) -> None:
    """A canary whose function returned, then ran again (requeued as after a kill between its return and
    its record), is counted as returned twice by the matrix, whatever the workers logged."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 0, meta={COUNT_RUNS: True})
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json")
    assert run_cli("run", "--burst", env=env).returncode == 0
    # What a stall sweep does to a job whose worker died after the function returned.
    conn.hset(job.key, "status", "queued")
    conn.lpush(f"rq:queue:{QUEUE}", job.id)
    assert run_cli("run", "--burst", env=env).returncode == 0
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() == "finished"
    assert function_counts(conn, [job.id]) == [(2, 2)]
    assert function_figures(function_counts(conn, [job.id]))["function_returned_twice"] == 1

