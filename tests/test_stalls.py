"""The stall sweep's rules, driven directly against a real Redis with registry state made by RQ."""

from __future__ import annotations

import redis
from rq.executions import Execution
from rq.job import JobStatus

from worker.jsonjob import JsonQueue
from worker.stalls import StallSweeper, started_registry_key

QUEUE = "curriculum_generation"


def taken_then_abandoned(conn: redis.Redis, status: JobStatus, lease_s: int = -5) -> str:
    """A job dequeued into the intermediate list with an execution whose lease ended in the past."""
    queue = JsonQueue(QUEUE, connection=conn)
    job = queue.enqueue("jobs.diagnostics.canary", 0)
    conn.lmove(queue.key, f"{queue.key}:intermediate")
    with conn.pipeline() as pipe:
        Execution.create(job, ttl=60, pipeline=pipe, worker_name="gone-worker")
        job.set_status(status, pipeline=pipe)
        pipe.execute()
    for member in conn.zrange(started_registry_key(QUEUE), 0, -1):
        conn.zadd(started_registry_key(QUEUE), {member: conn.time()[0] + lease_s})  # lease ended
    return str(job.id)


def sweeper(conn: redis.Redis, max_stalls: int = 1) -> StallSweeper:
    return StallSweeper(conn, [QUEUE], max_stalls=max_stalls, orphan_after_s=3)


def test_started_job_with_an_expired_lease_is_requeued_once(conn: redis.Redis) -> None:
    """Two sweepers at once: exactly one requeue, at the front, one stall counted."""
    job_id = taken_then_abandoned(conn, JobStatus.STARTED)
    outcomes = sweeper(conn).sweep() + sweeper(conn).sweep()
    assert [(o.job_id, o.action, o.stalls, o.worker) for o in outcomes] == [(job_id, "requeued", 1, "")]
    assert conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [job_id.encode()]
    assert conn.llen(f"rq:queue:{QUEUE}:intermediate") == 0
    assert conn.zcard(started_registry_key(QUEUE)) == 0


def test_lease_still_running_is_left_alone(conn: redis.Redis) -> None:
    """A job whose lease has not ended is not stalled, however long it has run."""
    taken_then_abandoned(conn, JobStatus.STARTED, lease_s=+30)
    assert sweeper(conn).sweep() == []
    assert conn.zcard(started_registry_key(QUEUE)) == 1


def test_past_the_stall_limit_the_job_fails(conn: redis.Redis) -> None:
    """With JOB_MAX_STALLS=0 the first stall fails the job into the failed registry."""
    job_id = taken_then_abandoned(conn, JobStatus.STARTED)
    outcomes = sweeper(conn, max_stalls=0).sweep()
    assert [o.action for o in outcomes] == ["failed"]
    assert conn.hget(f"rq:job:{job_id}", "status") == b"failed"
    assert conn.zscore(f"rq:failed:{QUEUE}", job_id) is not None
    assert conn.llen(f"rq:queue:{QUEUE}") == 0


def test_finished_job_left_in_the_registry_is_cleaned_not_rerun(conn: redis.Redis) -> None:
    """A finished job whose registry entry lingered is removed from the registry and not requeued."""
    taken_then_abandoned(conn, JobStatus.FINISHED)
    outcomes = sweeper(conn).sweep()
    assert [o.action for o in outcomes] == ["cleaned"]
    assert conn.llen(f"rq:queue:{QUEUE}") == 0
    assert conn.zcard(started_registry_key(QUEUE)) == 0


def test_taken_but_never_started_goes_back_without_a_stall(conn: redis.Redis) -> None:
    """A job whose worker died between taking and starting it is requeued, no stall counted."""
    job_id = taken_then_abandoned(conn, JobStatus.QUEUED)
    outcomes = sweeper(conn, max_stalls=0).sweep()
    assert [o.action for o in outcomes] == ["orphan_requeued"]
    assert conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [job_id.encode()]
    assert conn.hget(f"rq:job:{job_id}", "cw_stalls") is None


def test_orphan_mark_belongs_to_one_stay_in_the_intermediate_list(conn: redis.Redis) -> None:
    """A job that left the intermediate list and was taken again later is not mistaken for an orphan."""
    queue = JsonQueue(QUEUE, connection=conn)
    job = queue.enqueue("jobs.diagnostics.canary", 0)
    intermediate = f"{queue.key}:intermediate"
    conn.lmove(queue.key, intermediate)
    s = sweeper(conn)
    t0 = 1_000_000.0
    assert s.sweep(now=t0) == []  # first seen, marked
    conn.lrem(intermediate, 0, job.id)  # a live worker started it...
    assert s.sweep(now=t0 + 5) == []  # ...so the mark goes
    conn.lpush(intermediate, job.id)  # taken again much later (a retry)
    assert s.sweep(now=t0 + 70) == [], "an old mark must not make a fresh take look orphaned"
    outcomes = s.sweep(now=t0 + 74)
    assert [o.action for o in outcomes] == ["orphan_requeued"]
    assert conn.lrange(queue.key, 0, -1) == [job.id.encode()]
