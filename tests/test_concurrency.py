"""`run --concurrency N` against real processes and a real redis-server: starts, deploys, kills."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, run_cli
from tests.servers import RedisServer
from tests.workers import WorkerProcess, children, descendants
from worker.jsonjob import JsonQueue

QUEUE = "curriculum_generation"


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    """The suite's private redis-server (conftest); the ``conn`` fixture empties it for each test."""
    return redis_server


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        for pid in descendants(worker.pid):
            _kill(pid)
        worker.stop()


def env(server: RedisServer, **extra: str) -> dict[str, str]:
    settings = {"REDIS_URL": server.url, "LOG_FORMAT": "json", "WORKER_HEARTBEAT_INTERVAL": "1",
                "WORKER_STALL_TIMEOUT": "3", "WORKER_SHUTDOWN_TIMEOUT": "2", "CURRICULUM_GENERATOR": "offline"}
    return clean_env(**{**settings, **extra})


def start(workers: list[WorkerProcess], server: RedisServer, *args: str, **extra: str) -> WorkerProcess:
    worker = WorkerProcess(env(server, **extra), *args)
    workers.append(worker)
    return worker


def canaries(conn: redis.Redis, count: int, sleep_s: float) -> list[Job]:
    queue = JsonQueue(QUEUE, connection=conn)
    return [queue.enqueue("jobs.diagnostics.canary", sleep_s) for _ in range(count)]


def alive(pid: int) -> bool:
    try:
        return "(zombie)" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def wait_until(what: str, check: object, timeout: float = 30) -> None:
    """Poll ``check()`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def started_ids(conn: redis.Redis) -> set[str]:
    return set(StartedJobRegistry(QUEUE, connection=conn).get_job_ids())


def busy_workers(conn: redis.Redis) -> set[str]:
    """Names of the registered workers whose Redis hash says they are busy."""
    names = [key.decode().removeprefix("rq:worker:") for key in conn.smembers("rq:workers")]
    return {name for name in names if conn.hget(f"rq:worker:{name}", "state") == b"busy"}




def status(conn: redis.Redis, job: Job) -> str:
    return Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status().value


def test_four_jobs_run_at_once_and_one_sigterm_requeues_all(server: RedisServer, conn: redis.Redis,
                                                            workers: list[WorkerProcess]) -> None:
    """N=4: four long jobs are started together by four workers; one SIGTERM requeues all four, exit 0."""
    jobs = canaries(conn, 4, 60)
    ids = {job.id for job in jobs}
    tree = start(workers, server, "--concurrency", "4")
    wait_until("four jobs started", lambda: started_ids(conn) == ids)
    wait_until("four busy workers", lambda: len(busy_workers(conn)) == 4)
    tree.wait_for("job.started", count=4)
    started_by = {e["job_id"]: e["worker"] for e in tree.events("job.started")}
    assert set(started_by) == ids and set(started_by.values()) == busy_workers(conn), "one job per worker"

    probe = run_cli("stats", "--json", "--min-workers", "4", env=env(server))
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert json.loads(probe.stdout)["workers"] == {"total": 4, "busy": 4, "idle": 0}

    tree.terminate()
    assert tree.wait(timeout=30) == 0
    requeued = {e["job_id"] for e in tree.events("job.requeued") if e["reason"] == "shutdown"}
    assert requeued == ids
    assert {status(conn, job) for job in jobs} == {"queued"}
    assert {i.decode() for i in conn.lrange(f"rq:queue:{QUEUE}", 0, -1)} == ids
    stopped = {e["worker"] for e in tree.events("worker.stopped")}
    assert stopped == {e["worker"] for e in tree.events("worker.started")} and len(stopped) == 4


def test_parent_sigkill_leaves_no_child_and_another_tree_recovers_all(
        server: RedisServer, conn: redis.Redis, workers: list[WorkerProcess]) -> None:
    """SIGKILL of the `run` process alone: workers and horses die with it; another tree finishes all four."""
    jobs = canaries(conn, 4, 5)
    ids = {job.id for job in jobs}
    # Leases of 10 s: on a loaded machine (the full suite under coverage on two shared cores) several
    # seconds can pass between two heartbeats of a live worker, and a lease that runs out re-runs a job.
    tree = start(workers, server, "--concurrency", "4", WORKER_STALL_TIMEOUT="10")
    wait_until("four jobs started", lambda: started_ids(conn) == ids)
    tree.wait_for("job.started", count=4)  # logged by the work horses: all four are forked
    below = descendants(tree.pid)
    assert len(children(tree.pid)) == 4 and len(below) >= 8  # four workers, four work horses
    tree.process.kill()
    tree.process.wait(timeout=10)
    wait_until("no descendant alive", lambda: not any(alive(pid) for pid in below))

    rescuer = start(workers, server, "--concurrency", "4", WORKER_STALL_TIMEOUT="10")
    for job in jobs:
        rescuer.wait_for("job.finished", job_id=job.id, timeout=60)
    # Each comes back, as stalled (its lease ran out) or orphaned (taken, never marked started), and
    # is then finished exactly once.
    requeued = {e["job_id"] for e in rescuer.events("job.requeued") if e["reason"] in ("stalled", "orphaned")}
    trace = [(e["timestamp"][11:23], e["event"], e.get("job_id", "")[:8], e.get("reason"), e.get("worker"))
             for e in rescuer.events() if e.get("job_id")]
    assert requeued == ids, trace
    assert sorted(e["job_id"] for e in rescuer.events("job.finished")) == sorted(ids), trace
    assert {status(conn, job) for job in jobs} == {"finished"}


def test_a_child_killed_alone_is_replaced(server: RedisServer, conn: redis.Redis,
                                         workers: list[WorkerProcess]) -> None:
    """WORKER_CONCURRENCY=2: a child killed by SIGKILL is replaced by a new, registered, logged worker."""
    tree = start(workers, server, WORKER_CONCURRENCY="2")
    tree.wait_for("worker.started", count=2)
    victim = tree.events("worker.started")[0]
    _kill(victim["pid"])
    replaced = tree.wait_for("worker.replaced", worker=victim["worker"])
    assert replaced["exit_code"] == -signal.SIGKILL
    new_name = replaced["replacement"]
    assert new_name != victim["worker"]
    tree.wait_for("worker.started", worker=new_name)
    wait_until("replacement registered", lambda: conn.sismember("rq:workers", f"rq:worker:{new_name}"))
    assert sorted(children(tree.pid)) == sorted(
        e["pid"] for e in tree.events("worker.started") if e["pid"] != victim["pid"])


def test_concurrency_out_of_range_is_a_usage_error(server: RedisServer) -> None:
    """WORKER_CONCURRENCY=0 and --concurrency 1000 are refused with exit 2, naming what was wrong."""
    bad_env = run_cli("run", env=env(server, WORKER_CONCURRENCY="0"))
    assert bad_env.returncode == 2 and "WORKER_CONCURRENCY" in bad_env.stderr
    bad_flag = run_cli("run", "--concurrency", "1000", env=env(server))
    assert bad_flag.returncode == 2 and "--concurrency" in bad_flag.stderr


def test_redis_gone_for_good_stops_the_tree_with_exit_3(workers: list[WorkerProcess]) -> None:
    """A child that exits 3 (Redis gone past its retries) is not restarted: the tree exits 3, not 0."""
    lost = RedisServer().start()
    tree = start(workers, lost, "--concurrency", "2", REDIS_MAX_RETRIES="1", REDIS_RETRY_DELAY="100",
                 REDIS_RETRY_MAX_DELAY="200")
    tree.wait_for("worker.started", count=2)
    lost.stop(kill=True)
    assert tree.wait(timeout=60) == 3
    assert tree.events("supervisor.giving_up") and not tree.events("worker.replaced")
    assert not any(alive(e["pid"]) for e in tree.events("worker.started"))
