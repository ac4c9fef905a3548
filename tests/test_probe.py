"""The health probe's measurements (``worker.probe``) against a real Redis filled through RQ's own API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from rq import Queue, Worker
from rq.executions import Execution
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from tests.workers import PlainSimpleWorker
from worker import probe
from worker.stalls import Leases

QUEUE = "curriculum_generation"
CANARY = "jobs.diagnostics.canary"


# -- helpers (shared with test_probe_cli) ----------------------------------------------------------


def json_queue(conn: redis.Redis, name: str = QUEUE) -> Queue:
    return Queue(name, connection=conn, serializer=JSONSerializer)


def register_worker(conn: redis.Redis, queues: list[str], state: str | None = None,
                    heartbeat_age_s: float = 0) -> Worker:
    """A worker registration as RQ writes it (birth, optional state), without running it."""
    worker = Worker(queues, name=f"w-{uuid.uuid4().hex[:8]}", connection=conn, serializer=JSONSerializer)
    worker.register_birth()
    if state is not None:
        worker.set_state(state)
    if heartbeat_age_s:
        conn.hset(worker.key, "last_heartbeat", utcformat(datetime.now(UTC) - timedelta(seconds=heartbeat_age_s)))
    return worker


def start_job(conn: redis.Redis, queue: Queue) -> tuple[Worker, Execution]:
    """Dequeue the head job and start it exactly as RQ's worker does before forking the work horse."""
    worker = register_worker(conn, [queue.name])
    dequeued = worker.dequeue_job_and_maintain_ttl(timeout=None)
    assert dequeued is not None
    job, _ = dequeued
    execution = worker.prepare_execution(job)
    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    worker.set_state("busy")
    Leases(conn, 60).grant(queue.name, execution.composite_key, worker.key)  # what our worker adds: its lease
    return worker, execution


def stall(conn: redis.Redis, queue: Queue, execution: Execution) -> None:
    """Expire an execution's lease, as if its worker stopped heartbeating long ago (leases are ours,
    in ``worker.stalls``; RQ's started-registry entry keeps its own, later, expiry)."""
    worker_key = Worker.redis_worker_namespace_prefix + execution.worker_name
    Leases(conn, -100).grant(queue.name, execution.composite_key, worker_key)


def age_head_job(conn: redis.Redis, queue: Queue, seconds: float) -> None:
    """Pretend the head job was enqueued ``seconds`` ago (RQ stores enqueued_at in the job hash)."""
    job = queue.fetch_job(queue.get_job_ids(0, 1)[0])
    assert job is not None
    job.enqueued_at = datetime.now(UTC) - timedelta(seconds=seconds)
    job.save()


def populate(conn: redis.Redis) -> dict[str, Any]:
    """One job in every state on QUEUE, plus workers in every condition; returns what to expect."""
    q = json_queue(conn)
    q.enqueue(CANARY)                 # finished
    q.enqueue(CANARY, -1)             # failed: canary refuses a negative sleep
    PlainSimpleWorker([q], connection=conn, serializer=JSONSerializer).work(burst=True)
    q.enqueue(CANARY)                 # started, live lease
    q.enqueue(CANARY)                 # started, then stalled
    _, _live = start_job(conn, q)
    _, stale = start_job(conn, q)
    stall(conn, q, stale)
    parent = q.enqueue(CANARY)        # queued (head)
    q.enqueue(CANARY, depends_on=parent)  # deferred until parent finishes
    q.enqueue_in(timedelta(hours=1), CANARY)  # scheduled
    q.enqueue(CANARY).cancel()        # canceled
    q.enqueue(CANARY)                 # queued
    register_worker(conn, [QUEUE], state="idle")
    register_worker(conn, ["elsewhere"], state="idle")  # serves another queue: not ours
    # In rq:workers:<queue> but its hash expired: a worker that died without unregistering.
    conn.sadd(f"rq:workers:{QUEUE}", "rq:worker:ghost")
    return {"queued": 2, "started": 2, "finished": 1, "failed": 1, "deferred": 1, "scheduled": 1,
            "canceled": 1, "stalled": 1}


def report_for(conn: redis.Redis, queues: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
    return probe.collect(conn, queues or [QUEUE], redis_url="redis://localhost:6379/0", tls=False, **kwargs)


class CountingRedis(redis.Redis):
    """A client that counts round trips: each direct command and each pipeline execution is one."""

    round_trips = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        original = pipe.execute

        def execute(*args: Any, **kwargs: Any) -> Any:
            self.round_trips += 1
            return original(*args, **kwargs)

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe


@pytest.fixture
def counting(redis_url: str) -> Iterator[CountingRedis]:
    client = CountingRedis.from_url(redis_url)
    yield client
    client.close()


# -- counts ------------------------------------------------------------------------------------------


def test_counts_every_registry_and_stalled(conn: redis.Redis) -> None:
    """Each registry's count, the stalled executions and the other queues' zeros are reported exactly."""
    expected = populate(conn)
    report = report_for(conn, [QUEUE, "empty"])
    counts = report["queues"][QUEUE]
    assert {key: counts[key] for key in expected} == expected
    empty = report["queues"]["empty"]
    assert {k: v for k, v in empty.items() if k != "metrics"} == {**dict.fromkeys(probe.COUNTS, 0),
                                                                  "scheduled_overdue": 0,
                                                                  "oldest_queued_age_s": None}
    assert empty["metrics"]["finished"] == 0 and empty["metrics"]["run_time_ms"] == {"p50": None, "p95": None}


def test_workers_counted_by_state_ignoring_expired_and_foreign(conn: redis.Redis) -> None:
    """Workers of the probed queues count by state; expired registrations and other queues' workers do not."""
    populate(conn)  # two busy (started jobs), one idle, one on another queue, one expired
    assert report_for(conn)["workers"] == {"total": 3, "busy": 2, "idle": 1}
    assert report_for(conn, ["elsewhere"])["workers"] == {"total": 1, "busy": 0, "idle": 1}


def test_report_has_exactly_the_contract_shape(conn: redis.Redis) -> None:
    """The report holds exactly the contract's keys (metrics addition included), with the server facts filled in."""
    report = report_for(conn)
    assert list(report) == ["status", "checked_at", "redis", "queues", "workers", "problems", "warnings",
                            "llm", "totals"]
    assert list(report["redis"]) == ["url", "latency_ms", "version", "maxmemory_policy", "tls", "evicted_keys"]
    assert list(report["queues"][QUEUE]) == [*probe.COUNTS, "scheduled_overdue", "oldest_queued_age_s", "metrics"]
    metrics = report["queues"][QUEUE]["metrics"]
    assert {"window_s", "finished", "failed", "throughput_per_min", "failure_rate", "run_time_ms",
            "wait_time_ms"} <= set(metrics)
    assert metrics["window_s"] == 3600 and metrics["failure_rate"] is None
    assert metrics["run_time_ms"] == metrics["wait_time_ms"] == {"p50": None, "p95": None}
    assert report["redis"]["version"] == conn.info("server")["redis_version"]
    assert report["redis"]["maxmemory_policy"] == "noeviction"
    assert report["status"] == "ok" and report["problems"] == []
    assert datetime.strptime(report["checked_at"], "%Y-%m-%dT%H:%M:%SZ")


def test_oldest_queued_age_is_the_head_jobs_wait(conn: redis.Redis) -> None:
    """oldest_queued_age_s is now minus the head job's enqueued_at; null when the queue is empty."""
    q = json_queue(conn)
    assert report_for(conn)["queues"][QUEUE]["oldest_queued_age_s"] is None
    q.enqueue(CANARY)
    q.enqueue(CANARY)
    age_head_job(conn, q, 300)
    assert report_for(conn)["queues"][QUEUE]["oldest_queued_age_s"] == pytest.approx(300, abs=5)


# -- read-only and round trips ----------------------------------------------------------------------


def _fill(conn: redis.Redis, jobs: int) -> None:
    q = json_queue(conn)
    with conn.pipeline() as pipe:
        q.enqueue_many([Queue.prepare_data(CANARY) for _ in range(jobs)], pipeline=pipe)
        pipe.execute()
    conn.zadd(f"rq:failed:{QUEUE}", {f"failed-{i}": i for i in range(jobs)})
    register_worker(conn, [QUEUE], state="idle")


@pytest.mark.parametrize("jobs", [10, 2000])
def test_three_round_trips_whatever_the_number_of_jobs(counting: CountingRedis, jobs: int) -> None:
    """collect() costs a PING and two pipelines, with 10 jobs as with 2000."""
    _fill(counting, jobs)
    counting.round_trips = 0
    report = report_for(counting)
    assert report["queues"][QUEUE]["queued"] == jobs
    assert report["queues"][QUEUE]["failed"] == jobs
    assert counting.round_trips == 3


def test_round_trips_do_not_grow_with_workers_or_queues(counting: CountingRedis) -> None:
    """More workers and queues lengthen the pipelines but add no round trip."""
    for _ in range(20):
        register_worker(counting, [QUEUE, "second"], state="busy")
    json_queue(counting, "second").enqueue(CANARY)
    counting.round_trips = 0
    report = report_for(counting, [QUEUE, "second", "third"])
    assert report["workers"]["busy"] == 20
    assert counting.round_trips == 3


# -- warnings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "private"), [
    ("localhost", True), ("127.0.0.1", True), ("::1", True), ("10.1.2.3", True), ("172.16.0.9", True),
    ("192.168.1.10", True), ("169.254.1.1", True), ("fd12:3456::1", True), ("fe80::1", True),
    ("red-cq1b2c3d4e5f", True), ("redis", True), ("cache.internal", True), ("redis.default.svc", True),
    ("8.8.8.8", False), ("2606:4700::1111", False), ("oregon-redis.render.com", False),
    ("my-db.upstash.io", False), ("100.64.0.1", False),
])
def test_private_host_rule(host: str, private: bool) -> None:
    """Loopback, RFC 1918, ULA, link-local and dotless or internal names are private; the rest public."""
    assert probe.is_private_host(host) is private


def test_plain_tcp_to_a_public_host_warns_but_tls_does_not() -> None:
    """Plain TCP to a public host is a warning; TLS to it, or plain TCP to a private one, is not."""
    public = "redis://default:***@oregon-redis.render.com:6379/0"
    assert any("plain TCP" in w for w in probe.transport_warnings(public, tls=False, latency_ms=1))
    assert probe.transport_warnings(public.replace("redis:", "rediss:"), tls=True, latency_ms=1) == []
    assert probe.transport_warnings("redis://red-abc123:6379", tls=False, latency_ms=1) == []


def test_slow_round_trip_warns() -> None:
    """A Redis round trip above 50 ms is a warning naming the value."""
    (warning,) = probe.transport_warnings("redis://localhost:6379", tls=False, latency_ms=80.5)
    assert "80.5 ms" in warning


def test_no_persistence_warns_and_unknown_does_not() -> None:
    """AOF off with no save points warns; a save setting the server will not reveal does not."""
    assert probe.server_warnings(probe.ServerFacts(policy="noeviction", aof=False, save=""))
    assert probe.server_warnings(probe.ServerFacts(policy="noeviction", aof=False, save=None)) == []
    assert probe.server_warnings(probe.ServerFacts(policy="noeviction", aof=True, save="")) == []


def test_workers_missing_or_silent_warn(conn: redis.Redis) -> None:
    """No live worker, or one not heard from for longer than the staleness limit, is a warning."""
    assert any("no live worker" in w for w in report_for(conn)["warnings"])
    register_worker(conn, [QUEUE], state="idle")
    assert not any("worker" in w for w in report_for(conn)["warnings"])
    register_worker(conn, [QUEUE], state="idle", heartbeat_age_s=600)
    assert any("1 of 2 worker(s) not heard from" in w for w in report_for(conn)["warnings"])


@pytest.fixture
def config_denied(redis_url: str, conn: redis.Redis) -> Iterator[redis.Redis]:
    """A client whose ACL user may not run CONFIG (as on managed Redis), on a server evicting keys."""
    conn.config_set("maxmemory-policy", "allkeys-lru")
    conn.acl_setuser("probe", enabled=True, passwords=["+probe-pw"], commands=["+@all", "-config"], keys=["*"])
    client = redis.Redis.from_url(redis_url, username="probe", password="probe-pw")
    try:
        yield client
    finally:
        client.close()
        conn.acl_deluser("probe")
        conn.config_set("maxmemory-policy", "noeviction")


def test_config_denied_falls_back_to_info(config_denied: redis.Redis) -> None:
    """Without CONFIG the policy comes from INFO (and warns); unknown persistence does not warn."""
    with pytest.raises(redis.ResponseError):
        config_denied.config_get("maxmemory-policy")
    report = report_for(config_denied)
    assert report["redis"]["maxmemory_policy"] == "allkeys-lru"
    assert any("maxmemory-policy is allkeys-lru" in w for w in report["warnings"])
    assert not any("persistence" in w for w in report["warnings"])


# -- thresholds -------------------------------------------------------------------------------------


def test_thresholds_name_queue_value_and_limit(conn: redis.Redis) -> None:
    """Each breached threshold is one problem naming the queue, the value and the limit."""
    populate(conn)
    age_head_job(conn, json_queue(conn), 300)
    limits = probe.Limits(max_queued=1, max_failed=0, max_age_s=60, max_stalled=0, min_workers=5)
    report = probe.evaluate(report_for(conn), limits)
    assert report["status"] == "unhealthy"
    problems = "\n".join(report["problems"])
    assert f"queue {QUEUE}: 2 jobs queued, above --max-queued 1" in problems
    assert f"queue {QUEUE}: 1 failed jobs, above --max-failed 0" in problems
    assert f"queue {QUEUE}: 1 stalled jobs, above --max-stalled 0" in problems
    assert "above --max-age 60" in problems
    assert "workers: 3 live, below --min-workers 5" in problems
    assert len(report["problems"]) == 5


def test_limits_at_the_value_are_not_breached(conn: redis.Redis) -> None:
    """A value equal to its threshold is healthy: limits are inclusive."""
    populate(conn)
    limits = probe.Limits(max_queued=2, max_failed=1, max_stalled=1, min_workers=3)
    assert probe.evaluate(report_for(conn), limits)["problems"] == []


def test_strict_turns_warnings_into_unhealthy(conn: redis.Redis) -> None:
    """Warnings alone leave status ok, unless strict."""
    report = report_for(conn)
    assert report["warnings"]  # the test server has no persistence and no worker
    assert probe.evaluate(report, probe.Limits())["status"] == "ok"
    assert probe.evaluate(report, probe.Limits(), strict=True)["status"] == "unhealthy"
