"""The stall sweep's rules, driven directly against a real Redis with registry state made by RQ."""

from __future__ import annotations

import time

import redis
from rq.executions import Execution
from rq.job import JobStatus
from rq.worker import Worker

from jobs import keys
from tests.conftest import failure
from worker.jsonjob import JsonJob, JsonQueue
from worker.stalls import FENCE_ENDED_TTL_S, Leases, StallSweeper, fence_key, lease_key, started_registry_key

QUEUE = "curriculum_generation"
CONFIRM_S = 0.3


def taken_then_abandoned(conn: redis.Redis, status: JobStatus, lease_s: float = -5) -> str:
    """A job dequeued into the intermediate list with an execution whose lease ends ``lease_s`` from now."""
    queue = JsonQueue(QUEUE, connection=conn)
    job = queue.enqueue("jobs.diagnostics.canary", 0)
    conn.lmove(queue.key, f"{queue.key}:intermediate")
    with conn.pipeline() as pipe:
        execution = Execution.create(job, ttl=600, pipeline=pipe, worker_name="gone-worker")
        job.set_status(status, pipeline=pipe)
        pipe.execute()
    Leases(conn, lease_s).grant(QUEUE, execution.composite_key, Worker.redis_worker_namespace_prefix + "gone-worker")
    return str(job.id)


def sweeper(conn: redis.Redis, max_stalls: int = 1, orphan_after_s: float = 0.3) -> StallSweeper:
    return StallSweeper(conn, [QUEUE], max_stalls=max_stalls, confirm_s=CONFIRM_S, orphan_after_s=orphan_after_s)


def sweep_twice(conn: redis.Redis, max_stalls: int = 1) -> list[tuple[str, str, int]]:
    """Two sweeps, CONFIRM_S apart, as two workers would make them; their outcomes together."""
    first = sweeper(conn, max_stalls).sweep()
    time.sleep(CONFIRM_S + 0.05)
    outcomes = first + sweeper(conn, max_stalls).sweep() + sweeper(conn, max_stalls).sweep()
    return [(o.job_id, o.action, o.stalls) for o in outcomes]


def test_started_job_with_an_expired_lease_is_requeued_once(conn: redis.Redis) -> None:
    """Several sweepers: exactly one requeue, at the front, one stall counted, RQ's entry gone too."""
    job_id = taken_then_abandoned(conn, JobStatus.STARTED)
    assert sweep_twice(conn) == [(job_id, "requeued", 1)]
    assert conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [job_id.encode()]
    assert conn.llen(f"rq:queue:{QUEUE}:intermediate") == 0
    assert conn.zcard(started_registry_key(QUEUE)) == 0
    assert conn.zcard(lease_key(QUEUE)) == 0


def test_one_sweep_alone_only_marks_an_ended_lease(conn: redis.Redis) -> None:
    """The first sweep to find a lease ended takes nothing: a renewal before the second clears it."""
    job_id = taken_then_abandoned(conn, JobStatus.STARTED)
    assert sweeper(conn).sweep() == []
    member = conn.zrange(lease_key(QUEUE), 0, -1)[0].decode()
    assert Leases(conn, 30).renew(QUEUE, member), "the live worker still holds its lease"
    time.sleep(CONFIRM_S + 0.05)
    assert sweeper(conn).sweep() == []
    assert conn.hget(f"rq:job:{job_id}", "status") == b"started"


def test_lease_still_running_is_left_alone(conn: redis.Redis) -> None:
    """A job whose lease has not ended is not stalled, however long it has run."""
    taken_then_abandoned(conn, JobStatus.STARTED, lease_s=+30)
    assert sweep_twice(conn) == []
    assert conn.zcard(started_registry_key(QUEUE)) == 1


def test_past_the_stall_limit_the_job_fails_with_reason_and_ended_at(conn: redis.Redis) -> None:
    """With JOB_MAX_STALLS=0 the first stall fails the job: failed registry, reason, ended_at, one step."""
    job_id = taken_then_abandoned(conn, JobStatus.STARTED)
    assert [a for _, a, _ in sweep_twice(conn, max_stalls=0)] == ["failed"]
    job = JsonJob.fetch(job_id, connection=conn)
    assert job.get_status() == "failed"
    assert "stalled too many times" in failure(job)
    assert job.ended_at is not None
    redis_now = conn.time()[0]
    assert abs(job.ended_at.timestamp() - redis_now) < 60, "ended_at is Redis's time of the failure"
    assert conn.zscore(f"rq:failed:{QUEUE}", job_id) is not None
    assert conn.llen(f"rq:queue:{QUEUE}") == 0


def test_finished_job_left_with_a_lease_is_cleaned_not_rerun(conn: redis.Redis) -> None:
    """A finished job whose lease lingered is dropped from the leases and not requeued."""
    taken_then_abandoned(conn, JobStatus.FINISHED)
    assert [a for _, a, _ in sweep_twice(conn)] == ["cleaned"]
    assert conn.llen(f"rq:queue:{QUEUE}") == 0
    assert conn.zcard(lease_key(QUEUE)) == 0


def test_taken_but_never_started_goes_back_without_a_stall(conn: redis.Redis) -> None:
    """A job whose worker died between taking and starting it is requeued, no stall counted."""
    queue = JsonQueue(QUEUE, connection=conn)
    job = queue.enqueue("jobs.diagnostics.canary", 0)
    conn.lmove(queue.key, f"{queue.key}:intermediate")
    assert sweeper(conn, max_stalls=0).sweep() == []  # first seen
    time.sleep(0.35)
    outcomes = sweeper(conn, max_stalls=0).sweep()
    assert [o.action for o in outcomes] == ["orphan_requeued"]
    assert conn.lrange(queue.key, 0, -1) == [job.id.encode()]
    assert conn.hget(keys.budget(job.id), "stalls") is None


def test_orphan_mark_belongs_to_one_stay_in_the_intermediate_list(conn: redis.Redis) -> None:
    """A job that left the intermediate list and was taken again later is not mistaken for an orphan."""
    queue = JsonQueue(QUEUE, connection=conn)
    job = queue.enqueue("jobs.diagnostics.canary", 0)
    intermediate = f"{queue.key}:intermediate"
    conn.lmove(queue.key, intermediate)
    s = sweeper(conn, orphan_after_s=0.5)
    assert s.sweep() == []  # first seen, marked
    conn.lrem(intermediate, 0, job.id)  # a live worker started it...
    assert s.sweep() == []  # ...so the mark goes
    time.sleep(0.6)
    conn.lpush(intermediate, job.id)  # taken again later (a retry)
    assert s.sweep() == [], "an old mark must not make a fresh take look orphaned"
    time.sleep(0.6)
    assert [o.action for o in s.sweep()] == ["orphan_requeued"]
    assert conn.lrange(queue.key, 0, -1) == [job.id.encode()]


def test_orphan_behind_many_stale_entries_is_recovered_and_they_are_removed(conn: redis.Redis) -> None:
    """> 100 ids of jobs that are gone ahead of a real orphan: the orphan goes back, the rest is dropped."""
    queue = JsonQueue(QUEUE, connection=conn)
    intermediate = f"{queue.key}:intermediate"
    orphan = queue.enqueue("jobs.diagnostics.canary", 0)
    conn.lmove(queue.key, intermediate)
    conn.lpush(intermediate, *[f"expired-{i}" for i in range(250)])  # their job hashes expired
    s = sweeper(conn)
    first = s.sweep()
    assert sorted(o.job_id for o in first if o.action == "removed") == sorted(f"expired-{i}" for i in range(250))
    time.sleep(0.35)
    assert [(o.job_id, o.action) for o in s.sweep()] == [(orphan.id, "orphan_requeued")]
    assert conn.llen(intermediate) == 0
    assert conn.lrange(queue.key, 0, -1) == [orphan.id.encode()]


def test_a_run_keeps_its_fence_when_it_ends_and_loses_it_when_swept(conn: redis.Redis) -> None:
    """The fence names a run after the run released its own lease (it ended by itself), nobody once
    a sweep took the lease back, and the new run once it is granted again."""
    leases = Leases(conn, 30)
    job_id = taken_then_abandoned(conn, JobStatus.STARTED)
    member = conn.zrange(lease_key(QUEUE), 0, -1)[0].decode()
    assert conn.get(fence_key(job_id)) == member.encode()
    with conn.pipeline() as pipe:
        leases.release(pipe, QUEUE, member)
        pipe.execute()
    assert conn.get(fence_key(job_id)) == member.encode() and 0 < conn.ttl(fence_key(job_id)) <= FENCE_ENDED_TTL_S
    assert not leases.renew(QUEUE, member), "the lease is gone; the fence tells whose doing that was"

    swept = taken_then_abandoned(conn, JobStatus.STARTED)
    assert [action for _, action, _ in sweep_twice(conn)] == ["requeued"]
    assert conn.exists(fence_key(swept)) == 0, "a requeued job belongs to no run"
    leases.grant(QUEUE, f"{swept}:next-run", Worker.redis_worker_namespace_prefix + "next-worker")
    old = conn.zrange(lease_key(QUEUE), 0, -1)[0].decode()
    with conn.pipeline() as pipe:
        leases.release(pipe, QUEUE, f"{swept}:old-run")  # a stale run's release leaves the new fence
        pipe.execute()
    assert conn.get(fence_key(swept)) == old.encode() and conn.ttl(fence_key(swept)) > FENCE_ENDED_TTL_S
