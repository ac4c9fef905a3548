"""An operator's commands as written in the README: waiting, status views, clearing failed jobs, .env."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from tests.conftest import ROOT, clean_env, run_cli
from tests.workers import WorkerProcess
from worker import client
from worker.commands import ctrl_c
from worker.commands.failed import parse_age
from worker.jsonjob import JsonJob, JsonQueue

QUEUE = "curriculum_generation"
REQUEST = ROOT / "examples" / "request.json"


def env_for(redis_url: str, **extra: str) -> dict[str, str]:
    return clean_env(REDIS_URL=redis_url, **extra)


def queued_ids(conn: redis.Redis) -> list[str]:
    return [raw.decode() for raw in conn.lrange(f"rq:queue:{QUEUE}", 0, -1)]


def fail_canaries(conn: redis.Redis, redis_url: str, count: int) -> list[str]:
    """``count`` canary jobs failed by a real worker (a negative sleep is refused by the job)."""
    queue = JsonQueue(QUEUE, connection=conn)
    ids = [queue.enqueue("jobs.diagnostics.canary", -1).id for _ in range(count)]
    assert run_cli("run", "--burst", env=env_for(redis_url)).returncode == 0
    assert sorted(FailedJobRegistry(QUEUE, connection=conn).get_job_ids(cleanup=False)) == sorted(ids)
    return ids


def test_wait_without_a_worker_prints_the_id_warns_and_times_out(redis_url: str, conn: redis.Redis) -> None:
    """No worker: the id comes first, a warning says nobody serves the queue, --timeout exits 1, job stays queued."""
    result = run_cli("enqueue", "--file", str(REQUEST), "--wait", "--timeout", "1", env=env_for(redis_url))
    assert result.returncode == 1, result.stderr
    job_id = result.stdout.splitlines()[0]
    assert queued_ids(conn) == [job_id]
    assert "no live worker serves queue 'curriculum_generation'" in result.stderr
    assert "timed out" in result.stderr and f"curriculum-worker status {job_id}" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_while_waiting_says_the_job_goes_on(redis_url: str, conn: redis.Redis) -> None:
    """SIGINT during --wait: the id was printed, the message says how to follow the job, the job stays."""
    waiting = subprocess.Popen([sys.executable, "-m", "worker", "enqueue", "--topic", "Tides", "--wait"],
                               env=env_for(redis_url), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert waiting.stdout is not None
        job_id = waiting.stdout.readline().strip()
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=20)
    finally:
        waiting.kill()
    assert waiting.returncode == 130, err
    assert f"job {job_id} goes on" in err and f"curriculum-worker status {job_id}" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert queued_ids(conn) == [job_id]


class SignalsWhenCollected:
    """Sends this process SIGINT from its finalizer: the signal lands inside a ``__del__``."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_landing_in_a_finalizer_still_ends_the_wait(conn: redis.Redis) -> None:
    """SIGINT inside a __del__ (where Python drops KeyboardInterrupt): the wait still ends in KeyboardInterrupt."""
    job_id, _ = client.enqueue_curriculum(conn, {"topic": "Tides"})
    with ctrl_c.recorded() as pressed, pytest.raises(KeyboardInterrupt):
        SignalsWhenCollected()  # collected at once, like the probe's pipelines just before the wait
        client.wait_for(conn, job_id, timeout_s=30, interrupted=pressed.is_set)
    assert pressed.is_set()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_wait_prints_a_summary_and_json_on_request(redis_url: str, conn: redis.Redis) -> None:
    """With a worker: the id, then a short summary (not the whole JSON); --json prints the status object."""
    worker = WorkerProcess(env_for(redis_url, LOG_FORMAT="json"))
    try:
        worker.wait_for("worker.started")
        plain = run_cli("enqueue", "--file", str(REQUEST), "--wait", "--timeout", "60", env=env_for(redis_url))
        as_json = run_cli("enqueue", "--topic", "Tides", "--wait", "--json", env=env_for(redis_url))
    finally:
        worker.stop()
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert Job.exists(lines[0], connection=conn)
    assert lines[1].startswith("Python for data analysis (beginner, 4 weeks x 5 h)")
    assert any("schedule: 4 weeks" in line for line in lines)
    assert len(lines) < 25 and "{" not in plain.stdout
    assert "no live worker" not in plain.stderr
    assert as_json.returncode == 0, as_json.stderr
    outcome = json.loads(as_json.stdout)
    assert outcome["status"] == "finished" and outcome["result"]["topic"] == "Tides"


def test_status_is_readable_and_json_never_a_repr(redis_url: str, conn: redis.Redis) -> None:
    """The readable view has no Python reprs (no quotes-in-braces); --json parses."""
    job_id = run_cli("enqueue", "--topic", "Knots", env=env_for(redis_url)).stdout.strip()
    assert run_cli("run", "--burst", env=env_for(redis_url)).returncode == 0
    view = run_cli("status", job_id, env=env_for(redis_url))
    assert view.returncode == 0, view.stderr
    assert "status    finished" in view.stdout and "progress  lessons" in view.stdout
    assert "{'" not in view.stdout and "None" not in view.stdout
    assert json.loads(run_cli("status", job_id, "--json", env=env_for(redis_url)).stdout)["job_id"] == job_id


def test_a_requeued_job_shows_no_progress_from_its_earlier_run(redis_url: str, conn: redis.Redis) -> None:
    """Progress belongs to a run: once a job is back on its queue, status shows none."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", -1)
    assert run_cli("run", "--burst", env=env_for(redis_url)).returncode == 0
    stored = JsonJob.fetch(job.id, connection=conn)
    stored.meta["progress"] = {"stage": "lessons", "done": 3, "total": 9}
    stored.save_meta()
    assert run_cli("failed", "--requeue", job.id, env=env_for(redis_url)).returncode == 0
    outcome = json.loads(run_cli("status", job.id, "--json", env=env_for(redis_url)).stdout)
    assert outcome["status"] == "queued" and outcome["progress"] is None
    assert "progress  -" in run_cli("status", job.id, env=env_for(redis_url)).stdout


def test_failed_requeue_and_delete_take_several_ids(redis_url: str, conn: redis.Redis) -> None:
    """--requeue A B requeues both; --delete C D deletes both; an unknown id changes nothing."""
    a, b, c, d = fail_canaries(conn, redis_url, 4)
    env = env_for(redis_url)
    typo = run_cli("failed", "--delete", c, "no-such-id", env=env)
    assert typo.returncode == 2 and "no-such-id" in typo.stderr
    assert conn.exists(JsonJob.key_for(c)), "nothing deleted when one id is wrong"

    assert run_cli("failed", "--requeue", a, b, env=env).returncode == 0
    assert sorted(queued_ids(conn)) == sorted([a, b])
    deleted = run_cli("failed", "--delete", c, d, "--json", env=env)
    assert json.loads(deleted.stdout) == {"deleted": [c, d]}
    assert not conn.exists(JsonJob.key_for(c)) and not conn.exists(JsonJob.key_for(d))
    assert json.loads(run_cli("failed", "--json", env=env).stdout) == []


def test_failed_purge_older_than(redis_url: str, conn: redis.Redis) -> None:
    """--purge --older-than 1h deletes only jobs that failed over an hour ago; --purge alone deletes all."""
    old, recent = fail_canaries(conn, redis_url, 2)
    conn.hset(JsonJob.key_for(old), "ended_at", "2020-01-01T00:00:00.000000Z")
    env = env_for(redis_url)
    purged = run_cli("failed", "--purge", "--older-than", "1h", "--json", env=env)
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout) == {"deleted": [old]}
    assert [e["job_id"] for e in json.loads(run_cli("failed", "--json", env=env).stdout)] == [recent]
    assert json.loads(run_cli("failed", "--purge", "--json", env=env).stdout) == {"deleted": [recent]}
    bad = run_cli("failed", "--purge", "--older-than", "soon", env=env)
    assert bad.returncode == 2 and "--older-than" in bad.stderr


def test_ages() -> None:
    """30m, 12h, 7d and 90s in seconds; anything else is refused."""
    assert [parse_age(a) for a in ("30m", "12h", "7d", "90s")] == [1800, 43200, 604800, 90]
    for bad in ("", "7", "d", "-1d", "1w", "1.5.2h"):
        try:
            parse_age(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_failed_jobs_expire_after_job_failure_ttl(redis_url: str, conn: redis.Redis) -> None:
    """A plain-rq job (rq's default: a year) and a refused one both fail with JOB_FAILURE_TTL."""
    from rq import Queue

    queue = Queue(QUEUE, connection=conn, serializer=JSONSerializer)
    plain = queue.enqueue("jobs.diagnostics.canary", -1)
    refused = queue.enqueue("os.getcwd")
    before = time.time()
    assert run_cli("run", "--burst", env=env_for(redis_url, JOB_FAILURE_TTL="3600")).returncode == 0
    registry = FailedJobRegistry(QUEUE, connection=conn)
    for job in (plain, refused):
        expires = registry.get_expiration_time(job)
        assert before + 3600 - 5 <= expires.timestamp() <= time.time() + 3600 + 5, job.func_name
        assert 0 < conn.ttl(job.key) <= 3600


def test_dotenv_fills_in_what_the_environment_leaves_unset(redis_url: str, tmp_path: Path) -> None:
    """.env in the working directory is read; a variable set in the environment wins over it."""
    (tmp_path / ".env").write_text(f"# local\nexport REDIS_URL={redis_url}\nWORKER_QUEUES='from_dotenv'\n"
                                   "LOG_LEVEL=DEBUG # inline comment\n")
    from_file = run_cli("stats", "--json", env=clean_env(), cwd=tmp_path)
    assert from_file.returncode in (0, 1), from_file.stderr
    assert list(json.loads(from_file.stdout)["queues"]) == ["from_dotenv"]
    overridden = run_cli("stats", "--json", env=clean_env(WORKER_QUEUES="from_env"), cwd=tmp_path)
    assert list(json.loads(overridden.stdout)["queues"]) == ["from_env"]


def test_a_broken_dotenv_is_a_configuration_error(tmp_path: Path) -> None:
    """A .env line that is not NAME=value, or a file that is not UTF-8, is exit 2 naming the line."""
    (tmp_path / ".env").write_text("REDIS_URL=redis://localhost:1/0\nthis is not an assignment\n")
    result = run_cli("stats", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2 and ".env line 2" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / ".env").write_bytes(b"REDIS_URL=\xff\n")
    result = run_cli("stats", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2 and "not UTF-8" in result.stderr


def test_a_failed_entry_whose_job_expired_is_skipped(redis_url: str, conn: redis.Redis) -> None:
    """A failed-registry entry whose job data is gone neither breaks --all nor counts as a failed job."""
    gone, kept = fail_canaries(conn, redis_url, 2)
    conn.delete(JsonJob.key_for(gone))
    env = env_for(redis_url)
    result = run_cli("failed", "--all", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"requeued": [kept]}
    missing = run_cli("failed", "--requeue", gone, env=env)
    assert missing.returncode == 2 and gone in missing.stderr and "Traceback" not in missing.stderr


def test_ctrl_c_ends_run_with_130_and_requeues_its_job(redis_url: str, conn: redis.Redis,
                                                       workers: list[WorkerProcess]) -> None:
    """SIGINT to `run` (one worker, and a tree of two) while a job runs: the job goes back, exit 130."""
    for args in ((), ("--concurrency", "2")):
        conn.flushall()
        job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 30)
        worker = WorkerProcess(env_for(redis_url, LOG_FORMAT="json", WORKER_SHUTDOWN_TIMEOUT="1"), *args)
        workers.append(worker)
        worker.wait_for("job.started", job_id=job.id)
        worker.process.send_signal(signal.SIGINT)
        assert worker.wait(timeout=30) == 130, (args, worker.text()[-2000:])
        assert queued_ids(conn) == [job.id], args
        assert "Traceback" not in worker.text()


def test_ctrl_c_of_an_idle_or_starting_run_is_130(redis_url: str, workers: list[WorkerProcess]) -> None:
    """SIGINT before the worker is up, and to an idle worker: exit 130; SIGTERM stays exit 0."""
    starting = WorkerProcess(env_for("redis://127.0.0.1:9/0", REDIS_MAX_RETRIES="50", LOG_FORMAT="json"))
    idle = WorkerProcess(env_for(redis_url, LOG_FORMAT="json"))
    stopped = WorkerProcess(env_for(redis_url, LOG_FORMAT="json"))
    workers.extend([starting, idle, stopped])
    starting.wait_for("redis.retrying")
    idle.wait_for("worker.started")
    stopped.wait_for("worker.started")
    for worker, signum in ((starting, signal.SIGINT), (idle, signal.SIGINT), (stopped, signal.SIGTERM)):
        worker.process.send_signal(signum)
    assert starting.wait(timeout=30) == 130, starting.text()[-2000:]
    assert idle.wait(timeout=30) == 130, idle.text()[-2000:]
    assert stopped.wait(timeout=30) == 0, stopped.text()[-2000:]
