"""worker.storage: the one fail-by-id, used by vetting, intake and the sweep, writes what RQ's failure writes."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rq.executions import Execution
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.worker import Worker

from tests.conftest import failure
from worker import vetting
from worker.intake import fail_unread, give_back, take, takes_key
from worker.jsonjob import JsonJob, JsonQueue
from worker.stalls import Leases, StallSweeper, fence_key
from worker.storage import fail_by_id, queue_keys, requeue

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


# --- one failure, three callers --------------------------------------------------------------------

def enqueued(conn: redis.Redis) -> Job:
    """A job whose enqueuer asked for its own failure TTL: the worker's JOB_FAILURE_TTL wins everywhere."""
    return JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 0, failure_ttl=60)

def failed_by_vetting(conn: redis.Redis, ttl_s: int) -> str:
    queue = JsonQueue(QUEUE, connection=conn)
    job = enqueued(conn)
    taken = take(conn, [QUEUE], timeout=None)
    assert taken is not None and taken.job_id == job.id
    vetting.refuse(conn, job, queue, "callback not allowed", worker_name="w1", worker_key="rq:worker:w1",
                   ttl_s=ttl_s, takes_key=takes_key(job.id))
    return str(job.id)


def failed_by_intake(conn: redis.Redis, ttl_s: int) -> str:
    job = enqueued(conn)
    taken = take(conn, [QUEUE], timeout=None)
    assert taken is not None and taken.job_id == job.id
    fail_unread(conn, QUEUE, job.id, "poison: taken 3 times", worker_name="w1", ttl_s=ttl_s)
    return str(job.id)


def failed_by_the_sweep(conn: redis.Redis, ttl_s: int) -> str:
    """A started job whose lease ended, past its stall limit (0): the sweep fails it."""
    queue = JsonQueue(QUEUE, connection=conn)
    job = enqueued(conn)
    conn.lmove(queue.key, queue.intermediate_queue_key)
    with conn.pipeline() as pipe:
        execution = Execution.create(job, ttl=600, pipeline=pipe, worker_name="w1")
        job.prepare_for_execution("w1", pipeline=pipe)
        pipe.execute()
    Leases(conn, -5).grant(QUEUE, execution.composite_key, Worker.redis_worker_namespace_prefix + "w1")
    sweeper = StallSweeper(conn, [QUEUE], max_stalls=0, confirm_s=0, orphan_after_s=600, failure_ttl_s=ttl_s)
    outcomes = sweeper.sweep() + sweeper.sweep()
    assert [(o.job_id, o.action) for o in outcomes] == [(job.id, "failed")]
    return str(job.id)


FAILERS = {"vetting": failed_by_vetting, "intake": failed_by_intake, "sweep": failed_by_the_sweep}


def expiry(conn: redis.Redis, key: str, ttl_s: int) -> str:
    """'kept' (no TTL), 'ttl' (the failure TTL, just set) or the TTL found."""
    found = conn.ttl(key)
    return "kept" if found == -1 else "ttl" if ttl_s - 5 < found <= ttl_s else str(found)


def failure_shape(conn: redis.Redis, fail: Callable[[redis.Redis, int], str], ttl_s: int) -> dict[str, Any]:
    """What one failure left in Redis, in terms that do not depend on the job or the moment."""
    conn.flushdb()
    job_id = fail(conn, ttl_s)
    hash_after = {k.decode(): v for k, v in conn.hgetall(Job.key_for(job_id)).items()}
    job = JsonJob.fetch(job_id, connection=conn)
    seconds, micros = conn.time()
    now = seconds + micros / 1e6
    assert job.ended_at is not None and now - 2 <= job.ended_at.timestamp() <= now, "ended_at on Redis's clock"
    entries = conn.xrange(f"rq:results:{job_id}")
    score = conn.zscore(FailedJobRegistry(QUEUE, connection=conn).key, job_id)
    assert score is not None
    return {
        "status": hash_after["status"],
        "failure fields": {"status", "ended_at", "exc_info"} <= set(hash_after),
        "exc_info": zlib.decompress(hash_after["exc_info"]).decode().split(":")[0],
        "result fields": {k.decode() for k in entries[-1][1]} - {"execution_id"},
        "results": len(entries),
        "job ttl": expiry(conn, Job.key_for(job_id), ttl_s),
        "results ttl": expiry(conn, f"rq:results:{job_id}", ttl_s),
        "registry score": score == float("inf") if ttl_s < 0 else now + ttl_s - 2 <= score <= now + ttl_s,
        "in lists": conn.llen(f"rq:queue:{QUEUE}") + conn.llen(f"rq:queue:{QUEUE}:intermediate")
        + conn.zcard(f"rq:wip:{QUEUE}"),
    }


@pytest.mark.parametrize("ttl_s", [600, -1])
def test_the_sweep_vetting_and_intake_fail_a_job_alike(conn: redis.Redis, ttl_s: int) -> None:
    """Failed by the sweep, by vetting or by intake: the same job fields, Result fields, TTLs (a
    negative one keeps the job), registry score and Redis clock; only the sweep names an execution."""
    shapes = {name: failure_shape(conn, fail, ttl_s) for name, fail in FAILERS.items()}
    assert shapes["vetting"]["status"] == b"failed"
    assert shapes["vetting"]["result fields"] == {"type", "worker_name", "exc_string"}
    assert shapes["sweep"] == shapes["vetting"] | {"exc_info": "JobStalled"}
    assert shapes["intake"] == shapes["vetting"] | {"exc_info": "JobRefused"}
    assert shapes["vetting"]["exc_info"] == "JobRefused"
    assert shapes["vetting"]["job ttl"] == ("kept" if ttl_s < 0 else "ttl")
    assert shapes["vetting"]["results ttl"] == ("kept" if ttl_s < 0 else "ttl")
    assert all(shape["registry score"] for shape in shapes.values())
    assert all(shape["in lists"] == 0 and shape["results"] == 1 for shape in shapes.values())


def test_a_job_given_back_is_requeued_at_the_front_and_uncounted(conn: redis.Redis) -> None:
    """storage.requeue for a job taken but not started: front of its queue, out of the intermediate
    list, its take uncounted in the same step; a take count that is gone is not created."""
    queue = JsonQueue(QUEUE, connection=conn)
    job, other = enqueued(conn), enqueued(conn)
    taken = take(conn, [QUEUE], timeout=None)
    assert taken is not None and taken.job_id == job.id and taken.takes == 1
    give_back(conn, QUEUE, job.id)
    assert conn.lrange(queue.key, 0, -1) == [job.id.encode(), other.id.encode()]
    assert conn.llen(queue.intermediate_queue_key) == 0 and conn.get(takes_key(job.id)) == b"0"
    conn.delete(takes_key(job.id))
    assert requeue(conn, QUEUE, job.id, takes_key=takes_key(job.id))
    assert conn.exists(takes_key(job.id)) == 0 and conn.llen(queue.key) == 2


def test_a_requeue_by_a_run_that_lost_its_fence_does_nothing(conn: redis.Redis) -> None:
    """storage.requeue of a started job checks its run against the fence: a stale run's requeue is refused."""
    job = enqueued(conn)
    queue = JsonQueue(QUEUE, connection=conn)
    conn.lmove(queue.key, queue.intermediate_queue_key)
    conn.set(fence_key(job.id), f"{job.id}:new-run")
    assert not requeue(conn, QUEUE, job.id, run=f"{job.id}:old-run", fence_key=fence_key(job.id))
    assert conn.llen(queue.key) == 0 and conn.llen(queue.intermediate_queue_key) == 1
    assert requeue(conn, QUEUE, job.id, run=f"{job.id}:new-run", fence_key=fence_key(job.id))
    assert conn.lrange(queue.key, 0, -1) == [job.id.encode()] and conn.exists(fence_key(job.id)) == 0
