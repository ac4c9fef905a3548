"""A real worker process in burst mode: runs registered jobs enqueued with plain rq, refuses the rest."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, failure, run_cli

QUEUE = "curriculum_generation"


def run_burst(redis_url: str, **env: str) -> str:
    result = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", **env), timeout=90)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_runs_canary_and_curriculum_enqueued_with_plain_rq(conn: redis.Redis, redis_url: str) -> None:
    """The contract's one-liner enqueues jobs any service can send; the worker finishes both."""
    queue = Queue(QUEUE, connection=conn, serializer=JSONSerializer)
    canary = queue.enqueue("jobs.diagnostics.canary", 0)
    request = {"topic": "Introduction to statistics", "duration_weeks": 3, "hours_per_week": 4}
    curriculum = queue.enqueue("jobs.curriculum.generate_curriculum", request)

    logs = run_burst(redis_url)

    canary = Job.fetch(canary.id, connection=conn, serializer=JSONSerializer)
    assert canary.get_status() == "finished"
    assert canary.return_value()["ok"] is True
    curriculum = Job.fetch(curriculum.id, connection=conn, serializer=JSONSerializer)
    assert curriculum.get_status() == "finished"
    result = curriculum.return_value()
    assert result["topic"] == request["topic"]
    assert len(result["schedule"]) == 3
    assert curriculum.meta["progress"]["done"] == curriculum.meta["progress"]["total"]
    for event in ("worker.started", "job.started", "job.finished", "worker.stopped"):
        assert f'"event": "{event}"' in logs
    stopped = next(json.loads(line) for line in logs.splitlines() if '"worker.stopped"' in line)
    # >= rather than ==: the periodic canary may come due during the run.
    assert stopped["jobs_ok"] >= 2, "worker.stopped counts the jobs its work horses finished"
    assert "Introduction to statistics" not in logs, "argument values must never be logged"


def test_refuses_os_system_and_never_runs_it(conn: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    """os.system sent as a JSON job is refused, failed with ended_at, and the command never runs."""
    marker = tmp_path / "pwned"
    job = Queue(QUEUE, connection=conn, serializer=JSONSerializer).enqueue("os.system", f"touch {marker}")

    logs = run_burst(redis_url)

    assert not marker.exists()
    job = Job.fetch(job.id, connection=conn, serializer=JSONSerializer)
    assert job.get_status() == "failed"
    assert "is not a registered job function" in failure(job)
    assert job.ended_at is not None and job.enqueued_at is not None and job.ended_at >= job.enqueued_at
    assert '"event": "job.refused"' in logs
    assert conn.llen(f"rq:queue:{QUEUE}:intermediate") == 0


def test_refuses_a_pickled_payload_and_never_runs_it(conn: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    """A job stored with pickle (rq's default serializer) is refused without unpickling it."""
    marker = tmp_path / "pwned"
    job = Queue(QUEUE, connection=conn).enqueue("os.system", f"touch {marker}")

    logs = run_burst(redis_url)

    assert not marker.exists()
    assert conn.hget(f"rq:job:{job.id}", "status") == b"failed"
    assert conn.hget(f"rq:job:{job.id}", "ended_at"), "a refused job has ended_at"
    assert "payload is not JSON" in logs


def test_invalid_request_fails_at_once_without_retry(conn: redis.Redis, redis_url: str) -> None:
    """A request breaking the contract fails on the first attempt, naming the bad field."""
    job = Queue(QUEUE, connection=conn, serializer=JSONSerializer).enqueue(
        "jobs.curriculum.generate_curriculum", {"topic": "Go", "level": "expert"}
    )
    logs = run_burst(redis_url)
    job = Job.fetch(job.id, connection=conn, serializer=JSONSerializer)
    assert job.get_status() == "failed"
    assert "level" in failure(job) and "topic" in failure(job)
    assert '"will_retry": false' in logs
