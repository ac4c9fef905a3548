"""RQ's scheduler lock is taken over soon after its holder dies, and `stats` says when it was not."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq.scheduler import RQScheduler

from tests.conftest import clean_env, run_cli
from tests.workers import WorkerProcess, descendants
from worker.jsonjob import JsonJob, JsonQueue
from worker.scheduler_watch import SchedulerWatch

QUEUE = "curriculum_generation"
LOCK = RQScheduler.get_locking_key(QUEUE)
#: RQ's lock TTL (interval + 60 s): without a takeover nothing could run before it expires.
RQ_LOCK_TTL_S = 61


def start(workers: list[WorkerProcess], redis_url: str) -> WorkerProcess:
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1",
                    WORKER_STALL_TIMEOUT="3", CURRICULUM_GENERATOR="offline")
    worker = WorkerProcess(env)
    workers.append(worker)
    return worker


def holder_pid(conn: redis.Redis, timeout: float = 30) -> int:
    """The pid of the scheduler process holding the queue's lock (from RQ's scheduler hash)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = conn.get(LOCK)
        pid = conn.hget(f"rq:scheduler:{holder.decode()}", "pid") if holder else None
        if pid:
            return int(pid)
        time.sleep(0.1)
    raise AssertionError("no scheduler took the lock")


def test_a_beating_holder_keeps_the_lock_and_a_silent_one_loses_it(conn: redis.Redis) -> None:
    """The watch frees a lock only after its holder's heartbeat stood still for stale_s."""
    watch = SchedulerWatch(conn, [QUEUE], heartbeat_s=1)
    watch.stale_s = 0.3
    conn.set(LOCK, "holder-a", ex=61)
    conn.hset("rq:scheduler:holder-a", "last_heartbeat", "t1")
    assert watch.free_locks() == []
    time.sleep(0.4)
    conn.hset("rq:scheduler:holder-a", "last_heartbeat", "t2")  # alive: it beat meanwhile
    assert watch.free_locks() == [] and conn.get(LOCK) == b"holder-a"
    time.sleep(0.4)
    assert watch.free_locks() == [LOCK], "silent for stale_s: dead"
    assert conn.exists(LOCK) == 0
    assert watch.free_locks() == [LOCK], "a free lock is reported free"


@pytest.mark.slow
def test_scheduled_work_runs_soon_after_the_lock_holders_worker_is_killed(
        conn: redis.Redis, redis_url: str, workers: list[WorkerProcess]) -> None:
    """SIGKILL of the worker whose scheduler child holds the lock, with both: another worker takes the
    lock over and a job enqueued in 2 s runs long before the dead holder's lock would have expired."""
    first = start(workers, redis_url)
    first.wait_for("worker.started")
    assert holder_pid(conn) in descendants(first.pid)
    second = start(workers, redis_url)
    second.wait_for("worker.started")
    assert holder_pid(conn) in descendants(first.pid), "still the first worker's scheduler child"
    first.kill_hard()  # the worker and its children: the scheduler child dies with the lock held
    killed_at = time.monotonic()
    job = JsonQueue(QUEUE, connection=conn).enqueue_in(timedelta(seconds=2), "jobs.diagnostics.canary", 0)
    second.wait_for("job.finished", job_id=job.id, timeout=RQ_LOCK_TTL_S)
    assert time.monotonic() - killed_at < RQ_LOCK_TTL_S - 15, "ran only once the dead holder's lock expired"
    second.wait_for("worker.scheduler_taken_over")
    assert JsonJob.fetch(job.id, connection=conn).get_status() == "finished"


def test_stats_warns_about_overdue_scheduled_jobs(conn: redis.Redis, redis_url: str) -> None:
    """A job scheduled two minutes ago and still waiting: stats warns (no scheduler moves it)."""
    JsonQueue(QUEUE, connection=conn).enqueue_at(datetime.now(UTC) - timedelta(minutes=2),
                                                 "jobs.diagnostics.canary", 0)
    done = run_cli("stats", "--json", env=clean_env(REDIS_URL=redis_url))
    report = json.loads(done.stdout)
    assert report["queues"][QUEUE]["scheduled_overdue"] == 1
    assert any("scheduled job(s) more than 60 s past their time" in w for w in report["warnings"])
