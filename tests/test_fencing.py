"""Fencing: a run that lost its job cannot write its status or result (worker.fencing).

The pipeline tests drive ``FencedPipeline`` directly; the worker tests pause real worker processes
with SIGSTOP at a known point (after ``job.started``) and let the test itself run the stall sweep,
so each race happens inside its window every time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis
from rq.job import Job

from jobs.diagnostics import COUNT_RUNS, RETURNS_FIELD, RUNS_FIELD
from tests.conftest import clean_env
from tests.workers import WorkerProcess
from worker.fencing import Fence, StaleRun, fenced_client
from worker.jsonjob import JsonJob, JsonQueue
from worker.runtime import build_worker
from worker.settings import Settings
from worker.stalls import StallSweeper, fence_key
from worker.storage import started_registry_key

QUEUE = "curriculum_generation"


def fenced(conn: redis.Redis, token: str = "job-1:run-a") -> tuple[redis.Redis, Fence]:
    conn.set(fence_key("job-1"), token)
    fence = Fence()
    return fenced_client(conn, fence), fence


def test_a_fenced_transaction_commits_while_the_fence_names_the_run(conn: redis.Redis) -> None:
    """Holding the fence that Redis names: RQ's kind of pipeline commits as usual."""
    client, fence = fenced(conn)
    with fence.holding(fence_key("job-1"), "job-1:run-a"), client.pipeline() as pipe:
        pipe.hset("rq:job:job-1", "status", "finished")
        assert pipe.execute() == [1]
    assert conn.hget("rq:job:job-1", "status") == b"finished"


def test_a_stale_run_writes_nothing(conn: redis.Redis) -> None:
    """The fence names another run: StaleRun, and not one command of the transaction is applied."""
    client, fence = fenced(conn, token="job-1:run-b")
    with fence.holding(fence_key("job-1"), "job-1:run-a"), client.pipeline() as pipe:
        pipe.hset("rq:job:job-1", "status", "finished")
        pipe.xadd("rq:results:job-1", {"type": "1"})
        with pytest.raises(StaleRun, match="run-b"):
            pipe.execute()
    assert conn.exists("rq:job:job-1", "rq:results:job-1") == 0


def test_a_fence_taken_between_watch_and_exec_aborts_the_write(conn: redis.Redis) -> None:
    """RQ's WATCH-then-MULTI success path: a sweep taking the job after the check still aborts it."""
    client, fence = fenced(conn)
    with fence.holding(fence_key("job-1"), "job-1:run-a"), client.pipeline() as pipe:
        pipe.watch("rq:job:job-1:dependents")  # what RQ's handle_job_success watches first
        conn.delete(fence_key("job-1"))  # the sweep, from another connection, inside the window
        pipe.multi()
        pipe.hset("rq:job:job-1", "status", "finished")
        with pytest.raises(StaleRun, match="none"):
            pipe.execute()
    assert conn.exists("rq:job:job-1") == 0


def test_without_the_fence_held_pipelines_are_plain(conn: redis.Redis) -> None:
    """Outside the adapter's fenced calls (job code, metrics) nothing is checked."""
    client, _ = fenced(conn, token="job-1:someone-else")
    with client.pipeline() as pipe:
        pipe.set("unrelated", "1")
        assert pipe.execute() == [True]


# --- real workers, paused at a known point ---------------------------------------------------------

def start(workers: list[WorkerProcess], redis_url: str) -> WorkerProcess:
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1",
                    WORKER_STALL_TIMEOUT="2", CURRICULUM_GENERATOR="offline")
    worker = WorkerProcess(env)
    workers.append(worker)
    return worker


def counted_canary(conn: redis.Redis, sleep_s: float) -> Job:
    return JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", sleep_s, meta={COUNT_RUNS: True})


def sweep_until_requeued(conn: redis.Redis, job_id: str, timeout: float = 20) -> None:
    """The stall sweep of a live sibling worker, run by the test: it takes the paused run's job back."""
    sweeper = StallSweeper(conn, [QUEUE], max_stalls=3, confirm_s=0.1, orphan_after_s=600)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(o.job_id == job_id and o.action == "requeued" for o in sweeper.sweep()):
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} was not requeued within {timeout}s")


def count(conn: redis.Redis, job: Job, field: str) -> int:
    return int(conn.hget(job.key, field) or 0)


@contextlib.contextmanager
def resumed_at_exit(*pids: int) -> Iterator[None]:
    """Whatever happens, no paused process outlives the test (a horse is not in its worker's group)."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def rerun_while_paused(conn: redis.Redis, redis_url: str, workers: list[WorkerProcess],
                       job: Job) -> Iterator[tuple[WorkerProcess, int, WorkerProcess]]:
    """A worker and its horse paused mid-run while the sweep takes the job back and a sibling runs
    it to the end; yields (the stale worker, its horse's pid, the sibling), both paused processes
    resumed at exit whatever happens."""
    stale = start(workers, redis_url)
    stale.wait_for("job.started", job_id=job.id, timeout=60)
    horse = stale.work_horse()
    os.kill(horse, signal.SIGSTOP)
    os.kill(stale.pid, signal.SIGSTOP)
    with resumed_at_exit(stale.pid, horse):
        sweep_until_requeued(conn, job.id)
        sibling = start(workers, redis_url)
        sibling.wait_for("job.finished", job_id=job.id, timeout=60)
        yield stale, horse, sibling


@pytest.mark.slow
def test_a_paused_worker_whose_horse_finishes_late_does_not_finish_the_requeued_job(
        conn: redis.Redis, redis_url: str, workers: list[WorkerProcess]) -> None:
    """Worker paused past its lease, horse finishing after the sweep took the job back: its result is
    dropped (the job stays queued, unfinished), and the job then runs once more with one result."""
    job = counted_canary(conn, 6)
    worker = start(workers, redis_url)
    worker.wait_for("job.started", job_id=job.id, timeout=60)
    os.kill(worker.pid, signal.SIGSTOP)
    with resumed_at_exit(worker.pid):
        sweep_until_requeued(conn, job.id)
        assert count(conn, job, RETURNS_FIELD) == 0, "setup: the horse must still be running at the requeue"
        dropped = worker.wait_for("job.outcome_dropped", job_id=job.id, timeout=30)
        assert dropped["outcome"] == "finished"
        assert count(conn, job, RETURNS_FIELD) == 1
        assert JsonJob.fetch(job.id, connection=conn).get_status() == "queued"
        assert conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [job.id.encode()]
        assert conn.xlen(f"rq:results:{job.id}") == 0, "the stale run's result was not written"
    worker.wait_for("job.finished", job_id=job.id, timeout=60)
    assert JsonJob.fetch(job.id, connection=conn).get_status() == "finished"
    assert conn.xlen(f"rq:results:{job.id}") == 1
    assert count(conn, job, RUNS_FIELD) == 2 and len(worker.events("job.finished")) == 1


@pytest.mark.slow
def test_a_paused_run_resumed_after_a_sibling_reran_its_job_is_killed_not_recorded(
        conn: redis.Redis, redis_url: str, workers: list[WorkerProcess]) -> None:
    """Worker and horse paused while a sibling re-ran the job: on SIGCONT the stale horse is killed,
    and the sibling's result stays the job's one and latest result."""
    job = counted_canary(conn, 3)
    with rerun_while_paused(conn, redis_url, workers, job) as (stale, _, _):
        latest = JsonJob.fetch(job.id, connection=conn).latest_result()
        os.kill(stale.pid, signal.SIGCONT)  # the parent first: its next heartbeat finds the job lost
        stopping = stale.wait_for("worker.stopping_job", job_id=job.id, timeout=30)
        assert "lease lost" in stopping["reason"]
    time.sleep(1)  # a stale write, had one been made, would have landed by now
    assert JsonJob.fetch(job.id, connection=conn).get_status() == "finished"
    assert conn.xlen(f"rq:results:{job.id}") == 1
    after = JsonJob.fetch(job.id, connection=conn).latest_result()
    assert latest is not None and after is not None and after.id == latest.id
    assert count(conn, job, RETURNS_FIELD) == 1, "the stale run never returned"
    assert not stale.events("job.finished") and stale.process.poll() is None


def test_a_runs_last_heartbeat_is_written_with_its_outcome(redis_url: str, conn: redis.Redis) -> None:
    """RQ's separate last_heartbeat write at a run's end is dropped (it could not be fenced); the
    fenced outcome transaction saves that value, for a finished and for a failed job alike."""
    queue = JsonQueue(QUEUE, connection=conn)
    ok, bad = queue.enqueue("jobs.diagnostics.canary", 0), queue.enqueue("jobs.diagnostics.canary", -1)
    worker = build_worker(Settings.from_env({"REDIS_URL": redis_url}), redis.Redis.from_url(redis_url))
    worker.work(burst=True)
    worker.connection.close()
    for job, status in ((ok, "finished"), (bad, "failed")):
        fetched = JsonJob.fetch(job.id, connection=conn)
        assert fetched.get_status() == status
        assert fetched.ended_at is not None and fetched.last_heartbeat is not None
        assert fetched.last_heartbeat >= fetched.ended_at, "the run's end stamp, saved with its outcome"


def snapshot(conn: redis.Redis, job: Job) -> dict[str, tuple[object, int]]:
    """Every key the run's heartbeats and outcome could touch: RQ's job hash, results, started
    registry and execution keys, each with its content and TTL."""
    keys = [job.key, f"rq:results:{job.id}", started_registry_key(QUEUE), f"rq:executions:{job.id}",
            *(key.decode() for key in conn.scan_iter(f"rq:execution:{job.id}:*"))]
    out: dict[str, tuple[object, int]] = {}
    for key in keys:
        kind = conn.type(key).decode()
        content: object = {"hash": conn.hgetall, "zset": lambda k: conn.zrange(k, 0, -1, withscores=True),
                           "stream": conn.xrange, "none": lambda k: None}[kind](key)
        out[key] = (content, conn.ttl(key))
    return out


@pytest.mark.slow
def test_a_stale_run_resumed_after_a_sibling_reran_its_job_writes_nothing(
        conn: redis.Redis, redis_url: str, workers: list[WorkerProcess]) -> None:
    """Worker and horse paused past the lease while a sibling re-ran the job: resumed, the stale
    horse returns and its parent heart-beats, yet neither writes the job's hash, result, started
    registry entry or execution keys (nor extends a TTL); status and result stay the sibling's."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 3)
    with rerun_while_paused(conn, redis_url, workers, job) as (stale, horse, sibling):
        sibling.stop()
        before = snapshot(conn, job)
        latest = JsonJob.fetch(job.id, connection=conn).latest_result()
        os.kill(horse, signal.SIGCONT)  # the horse first: its sleep is over, it returns at once
        dropped = stale.wait_for("job.outcome_dropped", job_id=job.id, timeout=30)
        assert dropped["outcome"] == "finished"
        os.kill(stale.pid, signal.SIGCONT)  # its pending monitor alarm makes it heart-beat now
        stale.wait_for("worker.stopping_job", job_id=job.id, timeout=30)
    after = snapshot(conn, job)
    assert {key: content for key, (content, _) in after.items()} == {key: c for key, (c, _) in before.items()}
    assert all(after[key][1] <= ttl for key, (_, ttl) in before.items()), "no TTL was extended"
    assert conn.zcard(started_registry_key(QUEUE)) == 0, "no started-registry entry re-added"
    fetched = JsonJob.fetch(job.id, connection=conn)
    assert fetched.get_status() == "finished" and conn.xlen(f"rq:results:{job.id}") == 1
    after_result = fetched.latest_result()
    assert latest is not None and after_result is not None and after_result.id == latest.id
