"""The runtime against real worker processes and real redis-servers: kills, deploys and outages."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, failure
from tests.servers import RedisServer
from tests.workers import WorkerProcess
from worker import budget
from worker.connection import build_redis
from worker.errors import RedisUnavailable
from worker.jsonjob import JsonQueue
from worker.runtime import build_worker
from worker.settings import Settings

PASSWORD = "runtime-pw-5e8a"
API_KEY = "sk-runtime-test-key-0c41"
QUEUE = "curriculum_generation"
ALL_LOGS: list[str] = []


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    srv = RedisServer(password=PASSWORD, appendonly=True).start()
    yield srv
    srv.stop()
    # Over every run in this module, no secret reached a log line.
    joined = "\n".join(ALL_LOGS)
    assert PASSWORD not in joined and API_KEY not in joined


@pytest.fixture
def conn(server: RedisServer) -> Iterator[redis.Redis]:
    client = server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def workers(server: RedisServer) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()
        ALL_LOGS.append(worker.text())


def start(workers: list[WorkerProcess], server: RedisServer, *args: str, **env: str) -> WorkerProcess:
    settings = {"REDIS_URL": server.url, "LOG_FORMAT": "json", "WORKER_HEARTBEAT_INTERVAL": "1",
                "WORKER_STALL_TIMEOUT": "3", "WORKER_SHUTDOWN_TIMEOUT": "2", "OPENAI_API_KEY": API_KEY,
                "CURRICULUM_GENERATOR": "offline", "REDIS_RETRY_DELAY": "200", "REDIS_RETRY_MAX_DELAY": "1000",
                "JOB_RETRY_DELAY": "1", **env}
    worker = WorkerProcess(clean_env(**settings), *args)
    workers.append(worker)
    return worker


def canary(conn: redis.Redis, sleep_s: float) -> Job:
    return JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", sleep_s)


def fetch(conn: redis.Redis, job: Job) -> Job:
    return Job.fetch(job.id, connection=conn, serializer=JSONSerializer)


def test_killed_worker_job_is_recovered_by_another(server: RedisServer, conn: redis.Redis,
                                                  workers: list[WorkerProcess]) -> None:
    """SIGKILL mid-job: another worker notices the stall within the lease and completes the job."""
    job = canary(conn, 4)
    first = start(workers, server)
    first.wait_for("job.started", job_id=job.id)
    first.kill_hard()
    killed_at = time.monotonic()

    second = start(workers, server)
    stalled = second.wait_for("job.stalled", job_id=job.id, timeout=20)
    detected_after = time.monotonic() - killed_at
    assert stalled["stalls"] == 1 and stalled["worker"]
    second.wait_for("job.requeued", job_id=job.id, reason="stalled")
    second.wait_for("job.finished", job_id=job.id, timeout=20)
    assert fetch(conn, job).get_status() == "finished"
    # Lease (3 s) + two sweeps that agree it ended (3 heartbeats + 1 s, worker.stalls); generous
    # slack for a loaded machine.
    assert detected_after < 3 + 3 * 1 + 1 + 6


def test_too_many_stalls_fail_the_job_with_the_reason(server: RedisServer, conn: redis.Redis,
                                                      workers: list[WorkerProcess]) -> None:
    """Past JOB_MAX_STALLS a stalled job is failed for good with 'stalled too many times'."""
    job = canary(conn, 30)
    first = start(workers, server, JOB_MAX_STALLS="0")
    first.wait_for("job.started", job_id=job.id)
    first.kill_hard()

    second = start(workers, server, JOB_MAX_STALLS="0")
    failed = second.wait_for("job.failed", job_id=job.id, timeout=20)
    assert failed["exc_type"] == "JobStalled" and failed["will_retry"] is False
    job = fetch(conn, job)
    assert job.get_status() == "failed"
    assert "stalled too many times" in failure(job)
    assert conn.zscore(f"rq:failed:{QUEUE}", job.id) is not None
    assert not second.events("job.started"), "a job failed for stalling must not run again"


def test_job_taken_by_a_worker_that_died_before_starting_it_goes_back(
        server: RedisServer, conn: redis.Redis, workers: list[WorkerProcess]) -> None:
    """A job left in RQ's intermediate list (taken off the queue, never started) is requeued and runs."""
    job = canary(conn, 0)
    # What a worker killed between BLMOVE and starting the job leaves behind.
    conn.lmove(f"rq:queue:{QUEUE}", f"rq:queue:{QUEUE}:intermediate")
    assert conn.llen(f"rq:queue:{QUEUE}") == 0
    worker = start(workers, server)
    worker.wait_for("job.requeued", job_id=job.id, reason="orphaned", timeout=20)
    worker.wait_for("job.finished", job_id=job.id, timeout=20)
    assert conn.llen(f"rq:queue:{QUEUE}:intermediate") == 0


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "(zombie)" not in status.read()
    except OSError:
        return False


def test_parent_killed_alone_takes_its_children_down(server: RedisServer, conn: redis.Redis,
                                                     workers: list[WorkerProcess]) -> None:
    """If only the worker process dies, its work horse (and scheduler) die with it: no unsupervised run."""
    job = canary(conn, 30)
    worker = start(workers, server)
    worker.wait_for("job.started", job_id=job.id)
    children = worker.children()
    assert children
    worker.process.kill()
    worker.process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.05)
    assert not any(alive(pid) for pid in children)


def test_sigterm_requeues_the_running_job_and_exits_0(server: RedisServer, conn: redis.Redis,
                                                      workers: list[WorkerProcess]) -> None:
    """SIGTERM during a long job: exit 0 within the shutdown timeout, job back at the front, untouched."""
    job = canary(conn, 5)
    other = canary(conn, 0)
    first = start(workers, server)
    first.wait_for("job.started", job_id=job.id)
    first.terminate()
    signalled = time.monotonic()
    assert first.wait(timeout=20) == 0
    assert time.monotonic() - signalled < 2 + 5  # WORKER_SHUTDOWN_TIMEOUT plus a margin
    first.wait_for("job.requeued", job_id=job.id, reason="shutdown")
    assert [e["event"] for e in first.events() if e.get("job_id") == job.id].count("job.failed") == 0
    assert conn.lindex(f"rq:queue:{QUEUE}", 0) == job.id.encode(), "requeued at the front"
    assert conn.hget(job.key, "status") == b"queued"
    assert budget.counts(conn, job.id) == {"retries": 0, "stalls": 0}

    second = start(workers, server, "--burst")
    assert second.wait(timeout=30) == 0
    for done in (job, other):
        assert fetch(conn, done).get_status() == "finished"


def test_second_signal_requeues_at_once(server: RedisServer, conn: redis.Redis,
                                        workers: list[WorkerProcess]) -> None:
    """A second SIGTERM does not wait for WORKER_SHUTDOWN_TIMEOUT."""
    job = canary(conn, 60)
    worker = start(workers, server, WORKER_SHUTDOWN_TIMEOUT="120")
    worker.wait_for("job.started", job_id=job.id)
    worker.terminate()
    worker.wait_for("worker.stopping")
    time.sleep(1.2)  # a second signal within 1 s counts as the same keypress (see shutdown.py)
    worker.terminate()
    assert worker.wait(timeout=15) == 0
    worker.wait_for("job.requeued", job_id=job.id, reason="shutdown")
    assert conn.hget(job.key, "status") == b"queued"


def test_transient_failure_is_retried_permanent_is_not(server: RedisServer, conn: redis.Redis,
                                                       workers: list[WorkerProcess]) -> None:
    """A job killed by the OOM killer (transient) is retried with backoff; a bad request is not."""
    bad = JsonQueue(QUEUE, connection=conn).enqueue("jobs.curriculum.generate_curriculum", {"topic": ""})
    slow = canary(conn, 30)
    worker = start(workers, server, JOB_MAX_RETRIES="1")
    failed_bad = worker.wait_for("job.failed", job_id=bad.id)
    assert failed_bad["will_retry"] is False and failed_bad["exc_type"] == "RequestInvalid"

    worker.wait_for("job.started", job_id=slow.id)
    os.kill(worker.work_horse(), 9)
    killed = worker.wait_for("job.failed", job_id=slow.id)
    assert killed["exc_type"] == "WorkHorseKilled" and killed["will_retry"] is True and killed["attempt"] == 1
    worker.wait_for("job.retrying", job_id=slow.id)
    worker.wait_for("job.started", job_id=slow.id, count=2, timeout=20)
    assert budget.counts(conn, slow.id)["retries"] == 1


def test_redis_restart_mid_run_loses_nothing(server: RedisServer, conn: redis.Redis,
                                             workers: list[WorkerProcess]) -> None:
    """Redis (append-only) killed and restarted mid-run: every job completes once, the worker stays up."""
    jobs = [canary(conn, 0.4) for _ in range(8)]
    worker = start(workers, server, REDIS_MAX_RETRIES="6")
    worker.wait_for("job.finished", job_id=jobs[1].id, timeout=30)
    server.stop(kill=True)
    time.sleep(0.5)
    server.start()
    for job in jobs:
        worker.wait_for("job.finished", job_id=job.id, timeout=60)
    assert worker.process.poll() is None, "the worker must survive the outage"
    client = server.client()
    for job in jobs:
        assert client.hget(job.key, "status") == b"finished"
    ours = {job.id for job in jobs}
    started = [e["job_id"] for e in worker.events("job.started") if e["job_id"] in ours]
    assert sorted(started) == sorted(ours), "each job ran exactly once"
    worker.terminate()
    assert worker.wait(timeout=20) == 0


def test_sigterm_while_still_connecting_exits_0(workers: list[WorkerProcess]) -> None:
    """A deploy's SIGTERM that reaches a worker still waiting for Redis ends it cleanly (exit 0)."""
    from tests.servers import free_port

    worker = WorkerProcess(clean_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", LOG_FORMAT="json",
                                     REDIS_MAX_RETRIES="20", REDIS_RETRY_DELAY="500"))
    workers.append(worker)
    worker.wait_for("redis.retrying")
    worker.terminate()
    assert worker.wait(timeout=10) == 0


def test_redis_gone_for_good_exits_3_not_0(workers: list[WorkerProcess]) -> None:
    """When Redis stays away past the retries, the worker exits 3 (never 0) after redis.retrying lines."""
    lost = RedisServer(password=PASSWORD).start()
    worker = start(workers, lost, REDIS_MAX_RETRIES="2", REDIS_RETRY_DELAY="100", REDIS_RETRY_MAX_DELAY="200")
    worker.wait_for("worker.started")
    lost.stop(kill=True)
    assert worker.wait(timeout=60) == 3
    assert len(worker.events("redis.retrying")) == 2, worker.text()[-3000:]
    assert worker.events("redis.unavailable")


def test_redis_lost_while_rq_starts_its_scheduler_goes_through_the_reconnect_policy(
        caplog: pytest.LogCaptureFixture) -> None:
    """RQ starts its scheduler outside its loop's error handling: a Redis loss there is retried, then exit 3's error."""
    lost = RedisServer().start()
    settings = Settings.from_env({"REDIS_URL": lost.url, "REDIS_MAX_RETRIES": "2", "REDIS_RETRY_DELAY": "100",
                                  "REDIS_RETRY_MAX_DELAY": "200", "REDIS_CONNECT_TIMEOUT": "1"})
    connection = build_redis(settings)
    worker = build_worker(settings, connection)
    lost.stop(kill=True)
    with pytest.raises(RedisUnavailable):
        worker._start_scheduler(False, None)
    events = [getattr(record, "event", None) for record in caplog.records]
    assert events.count("redis.retrying") == 2 and "redis.unavailable" in events
    connection.close()


def test_redis_gone_during_a_job_exits_3_not_0(workers: list[WorkerProcess]) -> None:
    """Redis lost for good while a job runs: the worker ends with exit 3 and redis.unavailable."""
    lost = RedisServer(password=PASSWORD).start()
    job = canary(lost.client(), 2)
    worker = start(workers, lost, REDIS_MAX_RETRIES="1", REDIS_RETRY_DELAY="100", REDIS_RETRY_MAX_DELAY="200")
    worker.wait_for("job.started", job_id=job.id)
    lost.stop(kill=True)
    assert worker.wait(timeout=60) == 3
    assert worker.events("redis.unavailable")
