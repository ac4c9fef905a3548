"""worker.storage.fail_by_id: the one way the service fails a job itself writes what RQ's failure writes."""

from __future__ import annotations

import time
import zlib

import redis
from rq.registry import FailedJobRegistry

from tests.conftest import failure
from worker.intake import take, takes_key
from worker.jsonjob import JsonJob, JsonQueue
from worker.storage import fail_by_id, queue_keys

QUEUE = "curriculum_generation"


def test_fail_by_id_writes_rqs_failure_in_one_step(conn: redis.Redis) -> None:
    """Status, ended_at, exc_info, failed registry (now + TTL), failure Result, TTLs, take count, the
    intermediate entry and the worker's failed count: all as RQ's own failure leaves them."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 0)
    taken = take(conn, [QUEUE], timeout=None)
    assert taken is not None and taken.job_id == job.id
    conn.hset("rq:worker:w1", "failed_job_count", 2)
    before = time.time()
    assert fail_by_id(conn, QUEUE, job.id, "JobRefused: because", worker_name="w1", ttl_s=600,
                      takes_key=takes_key(job.id), worker_key="rq:worker:w1")
    fetched = JsonJob.fetch(job.id, connection=conn)
    assert fetched.get_status() == "failed" and fetched.ended_at is not None
    assert before - 1 <= fetched.ended_at.timestamp() <= time.time() + 1
    assert zlib.decompress(conn.hget(job.key, "exc_info") or b"") == b"JobRefused: because"
    assert failure(fetched) == "JobRefused: because"
    latest = fetched.latest_result()
    assert latest is not None and latest.worker_name == "w1"
    registry = FailedJobRegistry(QUEUE, connection=conn)
    assert registry.get_job_ids() == [job.id]
    assert before + 599 <= (conn.zscore(registry.key, job.id) or 0) <= time.time() + 601
    assert 0 < conn.ttl(job.key) <= 600 and 0 < conn.ttl(f"rq:results:{job.id}") <= 600
    assert conn.llen(queue_keys(QUEUE)[1]) == 0 and conn.exists(takes_key(job.id)) == 0
    assert conn.hget("rq:worker:w1", "failed_job_count") == b"3"


def test_fail_by_id_of_a_vanished_job_only_clears_its_entries(conn: redis.Redis) -> None:
    """A job whose hash is gone: its intermediate entry and take count go; nothing is created."""
    conn.rpush(queue_keys(QUEUE)[1], "ghost")
    conn.set(takes_key("ghost"), 2)
    assert not fail_by_id(conn, QUEUE, "ghost", "JobRefused: x", worker_name="", ttl_s=60,
                          takes_key=takes_key("ghost"))
    assert conn.keys("*") == []
