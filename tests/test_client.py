"""``worker.client`` against a real Redis: validation, status objects, waiting, idempotent enqueueing."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator

import pytest
import redis
from rq import Queue
from rq.job import JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, run_cli
from tests.llm_server import LLMServer
from tests.workers import WorkerProcess
from worker import client
from worker.errors import RequestInvalid
from worker.idempotency import idempotency_key
from worker.jsonjob import JsonJob

QUEUE = client.QUEUE
REQUEST = {"topic": "Graph theory", "duration_weeks": 2}


def run_burst(redis_url: str) -> None:
    result = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url), timeout=90)
    assert result.returncode == 0, result.stderr


def queued_ids(conn: redis.Redis) -> list[str]:
    return [raw.decode() for raw in conn.lrange(f"rq:queue:{QUEUE}", 0, -1)]


@contextlib.contextmanager
def running_worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A real ``curriculum-worker run`` for the duration of the block, stopped with SIGTERM."""
    worker = WorkerProcess(env)
    try:
        yield worker
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=30)
        worker.stop()


@pytest.fixture
def slow_llm() -> Iterator[LLMServer]:
    """A model API whose every reply takes a second, so a job stays started for a while."""
    with LLMServer(slow_s=1.0) as server:
        server.default = "slow"
        yield server


def test_invalid_request_names_each_field_and_enqueues_nothing(conn: redis.Redis) -> None:
    """RequestInvalid lists every bad field; nothing reaches the queue or the idempotency keys."""
    with pytest.raises(RequestInvalid) as caught:
        client.enqueue_curriculum(conn, {"topic": "x", "duration_weeks": 0, "colour": "red"})
    named = " ".join(caught.value.problems)
    for field in ("topic", "duration_weeks", "colour"):
        assert field in named
    assert queued_ids(conn) == []
    assert conn.keys("curriculum:idempotency:*") == []


def test_status_of_a_queued_job_has_every_field_with_absent_values_none(conn: redis.Redis) -> None:
    """job_status holds exactly the contract's fields; a queued job has no progress, result or error."""
    job_id, status = client.enqueue_curriculum(conn, REQUEST)
    assert status == "queued"
    assert client.job_status(conn, job_id) == {
        "job_id": job_id, "status": "queued", "progress": None, "result": None, "error": None,
    }


def test_status_of_a_failed_job_carries_the_reason(conn: redis.Redis, redis_url: str) -> None:
    """A failed job's status has the last line of its exception as error, and no result."""
    job = Queue(QUEUE, connection=conn, serializer=JSONSerializer).enqueue("jobs.diagnostics.canary", -1)
    run_burst(redis_url)
    outcome = client.job_status(conn, job.id)
    assert outcome["status"] == "failed" and outcome["result"] is None
    assert "sleep_s" in outcome["error"]


def test_wait_for_returns_the_result_when_the_job_finishes(conn: redis.Redis, redis_url: str) -> None:
    """wait_for returns once a real worker finishes the job, with result and final progress."""
    job_id, _ = client.enqueue_curriculum(conn, REQUEST)
    with running_worker(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json")):
        outcome = client.wait_for(conn, job_id, timeout_s=60, poll_s=0.05)
    assert outcome["status"] == "finished" and outcome["error"] is None
    assert outcome["result"]["topic"] == REQUEST["topic"]
    assert outcome["progress"]["done"] == outcome["progress"]["total"]


def test_wait_for_gives_up_after_the_timeout(conn: redis.Redis) -> None:
    """Without a worker, wait_for returns the still-queued status once timeout_s has passed."""
    job_id, _ = client.enqueue_curriculum(conn, REQUEST)
    assert client.wait_for(conn, job_id, timeout_s=0.3, poll_s=0.05)["status"] == "queued"


def test_duplicate_of_a_queued_job_returns_the_first_job_id(conn: redis.Redis) -> None:
    """A duplicate enqueue returns the first job's id, and only one job is queued."""
    first = client.enqueue_curriculum(conn, REQUEST)
    assert client.enqueue_curriculum(conn, dict(REQUEST)) == first
    assert queued_ids(conn) == [first[0]]


def test_requests_equal_after_normalization_are_duplicates(conn: redis.Redis) -> None:
    """Defaults spelled out, key order and surrounding blanks do not make a request new."""
    first, _ = client.enqueue_curriculum(conn, {"topic": "Graph theory", "duration_weeks": 2})
    spelled_out = {"duration_weeks": 2, "topic": "  Graph theory ", "level": "beginner", "language": "en",
                   "hours_per_week": 5.0, "objectives": []}
    assert client.enqueue_curriculum(conn, spelled_out)[0] == first
    assert client.enqueue_curriculum(conn, {**REQUEST, "level": "advanced"})[0] != first


def test_the_idempotency_key_expires(conn: redis.Redis) -> None:
    """The key is stored under curriculum:idempotency:<sha256> with the result TTL."""
    job_id, _ = client.enqueue_curriculum(conn, REQUEST)
    key = idempotency_key(client.validate_request(REQUEST))
    assert key.startswith("curriculum:idempotency:") and len(key.rsplit(":", 1)[1]) == 64
    assert conn.get(key) == job_id.encode()
    assert 0 < conn.ttl(key) <= client.RESULT_TTL_S


def test_no_dedupe_always_enqueues_a_new_job(conn: redis.Redis) -> None:
    """dedupe=False enqueues the same request again."""
    first, _ = client.enqueue_curriculum(conn, REQUEST)
    second, _ = client.enqueue_curriculum(conn, REQUEST, dedupe=False)
    assert second != first and queued_ids(conn) == [first, second]


def test_duplicate_of_a_started_job_returns_it(conn: redis.Redis, redis_url: str, slow_llm: LLMServer) -> None:
    """While a real worker runs the job, the same request returns that job, status started."""
    first, _ = client.enqueue_curriculum(conn, REQUEST)
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", CURRICULUM_GENERATOR="openai",
                    OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=slow_llm.base_url)
    with running_worker(env) as worker:
        worker.wait_for("job.started", job_id=first)
        assert client.enqueue_curriculum(conn, REQUEST) == (first, "started")
        assert client.wait_for(conn, first, timeout_s=60, poll_s=0.1)["status"] == "finished"
    assert queued_ids(conn) == []


@pytest.mark.parametrize("status", [JobStatus.SCHEDULED, JobStatus.DEFERRED])
def test_duplicate_of_a_waiting_job_returns_it(conn: redis.Redis, status: JobStatus) -> None:
    """Scheduled and deferred jobs will still run, so they stand in for a duplicate too."""
    first, _ = client.enqueue_curriculum(conn, REQUEST)
    JsonJob.fetch(first, connection=conn).set_status(status)
    assert client.enqueue_curriculum(conn, REQUEST) == (first, status.value)


def test_duplicate_of_a_finished_job_returns_its_result(conn: redis.Redis, redis_url: str) -> None:
    """After the job finished, the same request returns it as finished, result readable at once."""
    first, _ = client.enqueue_curriculum(conn, REQUEST)
    run_burst(redis_url)
    assert client.enqueue_curriculum(conn, REQUEST) == (first, "finished")
    assert client.job_status(conn, first)["result"]["topic"] == REQUEST["topic"]
    assert queued_ids(conn) == []


def test_a_finished_job_whose_result_expired_is_replaced(conn: redis.Redis, redis_url: str) -> None:
    """A finished job without a stored result cannot answer a duplicate: a new job is enqueued."""
    first, _ = client.enqueue_curriculum(conn, REQUEST)
    run_burst(redis_url)
    conn.delete(Result.get_key(first))
    second, status = client.enqueue_curriculum(conn, REQUEST)
    assert second != first and status == "queued"


def test_a_failed_first_job_lets_a_new_one_be_enqueued(conn: redis.Redis) -> None:
    """Failed, stopped or canceled: the next identical request gets a new job, and the key follows it."""
    job_id, _ = client.enqueue_curriculum(conn, REQUEST)
    for status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        JsonJob.fetch(job_id, connection=conn).set_status(status)
        new_id, new_status = client.enqueue_curriculum(conn, REQUEST)
        assert new_id != job_id and new_status == "queued"
        assert client.enqueue_curriculum(conn, REQUEST) == (new_id, "queued")
        job_id = new_id


def test_an_expired_first_job_is_replaced(conn: redis.Redis) -> None:
    """When the job the key points at no longer exists, a new job is enqueued."""
    first, _ = client.enqueue_curriculum(conn, REQUEST)
    JsonJob.fetch(first, connection=conn).delete()
    second, _ = client.enqueue_curriculum(conn, REQUEST)
    assert second != first and queued_ids(conn) == [second]


def test_concurrent_duplicates_get_one_job(redis_url: str, conn: redis.Redis) -> None:
    """Sixteen threads enqueueing the same request at once all get one job id; one job is queued."""
    count = 16
    barrier = threading.Barrier(count)
    ids: list[str] = []
    errors: list[BaseException] = []

    def enqueue() -> None:
        own = redis.Redis.from_url(redis_url)
        try:
            barrier.wait(timeout=10)
            ids.append(client.enqueue_curriculum(own, REQUEST)[0])
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=enqueue) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(ids) == count and len(set(ids)) == 1
    assert queued_ids(conn) == ids[:1]
    assert len(conn.keys("rq:job:*")) == 1
