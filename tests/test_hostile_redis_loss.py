"""Issue 10 #7, #8 and the scheduler child: a worker whose Redis loses its data, goes away, or runs
out of memory keeps its promises: it registers again, and it stops on time without exiting 0."""

from __future__ import annotations

import json
import os
import signal
import time

import redis

from tests.conftest import clean_env, run_cli
from tests.servers import RedisServer
from tests.workers import WorkerProcess
from worker.jsonjob import JsonQueue

QUEUE = "curriculum_generation"
SCHEDULED = "rq:scheduler:scheduled_jobs"


def start(workers: list[WorkerProcess], url: str, **extra: str) -> WorkerProcess:
    settings = {"REDIS_URL": url, "LOG_FORMAT": "json", "WORKER_HEARTBEAT_INTERVAL": "1", "WORKER_STALL_TIMEOUT": "3",
                "WORKER_SHUTDOWN_TIMEOUT": "2", "REDIS_RETRY_DELAY": "200", "REDIS_RETRY_MAX_DELAY": "500", **extra}
    env = clean_env(**settings)
    worker = WorkerProcess(env)
    workers.append(worker)
    return worker


def stats(url: str) -> dict[str, object]:
    result = run_cli("stats", "--json", env=clean_env(REDIS_URL=url, WORKER_HEARTBEAT_INTERVAL="1",
                                                      WORKER_STALL_TIMEOUT="3"))
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_worker_registers_again_after_flushall(redis_url: str, conn: redis.Redis,
                                              workers: list[WorkerProcess]) -> None:
    """FLUSHALL under a running worker: within a heartbeat or two it is listed again by stats, the
    periodic schedule is back, and it still runs jobs."""
    worker = start(workers, redis_url)
    worker.wait_for("worker.started")
    assert conn.zscore(SCHEDULED, "periodic-canary") is not None
    conn.flushall()
    worker.wait_for("worker.reregistered", timeout=15)
    worker.wait_for("periodic.restored", timeout=15)
    assert stats(redis_url)["workers"] == {"total": 1, "busy": 0, "idle": 1}
    assert conn.zscore(SCHEDULED, "periodic-canary") is not None
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 0)
    worker.wait_for("job.finished", job_id=job.id, timeout=30)


def test_sigterm_with_redis_down_keeps_the_deadline_and_exits_non_zero(workers: list[WorkerProcess]) -> None:
    """Redis killed while a job runs, then SIGTERM: the worker exits within the shutdown timeout plus
    a few seconds (not after the reconnect policy's waits), with a non-zero code, logging the job it
    could not requeue."""
    server = RedisServer().start()
    try:
        job = JsonQueue(QUEUE, connection=server.client()).enqueue("jobs.diagnostics.canary", 30)
        worker = start(workers, server.url, REDIS_MAX_RETRIES="10", REDIS_RETRY_DELAY="2000",
                       REDIS_RETRY_MAX_DELAY="5000", REDIS_CONNECT_TIMEOUT="2")
        worker.wait_for("job.started", job_id=job.id, timeout=30)
        server.stop(kill=True)
        worker.terminate()
        # The bound: WORKER_SHUTDOWN_TIMEOUT (2 s) plus a few seconds; the reconnect policy alone
        # (10 retries, 2-5 s apart) would take over 30 s.
        code = worker.wait(timeout=2 + 10)
    finally:
        server.stop(kill=True)
    assert code not in (0, None)
    worker.wait_for("job.not_requeued", job_id=job.id, timeout=1)


def test_sigterm_with_redis_out_of_memory_does_not_exit_0(redis_url: str, conn: redis.Redis,
                                                          workers: list[WorkerProcess]) -> None:
    """Redis refusing writes (maxmemory reached) while a job runs, then SIGTERM: the job cannot be
    requeued, the worker says so and exits non-zero instead of 0."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 30)
    worker = start(workers, redis_url)
    worker.wait_for("job.started", job_id=job.id, timeout=30)
    conn.config_set("maxmemory", 1)
    try:
        worker.terminate()
        code = worker.wait(timeout=60)
    finally:
        conn.config_set("maxmemory", 0)
    if code == 0 and conn.info("server").get("server_name") == "valkey":
        # Valkey 8 still admitted the requeue under maxmemory 1: then the job must be back, not lost.
        worker.wait_for("job.requeued", job_id=job.id, reason="shutdown", timeout=1)
        assert conn.hget(job.key, "status") == b"queued"
        return
    assert code not in (0, None)
    worker.wait_for("job.not_requeued", job_id=job.id, timeout=1)


def test_scheduler_child_is_restarted_promptly(redis_url: str, workers: list[WorkerProcess]) -> None:
    """RQ's scheduler child killed: the worker starts a new one within a few heartbeats, not at the
    next 10-minute maintenance."""
    worker = start(workers, redis_url)
    worker.wait_for("worker.started")
    deadline = time.monotonic() + 15
    while not worker.children() and time.monotonic() < deadline:
        time.sleep(0.1)
    first = worker.children()
    assert len(first) == 1, "RQ's scheduler runs as the worker's one child while idle"
    signal_child = first[0]
    os.kill(signal_child, signal.SIGKILL)
    worker.wait_for("worker.scheduler_restarted", timeout=15)
    assert [pid for pid in worker.children() if pid != signal_child]
