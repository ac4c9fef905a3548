"""``curriculum-worker cancel`` and ``worker.cancel``: a queued job never starts, a running one stops.

Real worker processes and a real Redis: the queued job is canceled before a worker ever sees it,
or after one took it off the queue; the running job is stopped with RQ's stop-job command, its
work horse (and with it the model calls) killed, and nothing is requeued.
"""

from __future__ import annotations

import os
import time

import pytest
import redis
from rq.job import Job

from jobs.diagnostics import COUNT_RUNS, RUNS_FIELD
from tests.conftest import clean_env, run_cli
from tests.llm_server import LLMServer
from tests.workers import WorkerProcess, descendants
from worker.cancel import cancel_job
from worker.client import enqueue_curriculum
from worker.jsonjob import JsonJob, JsonQueue
from worker.runtime import build_worker
from worker.settings import Settings
from worker.storage import queue_keys, requeue

QUEUE = "curriculum_generation"


def status(conn: redis.Redis, job_id: str) -> str:
    raw = conn.hget(Job.key_for(job_id), "status")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def canary(conn: redis.Redis, sleep_s: float) -> Job:
    return JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", sleep_s)


def start_worker(workers: list[WorkerProcess], redis_url: str, **env: str) -> WorkerProcess:
    worker = WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1", **env))
    workers.append(worker)
    return worker


def test_cli_cancels_a_queued_job_which_then_never_starts(redis_url: str, conn: redis.Redis) -> None:
    """A queued job canceled from the CLI leaves its queue, is in RQ's canceled registry, and a worker never runs it."""
    job_id, _ = enqueue_curriculum(conn, {"topic": "Knitting"})
    result = run_cli("cancel", job_id, env=clean_env(REDIS_URL=redis_url))
    assert result.returncode == 0, result.stderr
    assert "canceled" in result.stdout
    assert status(conn, job_id) == "canceled"
    assert conn.llen(f"rq:queue:{QUEUE}") == 0
    assert conn.zscore(f"rq:canceled:{QUEUE}", job_id) is not None

    burst = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, LOG_FORMAT="json"))
    assert burst.returncode == 0, burst.stderr
    assert "job.started" not in burst.stderr
    assert status(conn, job_id) == "canceled"


def test_cli_cancel_of_an_unknown_id_exits_1_and_still_cancels_the_others(redis_url: str,
                                                                           conn: redis.Redis) -> None:
    """Unknown ids exit 1, naming them; the known ids on the same line are canceled anyway."""
    job_id, _ = enqueue_curriculum(conn, {"topic": "Knitting"})
    result = run_cli("cancel", "no-such-job", job_id, env=clean_env(REDIS_URL=redis_url))
    assert result.returncode == 1
    assert "no-such-job" in result.stderr
    assert status(conn, job_id) == "canceled"
    again = run_cli("cancel", job_id, env=clean_env(REDIS_URL=redis_url))
    assert again.returncode == 0 and "already canceled" in again.stdout


def test_a_running_job_is_stopped_not_requeued(redis_url: str, conn: redis.Redis,
                                               workers: list[WorkerProcess]) -> None:
    """cancel of a started job: its horse is killed, the job ends stopped, and it is neither retried nor requeued."""
    job = canary(conn, 120)
    worker = start_worker(workers, redis_url)
    worker.wait_for("job.started", job_id=job.id)
    horse = worker.work_horse()

    result = run_cli("cancel", job.id, env=clean_env(REDIS_URL=redis_url))
    assert result.returncode == 0, result.stderr
    assert "stop" in result.stdout
    worker.wait_for("job.stopped", timeout=20, job_id=job.id)
    assert status(conn, job.id) == "stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(horse, 0)
    # A few heartbeats and stall sweeps later it is still stopped, on no queue, started once.
    canary(conn, 0)
    worker.wait_for("job.finished", timeout=30)
    assert status(conn, job.id) == "stopped"
    assert conn.lpos(f"rq:queue:{QUEUE}", job.id) is None
    assert [e["job_id"] for e in worker.events("job.started")].count(job.id) == 1
    assert not worker.events("job.requeued") and not worker.events("job.retrying")


def test_stopping_a_generating_job_cuts_off_its_model_calls(redis_url: str, conn: redis.Redis,
                                                          workers: list[WorkerProcess]) -> None:
    """A job waiting on slow model replies is stopped: the horse making the calls is gone and no new call is made."""
    with LLMServer(slow_s=60) as llm:
        llm.default = "slow"
        job_id, _ = enqueue_curriculum(conn, {"topic": "Knitting", "duration_weeks": 2})
        worker = start_worker(workers, redis_url, CURRICULUM_GENERATOR="openai", OPENAI_API_KEY="sk-test-cancel",
                              OPENAI_BASE_URL=llm.base_url, OPENAI_TIMEOUT="120")
        worker.wait_for("job.started", timeout=60, job_id=job_id)
        deadline = time.monotonic() + 60
        while llm.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert llm.in_flight > 0, f"the job never called the model; log:\n{worker.text()[-3000:]}"
        horse = worker.work_horse()
        assert cancel_job(conn, job_id) == ("stopping", "started")
        worker.wait_for("job.stopped", timeout=20, job_id=job_id)
        assert horse not in descendants(worker.pid)
        calls = llm.requests
        assert status(conn, job_id) == "stopped"
        assert llm.requests == calls


def test_a_job_canceled_after_a_worker_took_it_is_dropped_unrun(redis_url: str, conn: redis.Redis,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """The worker checks the status it fetched before forking: a job canceled before the fetch never runs."""
    job = canary(conn, 0)
    queue_key, intermediate = queue_keys(QUEUE)
    conn.lmove(queue_key, intermediate, "LEFT", "RIGHT")  # a worker's take, as worker.intake does it
    assert cancel_job(conn, job.id) == ("canceled", "canceled")

    settings = Settings.from_env({"REDIS_URL": redis_url})
    worker = build_worker(settings, redis.Redis.from_url(redis_url))
    fetched = JsonJob.fetch(job.id, connection=conn)
    worker.execute_job(fetched, JsonQueue(QUEUE, connection=conn))
    assert status(conn, job.id) == "canceled"
    assert conn.llen(intermediate) == 0
    assert fetched.started_at is None and not conn.hget(Job.key_for(job.id), "started_at")
    assert [getattr(r, "event", None) for r in caplog.records].count("job.canceled") == 1
    worker.connection.close()


def test_a_job_canceled_while_its_horse_starts_is_not_run(redis_url: str, conn: redis.Redis) -> None:
    """A cancel committed after the parent's check but before RQ's "started" write: the horse sees RQ's
    canceled registry, puts "canceled" back and exits without calling the job."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 0, meta={COUNT_RUNS: True})
    # The window injected: the status still says queued (the parent's check passes), the registry has it.
    conn.zadd(f"rq:canceled:{QUEUE}", {job.id: time.time()})
    burst = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, LOG_FORMAT="json"))
    assert burst.returncode == 0, burst.stderr
    assert status(conn, job.id) == "canceled"
    assert conn.hget(Job.key_for(job.id), RUNS_FIELD) is None, "the job function ran"
    assert '"job.canceled"' in burst.stderr and '"job.started"' not in burst.stderr
    assert conn.zcard(f"rq:wip:{QUEUE}") == 0, "its execution left RQ's started registry"
    assert conn.llen(queue_keys(QUEUE)[1]) == 0


def test_requeue_front_never_puts_a_canceled_job_back(conn: redis.Redis) -> None:
    """Shutdown's give-back and requeue use storage.requeue, which leaves a canceled job canceled, off the queue."""
    job = canary(conn, 0)
    queue_key, intermediate = queue_keys(QUEUE)
    conn.lmove(queue_key, intermediate, "LEFT", "RIGHT")
    cancel_job(conn, job.id)
    requeue(conn, QUEUE, job.id)
    assert status(conn, job.id) == "canceled"
    assert conn.llen(queue_key) == 0 and conn.llen(intermediate) == 0


def test_a_running_job_under_run_concurrency_is_stopped(redis_url: str, conn: redis.Redis,
                                                        workers: list[WorkerProcess]) -> None:
    """With `run --concurrency 2` each child worker listens for RQ's commands: the job's own child stops it."""
    jobs = [canary(conn, 120), canary(conn, 120)]
    worker = WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1"),
                           "--concurrency", "2")
    workers.append(worker)
    for job in jobs:
        worker.wait_for("job.started", timeout=60, job_id=job.id)
    run = run_cli("cancel", jobs[1].id, env=clean_env(REDIS_URL=redis_url))
    assert run.returncode == 0, run.stderr
    worker.wait_for("job.stopped", timeout=20, job_id=jobs[1].id)
    assert status(conn, jobs[1].id) == "stopped"
    assert status(conn, jobs[0].id) == "started", "the other child's job goes on"
