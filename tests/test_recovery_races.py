"""Recovery races: a job with a foreign origin survives a crash; an OOM-killed horse frees its lock."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobs import keys
from tests.conftest import clean_env
from tests.llm_server import LLMServer
from tests.workers import WorkerProcess
from worker.jsonjob import JsonJob, JsonQueue

QUEUE = "curriculum_generation"


def start(workers: list[WorkerProcess], redis_url: str, **env: str) -> WorkerProcess:
    settings = {"REDIS_URL": redis_url, "LOG_FORMAT": "json", "WORKER_HEARTBEAT_INTERVAL": "1",
                "WORKER_STALL_TIMEOUT": "2", "CURRICULUM_GENERATOR": "offline", **env}
    worker = WorkerProcess(clean_env(**settings))
    workers.append(worker)
    return worker


@pytest.mark.slow
def test_a_job_with_a_foreign_origin_is_recovered_after_its_worker_dies(
        conn: redis.Redis, redis_url: str, workers: list[WorkerProcess]) -> None:
    """origin names a queue nobody serves; its worker is SIGKILLed mid-run: another worker's sweep
    recovers and finishes it, and no key anywhere is named after the foreign origin."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 2)
    conn.hset(job.key, "origin", "elsewhere-1")
    first = start(workers, redis_url)
    rewritten = first.wait_for("job.origin_rewritten", job_id=job.id, timeout=60)
    assert rewritten["origin"] == "elsewhere-1" and rewritten["queue"] == QUEUE
    first.wait_for("job.started", job_id=job.id)
    first.kill_hard()
    second = start(workers, redis_url)
    second.wait_for("job.requeued", job_id=job.id, reason="stalled", timeout=40)
    second.wait_for("job.finished", job_id=job.id, timeout=40)
    assert JsonJob.fetch(job.id, connection=conn).origin == QUEUE
    assert [key for key in conn.keys("*") if b"elsewhere" in key] == []


@pytest.mark.slow
def test_a_retry_after_an_oom_killed_horse_does_not_wait_for_its_own_lock(
        conn: redis.Redis, redis_url: str, workers: list[WorkerProcess]) -> None:
    """The horse holding the job's generation lock dies by SIGKILL (as from the OOM killer): the lock
    and its holder record go with it, so the retry generates at once instead of waiting 30 s."""
    with LLMServer(slow_s=30) as llm:
        llm.default = "slow"
        worker = start(workers, redis_url, CURRICULUM_GENERATOR="openai", OPENAI_API_KEY="sk-test",
                       OPENAI_BASE_URL=llm.base_url, JOB_RETRY_DELAY="1")
        queue = Queue(QUEUE, connection=conn, serializer=JSONSerializer)
        job_id = queue.enqueue("jobs.curriculum.generate_curriculum", {"topic": "Number theory"}).id
        worker.wait_for("job.started", job_id=job_id, timeout=60)
        deadline = time.monotonic() + 20
        while not conn.keys(keys.lock("*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert conn.keys(keys.lock("*")), "setup: the job holds its generation lock"
        os.kill(worker.work_horse(), signal.SIGKILL)
        failed = worker.wait_for("job.failed", job_id=job_id, timeout=30)
        assert failed["will_retry"] and failed["exc_type"] == "WorkHorseKilled"
        assert conn.keys(keys.LOCK + "*") == [], "lock and holder record released with the dead horse"
        worker.wait_for("job.started", job_id=job_id, count=2, timeout=30)
        time.sleep(1)
        assert not worker.events("curriculum.waiting"), "the retry did not wait for its own dead attempt's lock"
