"""RQ's own tools beside real workers: `rq info` polling, `rq requeue`, and a paused Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.conftest import ROOT, clean_env, failure
from tests.workers import WorkerProcess
from worker import budget
from worker.jsonjob import JsonQueue

QUEUE = "curriculum_generation"
RQ = str(ROOT / ".venv" / "bin" / "rq") if (ROOT / ".venv" / "bin" / "rq").exists() else "rq"
JSON = "rq.serializers.JSONSerializer"


def start(workers: list[WorkerProcess], url: str, **env: str) -> WorkerProcess:
    settings = {"REDIS_URL": url, "LOG_FORMAT": "json", "WORKER_HEARTBEAT_INTERVAL": "1",
                "WORKER_STALL_TIMEOUT": "3", "WORKER_SHUTDOWN_TIMEOUT": "2", "CURRICULUM_GENERATOR": "offline",
                "JOB_RETRY_DELAY": "1", "JOB_MAX_STALLS": "1", **env}
    worker = WorkerProcess(clean_env(**settings))
    workers.append(worker)
    worker.wait_for("worker.started")
    return worker


def canary(conn: redis.Redis, sleep_s: float) -> Job:
    return JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", sleep_s)


def fetch(conn: redis.Redis, job: Job) -> Job:
    return Job.fetch(job.id, connection=conn, serializer=JSONSerializer)


def runner_of(job: Job, candidates: list[WorkerProcess]) -> WorkerProcess:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for worker in candidates:
            if worker.events("job.started") and any(e.get("job_id") == job.id for e in worker.events("job.started")):
                return worker
        time.sleep(0.05)
    raise AssertionError(f"no worker started {job.id}")


def test_rq_info_polling_never_turns_a_stall_into_a_failure(redis_url: str, conn: redis.Redis,
                                                            workers: list[WorkerProcess], tmp_path: Path) -> None:
    """Two workers, `rq info -i 0.5` running, busy worker SIGKILLed: stalled, requeued, finished, 10 of 10."""
    info_out = (tmp_path / "rq-info.out").open("w")
    info = subprocess.Popen([RQ, "info", "--serializer", JSON, "-u", redis_url, "-i", "0.5", QUEUE],
                            stdout=info_out, stderr=subprocess.STDOUT)
    try:
        pool = [start(workers, redis_url), start(workers, redis_url)]
        for run in range(10):
            job = canary(conn, 2)
            busy = runner_of(job, pool)
            survivor = next(w for w in pool if w is not busy)
            busy.kill_hard()
            stalled = survivor.wait_for("job.stalled", job_id=job.id, timeout=30)
            assert stalled["stalls"] == 1, f"run {run}"
            survivor.wait_for("job.requeued", job_id=job.id, reason="stalled", timeout=10)
            survivor.wait_for("job.finished", job_id=job.id, timeout=30)
            done = fetch(conn, job)
            assert done.get_status() == "finished", f"run {run}: {done.get_status()} {failure(done)}"
            pool = [survivor, start(workers, redis_url)]
        assert info.poll() is None, "rq info kept polling the whole time"
    finally:
        info.terminate()
        info.wait(timeout=10)
        info_out.close()
    shown = (tmp_path / "rq-info.out").read_text()
    assert "executing" in shown and "Traceback" not in shown, shown[-2000:]


def test_rq_requeue_gives_a_spent_job_a_full_budget(redis_url: str, conn: redis.Redis,
                                                    workers: list[WorkerProcess]) -> None:
    """A job that used up its retries, requeued with `rq requeue`, is retried again from attempt 1."""
    worker = start(workers, redis_url, JOB_MAX_RETRIES="1")
    job = canary(conn, 30)
    for attempt, will_retry in ((1, True), (2, False)):
        worker.wait_for("job.started", job_id=job.id, count=attempt, timeout=30)
        horse = worker.work_horse()
        subprocess.run(["kill", "-9", str(horse)], check=True)
        failed = worker.wait_for("job.failed", job_id=job.id, count=attempt, timeout=30)
        assert (failed["attempt"], failed["will_retry"]) == (attempt, will_retry)
    assert fetch(conn, job).get_status() == "failed"

    requeue = subprocess.run([RQ, "requeue", "--queue", QUEUE, "--serializer", JSON, "-u", redis_url, job.id],
                             capture_output=True, text=True, timeout=60)
    assert requeue.returncode == 0, requeue.stderr
    worker.wait_for("job.started", job_id=job.id, count=3, timeout=30)
    assert budget.counts(conn, job.id) == {"retries": 0, "stalls": 0}
    subprocess.run(["kill", "-9", str(worker.work_horse())], check=True)
    again = worker.wait_for("job.failed", job_id=job.id, count=3, timeout=30)
    assert (again["attempt"], again["will_retry"]) == (1, True), "a requeued job starts a new budget"


def test_redis_pause_longer_than_the_lease_does_not_run_a_live_job_twice(
        redis_url: str, conn: redis.Redis, workers: list[WorkerProcess]) -> None:
    """CLIENT PAUSE for 5 s against a 3 s lease, a second worker sweeping: the job runs once, no stall."""
    first = start(workers, redis_url)
    job = canary(conn, 8)
    first.wait_for("job.started", job_id=job.id)
    second = start(workers, redis_url)
    time.sleep(1.5)  # both workers heart-beating and sweeping
    conn.execute_command("CLIENT", "PAUSE", 5000, "ALL")
    first.wait_for("job.finished", job_id=job.id, timeout=40)
    time.sleep(3)  # one more lease and two sweeps: nothing may happen to the finished job
    runs = [e for w in (first, second) for e in w.events("job.started") if e.get("job_id") == job.id]
    assert len(runs) == 1, "the job ran once"
    assert not [e for w in (first, second) for e in w.events("job.stalled")]
    assert fetch(conn, job).get_status() == "finished"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_a_busy_worker_shows_its_job_to_rq_2_and_rq_3_readers(redis_url: str, conn: redis.Redis,
                                                               workers: list[WorkerProcess]) -> None:
    """While a job runs, the worker hash's current_job (what rq-dashboard reads through RQ 2) and RQ 3's
    executions both name it; once it ends, current_job is gone and the worker reads as idle."""
    from rq.worker import Worker

    worker = start(workers, redis_url)
    job = canary(conn, 3)
    worker.wait_for("job.started", job_id=job.id)
    (rq_worker,) = Worker.all(connection=conn, serializer=JSONSerializer)
    assert conn.hget(rq_worker.key, "current_job") == job.id.encode()
    assert rq_worker.get_state() == "busy"
    assert rq_worker.get_current_job_id() == job.id
    worker.wait_for("job.finished", job_id=job.id)
    deadline = time.monotonic() + 10
    while conn.hget(rq_worker.key, "current_job") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert conn.hget(rq_worker.key, "current_job") is None
    assert Worker.all(connection=conn, serializer=JSONSerializer)[0].get_current_job_id() is None
