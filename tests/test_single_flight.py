"""Worker side: identical requests enqueued with plain rq and running at once are generated once."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobs import keys
from jobs.cache import Cache, content_key
from jobs.generation import generate
from jobs.generators import GeneratorConfig
from jobs.generators.offline import OFFLINE_MODEL
from jobs.models import parse_request
from jobs.singleflight import SingleFlight
from tests.conftest import clean_env
from tests.llm_server import LLMServer
from tests.workers import WorkerProcess
from worker import client
from worker.jsonjob import JsonJob

QUEUE = "curriculum_generation"
REQUEST = {"topic": "Number theory", "duration_weeks": 2}


@contextlib.contextmanager
def workers(env: dict[str, str], count: int = 1) -> Iterator[list[WorkerProcess]]:
    """Real ``curriculum-worker run`` processes for the block, stopped with SIGTERM."""
    started = [WorkerProcess(env) for _ in range(count)]
    try:
        yield started
    finally:
        for worker in started:
            worker.terminate()
        for worker in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=30)
            worker.stop()


def offline_lock(conn: redis.Redis) -> str:
    """The lock a job generating REQUEST with the offline generator takes."""
    key = content_key(parse_request(REQUEST), "offline", OFFLINE_MODEL)
    return SingleFlight(conn, wait_s=0).lock_name(key)


def enqueue_plain(conn: redis.Redis) -> str:
    queue = Queue(QUEUE, connection=conn, serializer=JSONSerializer)
    return queue.enqueue("jobs.curriculum.generate_curriculum", REQUEST).id


def finished(conn: redis.Redis, job_id: str, worker: WorkerProcess) -> dict[str, Any]:
    worker.wait_for("job.finished", job_id=job_id, timeout=60)
    job = JsonJob.fetch(job_id, connection=conn)
    result = job.return_value()
    assert isinstance(result, dict)
    return result


def test_a_job_waits_for_the_lock_holder_and_serves_its_result(conn: redis.Redis, redis_url: str) -> None:
    """While another job holds the lock, the job waits (progress 'waiting'), then serves the cached result."""
    conn.set(offline_lock(conn), "another-job", px=60_000)
    job_id = enqueue_plain(conn)
    with workers(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json")) as (worker,):
        worker.wait_for("curriculum.waiting")
        assert JsonJob.fetch(job_id, connection=conn).meta["progress"]["stage"] == "waiting"
        # "The other job" finishes: its curriculum lands in the content cache.
        theirs = generate(REQUEST, GeneratorConfig(), lambda *_: None, Cache(conn))
        assert finished(conn, job_id, worker) == theirs
        assert worker.events("curriculum.cached") and not worker.events("curriculum.generated")


def test_a_dead_lock_holder_only_delays_the_job(conn: redis.Redis, redis_url: str) -> None:
    """A lock whose holder died expires; the waiting job then generates the curriculum itself."""
    conn.set(offline_lock(conn), "dead-worker", px=6000)  # outlives a worker start under coverage
    job_id = enqueue_plain(conn)
    with workers(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json")) as (worker,):
        result = finished(conn, job_id, worker)
        assert worker.events("curriculum.waiting") and worker.events("curriculum.generated")
    assert result["topic"] == REQUEST["topic"]
    assert conn.exists(offline_lock(conn)) == 0, "the lock is released after generating"


@pytest.mark.slow
def test_two_workers_generate_identical_jobs_once(conn: redis.Redis, redis_url: str) -> None:
    """Two identical plain-rq jobs on two workers: one generates (one design call), the other serves it."""
    with LLMServer(slow_s=0.5) as llm:
        llm.default = "slow"
        env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", CURRICULUM_GENERATOR="openai",
                        OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=llm.base_url)
        with workers(env, count=2) as pair:
            for worker in pair:
                worker.wait_for("worker.started")
            ids = [enqueue_plain(conn), enqueue_plain(conn)]
            outcomes = [client.wait_for(conn, job_id, timeout_s=60, poll_s=0.1) for job_id in ids]
        events = [e["event"] for w in pair for e in w.events() if str(e.get("event")).startswith("curriculum.")]
        outlines = [b for b in llm.bodies if '"design_course"' in b["messages"][-1]["content"]]
    assert [o["status"] for o in outcomes] == ["finished", "finished"]
    assert outcomes[0]["result"] == outcomes[1]["result"]
    assert sorted(events) == ["curriculum.cached", "curriculum.generated", "curriculum.waiting"]
    assert len(outlines) == 1


def test_the_lock_is_renewed_while_held_and_released_after(conn: redis.Redis) -> None:
    """A turn outlasting the lock's TTL keeps the lock (renewed); leaving the block releases it."""
    flight = SingleFlight(conn, wait_s=5, ttl_s=0.6, poll_s=0.05)
    waits: list[bool] = []
    with flight.turn("k", lambda: None, lambda: waits.append(True)) as hit:
        assert hit is None
        time.sleep(1.5)
        assert conn.exists(flight.lock_name("k")) == 1
        other = SingleFlight(conn, wait_s=0.2, ttl_s=0.6, poll_s=0.05)
        with other.turn("k", lambda: None, lambda: waits.append(True)) as second:
            assert second is None  # gave up waiting: generates without the lock
        assert waits == [True]
    assert conn.exists(flight.lock_name("k")) == 0


def test_a_graceful_shutdown_requeue_releases_the_jobs_lock(conn: redis.Redis, redis_url: str) -> None:
    """SIGTERM past the deadline puts the job back and frees its lock: the next worker need not wait."""
    with LLMServer(slow_s=30) as llm:
        llm.default = "slow"
        env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", CURRICULUM_GENERATOR="openai",
                        OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=llm.base_url, WORKER_SHUTDOWN_TIMEOUT="1")
        with workers(env) as (worker,):
            job_id = enqueue_plain(conn)
            worker.wait_for("job.started", job_id=job_id)
            deadline = time.monotonic() + 20
            while not conn.keys(keys.lock("*")) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert conn.keys(keys.lock("*")), "the job holds its generation lock"
            worker.terminate()
            assert worker.wait(timeout=30) == 0
            worker.wait_for("job.requeued", job_id=job_id, reason="shutdown")
    assert conn.keys(keys.LOCK + "*") == [], "lock and holder record released with the requeue"
    assert JsonJob.fetch(job_id, connection=conn).get_status() == "queued"
