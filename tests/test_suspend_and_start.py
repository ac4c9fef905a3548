"""`rq suspend` is honoured before every take; a SIGTERM while `run` is still importing exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from rq.suspension import resume, suspend

from tests.conftest import ROOT, clean_env
from tests.workers import WorkerProcess
from worker.jsonjob import JsonJob, JsonQueue

QUEUE = "curriculum_generation"


def test_an_idle_worker_takes_nothing_after_rq_suspend(conn: redis.Redis, redis_url: str,
                                                      workers: list[WorkerProcess]) -> None:
    """Suspended while idle (blocked waiting for work): a job enqueued then stays queued until resume."""
    worker = WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1",
                                     WORKER_STALL_TIMEOUT="3"))
    workers.append(worker)
    worker.wait_for("worker.started")
    time.sleep(0.5)  # in its blocking wait on the queue
    suspend(conn)
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 0)
    time.sleep(3)
    assert JsonJob.fetch(job.id, connection=conn).get_status() == "queued"
    assert conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [job.id.encode()], "given back to the front, not held"
    assert not worker.events("job.started")
    resume(conn)
    worker.wait_for("job.finished", job_id=job.id, timeout=30)


def sigterm_caught(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (Linux /proc SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def test_sigterm_while_run_is_still_starting_exits_0(redis_url: str) -> None:
    """The first thing `run` does is to catch SIGTERM: signalled as soon as it does, it exits 0, not 143."""
    process = subprocess.Popen([sys.executable, "-m", "worker", "run"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=clean_env(REDIS_URL=redis_url))
    try:
        deadline = time.monotonic() + 20
        while not sigterm_caught(process.pid) and time.monotonic() < deadline:
            time.sleep(0.001)
        process.send_signal(signal.SIGSTOP)  # hold it where it is: still importing the CLI?
        loaded = Path(f"/proc/{process.pid}/maps").read_text()
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGCONT)
        assert process.wait(timeout=30) == 0
        assert "_ssl" not in loaded, "SIGTERM was caught only after the heavy imports (redis, ssl)"
    finally:
        process.kill()
        process.wait()
