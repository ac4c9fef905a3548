"""Stop signals are never caught as errors: a SIGTERM landing anywhere in the parent's handling of a
job neither fails nor strands it, and a worker answers SIGTERM promptly, idle or busy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from jobs import context
from tests.conftest import ROOT, clean_env
from tests.workers import WorkerProcess
from worker.intake import takes_key
from worker.jsonjob import JsonQueue
from worker.runtime import CurriculumWorker
from worker.settings import Settings
from worker.stalls import queue_keys

QUEUE = "curriculum_generation"


def in_process_worker(cls: type[CurriculumWorker], redis_url: str, connection: redis.Redis) -> CurriculumWorker:
    # A shutdown deadline far beyond the test: the watchdog thread it arms must never fire in pytest.
    settings = Settings.from_env({"REDIS_URL": redis_url, "WORKER_SHUTDOWN_TIMEOUT": "3600",
                                  "WORKER_HEARTBEAT_INTERVAL": "1"})
    context.install(settings)
    return cls([QUEUE], settings=settings, connection=connection, job_monitoring_interval=1, worker_ttl=16)


def sigterm_self() -> None:
    """Deliver SIGTERM to this process now: Python runs the handler before the next bytecode."""
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture
def canary(conn: redis.Redis) -> Iterator[Job]:
    yield JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 0)


class StopAfterTheHorse(CurriculumWorker):
    """SIGTERM once the horse has returned, while RQ marks the worker idle again."""

    horse_done = False

    def monitor_work_horse(self, *args: Any) -> None:
        super().monitor_work_horse(*args)
        self.horse_done = True

    def set_state(self, state: str, pipeline: Any = None) -> None:
        super().set_state(state, pipeline)
        if state == WorkerStatus.IDLE and self.horse_done:
            self.horse_done = False
            sigterm_self()


class StopAfterTheTake(CurriculumWorker):
    """SIGTERM right after a job was taken off its queue, before RQ hands it to execute_job."""

    def dequeue_job_and_maintain_ttl(self, timeout: int | None,
                                     max_idle_time: int | None = None) -> tuple[Job, Queue] | None:
        result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        if result is not None:
            sigterm_self()
        return result


def test_sigterm_after_the_horse_returned_leaves_the_job_finished(redis_url: str, conn: redis.Redis,
                                                                  canary: Job) -> None:
    """A SIGTERM between the horse's success and the end of execute_job never fails the job as poison."""
    worker = in_process_worker(StopAfterTheHorse, redis_url, conn)
    worker.work()
    job = Job.fetch(canary.id, connection=conn, serializer=JSONSerializer)
    assert job.get_status() == "finished"
    assert job.latest_result() is not None and job.latest_result().type.name == "SUCCESSFUL"
    assert conn.zcard(f"rq:failed:{QUEUE}") == 0


def test_sigterm_after_the_take_gives_the_job_back_untouched(redis_url: str, conn: redis.Redis,
                                                             canary: Job) -> None:
    """A SIGTERM between the take and the start puts the job back at the front, its take uncounted."""
    worker = in_process_worker(StopAfterTheTake, redis_url, conn)
    worker.work()
    queue_key, intermediate = queue_keys(QUEUE)
    assert conn.lrange(queue_key, 0, -1) == [canary.id.encode()]
    assert conn.lrange(intermediate, 0, -1) == []
    assert conn.hget(canary.key, "status") == b"queued"
    assert int(conn.get(takes_key(canary.id)) or 0) == 0

    in_process_worker(CurriculumWorker, redis_url, conn).work(burst=True)
    assert Job.fetch(canary.id, connection=conn, serializer=JSONSerializer).get_status() == "finished"


def start(workers: list[WorkerProcess], redis_url: str, **env: str) -> WorkerProcess:
    settings = {"REDIS_URL": redis_url, "LOG_FORMAT": "json", "WORKER_HEARTBEAT_INTERVAL": "1",
                "CURRICULUM_GENERATOR": "offline", **env}
    worker = WorkerProcess(clean_env(**settings))
    workers.append(worker)
    return worker


def test_idle_workers_stop_at_once(redis_url: str, workers: list[WorkerProcess]) -> None:
    """Idle workers answer SIGTERM with exit 0 well inside the blocking take, never by the watchdog."""
    started = [start(workers, redis_url) for _ in range(3)]
    for worker in started:
        worker.wait_for("worker.started")
        worker.terminate()
    for worker in started:
        # Before the fix a swallowed StopRequested left the worker up to 60 s; 10 s is far from both.
        try:
            code = worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 10 s after SIGTERM; log:\n{worker.text()[-3000:]}") from None
        assert code == 0, worker.text()[-3000:]
        assert not worker.events("worker.shutdown_overrun")


def test_busy_sigterm_requeues_at_the_deadline_and_exits_0(redis_url: str, conn: redis.Redis,
                                                           workers: list[WorkerProcess]) -> None:
    """Busy with a long job and WORKER_SHUTDOWN_TIMEOUT=3: requeued at the deadline, exit 0, no overrun."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 60)
    worker = start(workers, redis_url, WORKER_SHUTDOWN_TIMEOUT="3")
    worker.wait_for("job.started", job_id=job.id)
    worker.terminate()
    assert worker.wait(timeout=20) == 0
    assert not worker.events("worker.shutdown_overrun")
    worker.wait_for("job.requeued", job_id=job.id, reason="shutdown")
    assert conn.hget(job.key, "status") == b"queued"


def test_teardown_never_waits_out_the_pubsub_sleep(redis_url: str, conn: redis.Redis) -> None:
    """Unsubscribing ends RQ's pubsub thread at once (redis-py 8.2's stop() joined it for up to 60 s)."""
    for _ in range(3):
        worker = in_process_worker(CurriculumWorker, redis_url, conn)
        worker.subscribe()
        thread = worker.pubsub_thread
        assert thread is not None
        done = threading.Thread(target=worker.unsubscribe, daemon=True)
        done.start()
        done.join(timeout=15)  # far below the 60 s sleep the bug waited out
        assert not done.is_alive() and not thread.is_alive()


#: ``run`` with a SIGTERM delivered inside the first fork's at-fork hook (RQ's scheduler, forked
#: before RQ installs its handlers): the start-up handler's SystemExit is raised there, and Python
#: drops an exception raised in an at-fork hook ("Exception ignored in ...").
SIGTERM_INSIDE_FORK_HOOK = """
import os, signal
fired = []
def sigterm_after_first_fork():
    if not fired:
        fired.append(True)
        os.kill(os.getpid(), signal.SIGTERM)
os.register_at_fork(after_in_parent=sigterm_after_first_fork)
from worker.cli import main
main(["run"])
"""


def run_driver(redis_url: str, script: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run a driver ``script`` (it ends by calling the CLI's ``run``) with ``start``'s settings;
    fail, with its log, if it is still running after ``timeout_s``."""
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1",
                    CURRICULUM_GENERATOR="offline")
    process = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"still running {timeout_s} s after SIGTERM; log:\n{output[-3000:]}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, output)


def test_a_start_up_sigterm_whose_exit_python_drops_still_stops_the_worker(redis_url: str) -> None:
    """A SIGTERM landing in an at-fork hook during start-up (its SystemExit dropped) still ends the worker, exit 0."""
    done = run_driver(redis_url, SIGTERM_INSIDE_FORK_HOOK, timeout_s=20)
    output = done.stdout
    assert "SystemExit" in output, output[-3000:]  # the signal did land inside the hook: its exit was dropped
    assert done.returncode == 0, output[-3000:]
    assert '"event": "worker.stopping"' in output and "worker.shutdown_overrun" not in output


#: ``run`` whose first forked child (RQ's scheduler) signals its parent from inside its own at-fork
#: hook and stays in the hook a while: the parent stops and, tearing down, sends the child SIGTERM,
#: which lands in the child's hook too (inherited start-up handler, no handler of its own yet).
SIGTERM_TO_A_CHILD_STILL_IN_ITS_FORK_HOOK = """
import os, signal, time
forked = []
def stop_the_parent_then_linger():
    if not forked:
        os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(3)
os.register_at_fork(after_in_parent=lambda: forked.append(True), after_in_child=stop_the_parent_then_linger)
from worker.cli import main
main(["run"])
"""


def test_a_child_signalled_before_its_own_handlers_ends_and_the_worker_exits(redis_url: str) -> None:
    """RQ's scheduler, signalled by its stopping parent while still in an at-fork hook, ends: the worker exits 0."""
    done = run_driver(redis_url, SIGTERM_TO_A_CHILD_STILL_IN_ITS_FORK_HOOK, timeout_s=30)
    assert done.returncode == 0, done.stdout[-3000:]
