"""Issue 10 #2, #4, #9: what a worker takes off its queues is size-checked before it is read, a job
that cannot be read is failed as poison (the worker carries on), and two queues lose nothing.

Jobs are written with plain rq and broken with raw redis-py writes on their hashes.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.results import Result
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, run_cli
from tests.workers import WorkerProcess
from worker.intake import POISON_TAKES, take, takes_key

QUEUE = "curriculum_generation"
LOW = "low_priority"
MB = 1024 * 1024


def queue(conn: redis.Redis, name: str = QUEUE) -> Queue:
    return Queue(name, connection=conn, serializer=JSONSerializer)


def env(redis_url: str, **extra: str) -> dict[str, str]:
    return clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1",
                     WORKER_STALL_TIMEOUT="3", **extra)


def run_burst(redis_url: str, *args: str, **extra: str) -> str:
    result = run_cli("run", "--burst", *args, env=env(redis_url, **extra), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def reason(conn: redis.Redis, job_id: str) -> str:
    """The failure text stored for a job, read without restoring the (possibly broken) job."""
    latest = Result.fetch_latest(Job(job_id, connection=conn, serializer=JSONSerializer))
    return (latest.exc_string or "") if latest is not None else ""


def status(conn: redis.Redis, job_id: str) -> str | None:
    raw = conn.hget(Job.key_for(job_id), "status")
    return raw.decode() if raw else None


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_100_mb_argument_is_refused_before_it_is_read(conn: redis.Redis, redis_url: str,
                                                     workers: list[WorkerProcess]) -> None:
    """A 100 MB argument (compressing to ~100 kB) is refused naming the limit; the worker's parent
    never holds it (its peak memory stays below the argument's size), and the next job runs."""
    big = queue(conn).enqueue("jobs.diagnostics.canary", "x" * (100 * MB))
    good = queue(conn).enqueue("jobs.diagnostics.canary", 0)
    worker = WorkerProcess(env(redis_url))
    workers.append(worker)
    worker.wait_for("job.refused", job_id=big.id, timeout=60)
    worker.wait_for("job.finished", job_id=good.id, timeout=60)
    assert peak_rss_mib(worker.pid) < 100
    assert status(conn, big.id) == "failed"
    assert "decompresses to more than JOB_MAX_PAYLOAD_BYTES (4194304 bytes)" in reason(conn, big.id)
    assert conn.zscore(f"rq:failed:{QUEUE}", big.id) is not None
    assert conn.ttl(big.key) > 0, "a refused job expires with its failed-registry entry"


def test_incompressible_payload_over_the_limit_names_its_size(conn: redis.Redis, redis_url: str) -> None:
    """A 2 MB random argument with JOB_MAX_PAYLOAD_BYTES=1 MiB is refused with its stored size in the reason."""
    noise = base64.b64encode(random.Random(3).randbytes(2 * MB)).decode()
    job = queue(conn).enqueue("jobs.diagnostics.canary", noise)
    run_burst(redis_url, JOB_MAX_PAYLOAD_BYTES=str(MB))
    text = reason(conn, job.id)
    stored = sum(len(k) + len(v) for k, v in conn.hgetall(job.key).items() if k not in (b"status", b"ended_at",
                                                                                        b"exc_info"))
    assert f"above JOB_MAX_PAYLOAD_BYTES ({MB})" in text, text
    assert int(text.split("job is ")[1].split(" bytes")[0]) >= stored - 200


def test_long_job_id_and_function_name_are_refused(conn: redis.Redis, redis_url: str) -> None:
    """A 30,000-character job id or function name is refused (lengths named, not echoed); a good job runs."""
    long_id = queue(conn).enqueue("jobs.diagnostics.canary", 0, job_id="i" * 30_000)
    long_name = queue(conn).enqueue("jobs." + "n" * 30_000, 0)
    good = queue(conn).enqueue("jobs.diagnostics.canary", 0)
    logs = run_burst(redis_url)
    assert "job id is 30000 characters (limit 200)" in reason(conn, long_id.id)
    assert "function name is 30005 characters (limit 200)" in reason(conn, long_name.id)
    assert "n" * 1000 not in logs and "i" * 1000 not in logs
    assert status(conn, good.id) == "finished"


@pytest.mark.parametrize(("field", "garbage"), [
    ("created_at", "yesterday-ish"), ("status", "on-fire"), ("timeout", "forever"), ("result_ttl", "1e99x"),
    ("failure_ttl", "[]"), ("enqueued_at", "\xff\xfe"),
])
@pytest.mark.parametrize("queues", [(QUEUE,), (QUEUE, LOW)])
def test_unreadable_job_is_failed_as_poison_and_good_jobs_run(conn: redis.Redis, redis_url: str, field: str,
                                                              garbage: str, queues: tuple[str, ...]) -> None:
    """Garbage in one field of a job hash: the worker exits 0, the job is failed as `poison` (on one
    queue or two, never lost), and the good jobs behind it run."""
    bad = queue(conn, queues[-1]).enqueue("jobs.diagnostics.canary", 0)
    conn.hset(bad.key, field, garbage)
    good = [queue(conn, name).enqueue("jobs.diagnostics.canary", 0) for name in queues]
    args = [arg for name in queues for arg in ("-q", name)]
    run_burst(redis_url, *args)
    assert status(conn, bad.id) == "failed"
    assert "poison: the job hash cannot be read" in reason(conn, bad.id)
    assert conn.zscore(f"rq:failed:{queues[-1]}", bad.id) is not None
    assert [status(conn, job.id) for job in good] == ["finished"] * len(good)


def test_job_that_keeps_stopping_workers_is_failed_as_poison(conn: redis.Redis, redis_url: str) -> None:
    """A job already taken POISON_TAKES times without ever starting (each take killed its worker) is
    failed as poison on the next take, unread; the job behind it runs."""
    bad = queue(conn).enqueue("jobs.diagnostics.canary", 0)
    good = queue(conn).enqueue("jobs.diagnostics.canary", 0)
    conn.set(takes_key(bad.id), POISON_TAKES)
    run_burst(redis_url)
    assert status(conn, bad.id) == "failed"
    assert f"poison: taken {POISON_TAKES} times without starting" in reason(conn, bad.id)
    assert status(conn, good.id) == "finished"
    assert not conn.exists(takes_key(good.id)), "a job that started stops counting takes"


def test_every_take_lands_in_an_intermediate_list_in_priority_order(conn: redis.Redis) -> None:
    """With two queues each take moves the id atomically into its queue's intermediate list, high queue first."""
    low = queue(conn, LOW).enqueue("jobs.diagnostics.canary", 0)
    high = queue(conn).enqueue("jobs.diagnostics.canary", 0)
    first = take(conn, [QUEUE, LOW], timeout=None)
    second = take(conn, [QUEUE, LOW], timeout=None)
    assert first is not None and second is not None
    assert (first.job_id, second.job_id) == (high.id, low.id)
    assert conn.lrange(f"rq:queue:{QUEUE}:intermediate", 0, -1) == [high.id.encode()]
    assert conn.lrange(f"rq:queue:{LOW}:intermediate", 0, -1) == [low.id.encode()]
    assert take(conn, [QUEUE, LOW], timeout=None) is None


def test_two_queue_worker_finishes_jobs_and_leaves_no_intermediate_entries(conn: redis.Redis,
                                                                           redis_url: str) -> None:
    """A worker on two queues runs every job of both, and each started job left its intermediate list."""
    jobs = [queue(conn, name).enqueue("jobs.diagnostics.canary", 0) for name in (QUEUE, LOW) for _ in range(3)]
    run_burst(redis_url, "-q", QUEUE, "-q", LOW)
    assert [status(conn, job.id) for job in jobs] == ["finished"] * 6
    assert conn.llen(f"rq:queue:{QUEUE}:intermediate") == conn.llen(f"rq:queue:{LOW}:intermediate") == 0




def test_job_broken_while_it_runs_does_not_stop_the_worker(conn: redis.Redis, redis_url: str,
                                                           workers: list[WorkerProcess]) -> None:
    """A running job whose hash gets garbage in `status` and whose horse then dies: the parent fails
    it as poison instead of exiting, and runs the next job."""
    bad = queue(conn).enqueue("jobs.diagnostics.canary", 30)
    worker = WorkerProcess(env(redis_url))
    workers.append(worker)
    worker.wait_for("job.started", job_id=bad.id, timeout=30)
    conn.hset(bad.key, "status", "on-fire")
    os.kill(worker.work_horse(), signal.SIGKILL)
    worker.wait_for("worker.job_error", timeout=30)
    good = queue(conn).enqueue("jobs.diagnostics.canary", 0)
    worker.wait_for("job.finished", job_id=good.id, timeout=30)
    assert worker.process.poll() is None
    assert status(conn, bad.id) == "failed"
    assert "poison: the worker could not handle it (ValueError)" in reason(conn, bad.id)


def test_failed_lists_a_poison_job_with_its_reason(conn: redis.Redis, redis_url: str) -> None:
    """`failed --json` lists a job failed as poison (its hash still unreadable) with its reason, no traceback."""
    bad = queue(conn).enqueue("jobs.diagnostics.canary", 0)
    conn.hset(bad.key, "created_at", "garbage")
    run_burst(redis_url)
    result = run_cli("failed", "--json", env=env(redis_url))
    assert result.returncode == 0, result.stderr
    entries = {entry["job_id"]: entry for entry in json.loads(result.stdout)}
    assert "poison: the job hash cannot be read (ValueError)" in entries[bad.id]["reason"]
