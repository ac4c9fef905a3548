"""Real worker runs: what `stats --json` reports about finished, failed and retried jobs matches the jobs."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, run_cli
from tests.llm_server import LLMServer
from tests.workers import WorkerProcess
from worker import metrics
from worker.jsonjob import JsonQueue

QUEUE = "curriculum_generation"
API_KEY = "sk-metrics-test-key-77a1"


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


def start_worker(workers: list[WorkerProcess], redis_url: str, llm: LLMServer) -> WorkerProcess:
    # OPENAI_MAX_RETRIES=0: a 5xx is not retried inside the call, so it fails the job and the job is retried.
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1", JOB_RETRY_DELAY="1",
                    CURRICULUM_GENERATOR="openai", OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=llm.base_url,
                    OPENAI_MAX_RETRIES="0")
    worker = WorkerProcess(env)
    workers.append(worker)
    worker.wait_for("worker.started")
    return worker


def enqueue(conn: redis.Redis, func: str, *args: Any) -> str:
    return JsonQueue(QUEUE, connection=conn).enqueue(func, *args).id


def settle(conn: redis.Redis, ids: list[str], timeout: float = 90,
           final: tuple[JobStatus, ...] = (JobStatus.FINISHED, JobStatus.FAILED)) -> list[Job]:
    """Wait until every job is in a ``final`` status; the jobs as stored then."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = [Job.fetch(i, connection=conn, serializer=JSONSerializer) for i in ids]
        if all(j.get_status() in final for j in jobs):
            return jobs
        assert time.monotonic() < deadline, [j.get_status() for j in jobs]
        time.sleep(0.1)


def stats(redis_url: str) -> dict[str, Any]:
    result = run_cli("stats", "--json", env=clean_env(REDIS_URL=redis_url))
    return dict(json.loads(result.stdout))


def _ms(start: datetime | None, end: datetime | None) -> float:
    assert start is not None and end is not None
    return (end - start).total_seconds() * 1000


def assert_in_true_bucket(estimate: float | None, values: list[float], q: float) -> None:
    """The estimate lies in the histogram bucket that holds the true q-quantile (nearest rank)."""
    true = sorted(values)[max(0, math.ceil(q * len(values)) - 1)]
    index = metrics.LABELS.index(metrics.bucket_of(true))
    low = metrics.BOUNDS_MS[index - 1] if index else 0.0
    assert estimate is not None and low <= estimate <= metrics.BOUNDS_MS[index], (estimate, true, q)


def test_counts_rates_and_percentiles_match_the_jobs_across_a_restart(
    redis_url: str, conn: redis.Redis, llm: LLMServer, workers: list[WorkerProcess]
) -> None:
    """N finished, M failed, K retried (then finished), a restart, more jobs: stats --json agrees with each."""
    sleeps = [0.05, 0.05, 0.3, 0.3, 0.3, 1.2]
    first = [enqueue(conn, "jobs.diagnostics.canary", s) for s in sleeps]
    bad = [enqueue(conn, "jobs.diagnostics.canary", "soon") for _ in range(2)]
    refused = enqueue(conn, "os.getcwd")
    worker = start_worker(workers, redis_url, llm)
    done = settle(conn, first + bad)
    settle(conn, [refused])
    report = stats(redis_url)["queues"][QUEUE]["metrics"]
    assert (report["finished"], report["failed"], report["retried"], report["refused"]) == (6, 2, 0, 1)
    assert report["failure_rate"] == 0.25 and report["throughput_per_min"] == round(6 / 60, 3)
    runs = [_ms(j.started_at, j.ended_at) for j in done[:6]]
    waits = [_ms(j.enqueued_at, j.started_at) for j in done]
    for q, key in ((0.5, "p50"), (0.95, "p95")):
        assert_in_true_bucket(report["run_time_ms"][key], runs, q)
        assert_in_true_bucket(report["wait_time_ms"][key], waits, q)

    # K curricula whose first model call fails with HTTP 500: retried once each, then finished.
    llm.queue("500", "500")
    retried = [enqueue(conn, "jobs.curriculum.generate_curriculum", {"topic": f"Metrics topic {i}"}) for i in (1, 2)]
    # A retried job is "failed" for a moment between its attempts: wait for its last one, or the
    # started_at/ended_at read here would be the failed attempt's.
    done += settle(conn, retried, final=(JobStatus.FINISHED,))
    worker.terminate()
    assert worker.wait(30) == 0

    start_worker(workers, redis_url, llm)
    more = [enqueue(conn, "jobs.diagnostics.canary", 0.1) for _ in range(3)]
    more.append(enqueue(conn, "jobs.diagnostics.canary", -1))
    done += settle(conn, more)
    full = stats(redis_url)
    report = full["queues"][QUEUE]["metrics"]
    finished = [j for j in done if j.get_status() == JobStatus.FINISHED]
    assert (report["finished"], report["failed"], report["retried"]) == (6 + 2 + 3, 2 + 1, 2)
    assert report["failure_rate"] == round(3 / 14, 4)
    runs = [_ms(j.started_at, j.ended_at) for j in finished]
    for q, key in ((0.5, "p50"), (0.95, "p95")):
        assert_in_true_bucket(report["run_time_ms"][key], runs, q)
    lifetime = full["totals"]["queues"][QUEUE]
    assert (lifetime["finished"], lifetime["failed"], lifetime["retried"]) == (11, 3, 2)
    # Every model request the server answered was recorded: two errors, of the SDK's 500 class.
    assert full["llm"]["calls"] == llm.requests and full["llm"]["errors"] == 2
    assert full["llm"]["errors_by_kind"] == {"InternalServerError": 2}
    assert full["llm"]["latency_ms"]["p50"] is not None
    # Tokens per window beside the calls: exactly what the provider reported in its usage fields.
    assert (full["llm"]["prompt_tokens"], full["llm"]["completion_tokens"]) == (
        llm.usage["prompt_tokens"], llm.usage["completion_tokens"]) != (0, 0)
