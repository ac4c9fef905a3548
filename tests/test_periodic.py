"""Periodic jobs: registered idempotently under stable ids, stored as JSON, enqueued when due."""

from __future__ import annotations

import json
import time
import zlib

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs.periodic import PERIODIC_JOBS, PeriodicJob
from tests.conftest import clean_env
from tests.workers import WorkerProcess
from worker.periodic import build_scheduler, register_periodic

SCHEDULED = "rq:scheduler:scheduled_jobs"


def test_registration_is_idempotent_and_json(conn: redis.Redis) -> None:
    """Registering twice (two starts, or two instances) leaves one entry per periodic job, in JSON."""
    scheduler = build_scheduler(conn, "curriculum_generation")
    register_periodic(scheduler)
    register_periodic(build_scheduler(conn, "curriculum_generation"))
    members = {m.decode() for m in conn.zrange(SCHEDULED, 0, -1)}
    assert members == {job.id for job in PERIODIC_JOBS}
    for job in PERIODIC_JOBS:
        raw = conn.hget(f"rq:job:{job.id}", "data")
        assert raw is not None
        payload = json.loads(zlib.decompress(raw))  # rq stores [func, instance, args, kwargs], zlib'd
        assert payload[0] == job.func


def test_unregistered_periodic_function_is_refused(conn: redis.Redis) -> None:
    """A periodic job naming a function outside the allowlist is a configuration error."""
    scheduler = build_scheduler(conn, "curriculum_generation")
    try:
        register_periodic(scheduler, (PeriodicJob(id="bad", func="os.system", cron="* * * * *"),))
    except ValueError as exc:
        assert "os.system" in str(exc)
    else:
        raise AssertionError("os.system was accepted as a periodic job")
    assert conn.zscore(SCHEDULED, "bad") is None


def test_worker_enqueues_and_runs_a_due_periodic_job(conn: redis.Redis, redis_url: str) -> None:
    """A running worker moves a due periodic job onto its queue, runs it, and schedules the next run."""
    worker = WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1"))
    try:
        worker.wait_for("periodic.registered")
        job_id = PERIODIC_JOBS[0].id
        conn.zadd(SCHEDULED, {job_id: time.time() - 1})  # make it due now
        worker.wait_for("periodic.enqueued", job_id=job_id, timeout=30)
        worker.wait_for("job.finished", job_id=job_id, timeout=30)
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
        assert job.return_value()["ok"] is True
        assert conn.zscore(SCHEDULED, job_id) > time.time(), "the next run is scheduled"
    finally:
        worker.stop()
