"""Job metrics in Redis: windows add up exactly, memory stays bounded, the probe reads them read-only."""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from jobs import context
from tests.conftest import run_cli
from tests.servers import RedisServer, free_port
from tests.test_probe import CountingRedis, report_for
from tests.test_probe_cli import (
    SENTINEL,
    Monitor,
    _command_calls,
    digest,
    env_for,
    prometheus_samples,
    unchanged_but_expired,
)
from worker import events, metrics, metrics_window
from worker.jsonjob import JsonQueue
from worker.metrics import Recorder

QUEUE = "curriculum_generation"
OUTCOME_WEIGHTS = {"finished": 90, "failed": 4, "retried": 3, "stalled": 1, "refused": 1, "requeued": 1}


def window_counts(conn: redis.Redis, window: str, now: float) -> dict[str, Any]:
    """The probe's own read of one window, at a chosen ``now``."""
    window_s = metrics_window.WINDOWS_S[window]
    pipe = conn.pipeline(transaction=False)
    metrics_window.add_reads(pipe, [QUEUE], window_s, now)
    per_queue, _ = metrics_window.take_reads(pipe.execute(), [QUEUE], window_s, now)
    return metrics_window.queue_metrics(per_queue[QUEUE][0], window_s)


def record_simulated(conn: redis.Redis, jobs: int, start: float, end: float, seed: int = 7) -> dict[str, int]:
    """``jobs`` outcomes spread evenly over [start, end), written through the recorder's pipeline writes."""
    rng = random.Random(seed)
    counts = dict.fromkeys(OUTCOME_WEIGHTS, 0)
    pipe = conn.pipeline(transaction=False)
    for i in range(jobs):
        outcome = rng.choices(list(OUTCOME_WEIGHTS), list(OUTCOME_WEIGHTS.values()))[0]
        run = 10 ** rng.uniform(0, 6.9) if outcome == "finished" else None
        wait = 10 ** rng.uniform(0, 6.9) if outcome in ("finished", "failed", "retried") else None
        metrics.add_counts(pipe, metrics.job_base(QUEUE), *metrics.job_counts(outcome, run, wait),
                           start + (end - start) * i / jobs)
        counts[outcome] += 1
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.execute()
    return counts


# -- windows --------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_s", [0, 59, 60 * 37 + 5, 3599])
def test_windows_count_exactly_the_minutes_they_cover(conn: redis.Redis, offset_s: int) -> None:
    """One job per minute for 26 h: each window holds exactly its minutes' jobs, at any point of the hour."""
    now = (time.time() // 3600 + 1) * 3600 + offset_s  # ahead of the clock: no bucket has expired yet
    clock_now = [0.0]
    recorder = Recorder(clock=lambda: clock_now[0])
    first_minute = int(now // 60) - 26 * 60
    for minute in range(first_minute, int(now // 60) + 1):
        clock_now[0] = minute * 60 + 30
        recorder.job(conn, QUEUE, "finished", run_ms=150, wait_ms=30)
    for window, minutes in (("5m", 5), ("1h", 60), ("24h", 1440)):
        got = window_counts(conn, window, now)
        assert got["finished"] == minutes, window
        assert got["throughput_per_min"] == 1
        assert 100 < got["run_time_ms"]["p50"] <= 200 and 20 < got["wait_time_ms"]["p95"] <= 50


def test_window_reads_are_the_same_at_every_point_of_the_hour() -> None:
    """The keys read per window do not depend on the minute: 5 for 5m, 60 for 1h, 84 for 24h."""
    base = metrics.job_base(QUEUE)
    for window, expected in (("5m", 5), ("1h", 60), ("24h", 84)):
        sizes = {len(metrics_window.window_keys(base, metrics_window.WINDOWS_S[window], 3600 * 500_000 + s))
                 for s in range(0, 3600, 60)}
        assert sizes == {expected}, window


def test_percentiles_interpolate_inside_the_right_bucket() -> None:
    """p50/p95 lie inside the bucket that holds the true percentile, and are None without data."""
    values = [random.Random(3).uniform(1, 1_000_000) for _ in range(1000)]
    counts: dict[str, float] = {}
    for value in values:
        label = f"run:{metrics.bucket_of(value)}"
        counts[label] = counts.get(label, 0) + 1
    for q in (0.5, 0.95):
        true = sorted(values)[int(q * len(values)) - 1]
        index = metrics.LABELS.index(metrics.bucket_of(true))
        low = metrics.BOUNDS_MS[index - 1] if index else 0
        estimate = metrics_window.quantile(q, metrics_window.buckets(counts, "run"))
        assert estimate is not None and low <= estimate <= metrics.BOUNDS_MS[index]
    assert metrics_window.quantile(0.5, [0.0] * len(metrics.BOUNDS_MS)) is None


# -- memory ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[str, dict[str, int]]]:
    """A server of its own with 100,000 recorded jobs: 80,000 over the last 26 hours, 20,000 over the 30 days before."""
    server = RedisServer().start()
    client = server.client()
    now = time.time()
    old = record_simulated(client, 20_000, now - 31 * 86400, now - 26 * 3600, seed=1)
    recent = record_simulated(client, 80_000, now - 26 * 3600, now, seed=2)
    yield server.url, {k: old[k] + recent[k] for k in old}
    client.close()
    server.stop()


def test_memory_stays_within_the_documented_bound(loaded: tuple[str, dict[str, int]]) -> None:
    """After 100,000 jobs over 31 days: every key expires, key counts and MEMORY USAGE are within the bound."""
    url, _ = loaded
    conn = redis.Redis.from_url(url)
    keys = list(conn.scan_iter(match=f"{metrics.PREFIX}:*", count=1000))
    kinds: dict[str, int] = {}
    used = 0
    for key in keys:
        ttl = conn.ttl(key)
        size = conn.memory_usage(key, samples=0)
        if ttl == -2 or size is None:
            continue  # a bucket at the edge of its lifetime expired between SCAN and now: that is the point
        assert ttl >= 0, key  # -1 would mean no expiry
        kind = key.decode().rsplit(":", 2)[-2] if not key.endswith(b":total") else "total"
        kinds[kind] = kinds.get(kind, 0) + 1
        assert size <= metrics.MAX_HASH_BYTES, (key, size)
        used += size
    assert kinds["m"] <= metrics.MINUTE_KEYS and kinds["h"] <= metrics.HOUR_KEYS and kinds["total"] == 1
    assert kinds["m"] > 26 * 60 - 60 and kinds["h"] > 29 * 24  # the old buckets expired, the recent ones did not
    assert used <= metrics.MEMORY_BOUND_BYTES
    conn.close()


def test_a_hash_with_every_field_set_fits_max_hash_bytes(conn: redis.Redis) -> None:
    """The largest possible bucket (every outcome, every run and wait bucket) is under MAX_HASH_BYTES."""
    pipe = conn.pipeline(transaction=False)
    for outcome in metrics.OUTCOMES:
        for bound in metrics.BOUNDS_MS:
            value = 10 * metrics.BOUNDS_MS[-2] if bound == float("inf") else bound
            metrics.add_counts(pipe, metrics.job_base(QUEUE), *metrics.job_counts(outcome, value, value), 1.0e9)
    pipe.execute()
    key = metrics.minute_key(metrics.job_base(QUEUE), int(1.0e9 // 60))
    # Written in 2001: EXPIREAT in the past deleted it at once, as it would a real bucket that old.
    assert not conn.exists(key)
    now = time.time()
    pipe = conn.pipeline(transaction=False)
    for outcome in metrics.OUTCOMES:
        for bound in metrics.BOUNDS_MS:
            value = 10 * metrics.BOUNDS_MS[-2] if bound == float("inf") else bound
            metrics.add_counts(pipe, metrics.job_base(QUEUE), *metrics.job_counts(outcome, value, value), now)
    pipe.execute()
    key = metrics.minute_key(metrics.job_base(QUEUE), int(now // 60))
    assert conn.hlen(key) == len(metrics.OUTCOMES) + 2 * len(metrics.BOUNDS_MS)
    assert conn.object("encoding", key) == b"listpack"
    assert conn.memory_usage(key, samples=0) <= metrics.MAX_HASH_BYTES


# -- the probe ------------------------------------------------------------------------------------


def test_probe_round_trips_and_commands_same_at_10_and_100000_jobs(loaded: tuple[str, dict[str, int]],
                                                                  redis_url: str) -> None:
    """The same round trips and INFO commandstats at 10 recorded jobs (own server) and at 100,000."""
    small = redis.Redis.from_url(redis_url)
    record_simulated(small, 10, time.time() - 3000, time.time())
    results, round_trips = [], []
    for url in (redis_url, loaded[0]):
        counting = CountingRedis.from_url(url)
        report_for(counting)
        round_trips.append(counting.round_trips)
        conn = redis.Redis.from_url(url)
        before = _command_calls(conn)
        assert run_cli("stats", "--json", "--window", "24h", env=env_for(url)).returncode == 0
        after = _command_calls(conn)
        results.append({k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)})
        conn.close()
        counting.close()
    assert results[0] == results[1]
    assert round_trips[0] == round_trips[1] <= 3
    assert results[0]["cmdstat_hgetall"] == 2 * 85  # queue and model calls: 60 minutes + 24 hours + lifetime
    small.close()


def test_probe_with_metrics_writes_nothing(loaded: tuple[str, dict[str, int]]) -> None:
    """Every key is byte-identical after stats in each format and window; MONITOR saw only reads."""
    url, _ = loaded
    conn = redis.Redis.from_url(url)
    conn.set("probe-ttl-marker", 1, ex=3600)  # digest() compares TTL presence too
    before = digest(conn)
    with Monitor(url) as watching:
        for args in (["--window", "5m"], ["--json", "--window", "24h"], ["--prometheus"]):
            run_cli("stats", *args, "--max-failure-rate", "0", "--max-p95-wait", "0", env=env_for(url))
        conn.echo(SENTINEL)
        watching.thread.join(5)
    assert unchanged_but_expired(before, digest(conn))
    seen = {command.split()[0].strip('"').upper() for command in watching.commands}
    assert "HGETALL" in seen
    assert seen <= {"PING", "INFO", "SUNION", "LLEN", "LINDEX", "ZCARD", "ZCOUNT", "HMGET", "HGETALL", "HELLO",
                    "CLIENT", "CONFIG", "SELECT", "AUTH", "TIME", "SMEMBERS"}, seen
    conn.delete("probe-ttl-marker")
    conn.close()


def test_stats_reports_the_recorded_day(loaded: tuple[str, dict[str, int]]) -> None:
    """stats --window 24h counts the jobs recorded in the last 24 h; lifetime counters hold all 100,000."""
    url, recorded = loaded
    _, report = _stats(url, "--window", "24h")
    metrics_24h = report["queues"][QUEUE]["metrics"]
    # 80,000 spread evenly over 26 h: 24/26 of them (give or take the edge minute) are in the window.
    assert abs(metrics_24h["finished"] + metrics_24h["failed"] + metrics_24h["retried"]
               - (80_000 * 24 / 26) * (97 / 100)) < 80_000 * 0.02
    totals = report["totals"]["queues"][QUEUE]
    assert {outcome: totals.get(outcome, 0) for outcome in recorded} == recorded


def _stats(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    import json

    result = run_cli("stats", "--json", *args, env=env_for(url))
    return result.returncode, json.loads(result.stdout)


def test_thresholds_on_rates_exit_1(conn: redis.Redis, redis_url: str) -> None:
    """--max-failure-rate and --max-p95-wait turn into problems naming the queue, value and limit (exit 1)."""
    recorder = Recorder()
    for _ in range(3):
        recorder.job(conn, QUEUE, "finished", run_ms=100, wait_ms=4000)
    recorder.job(conn, QUEUE, "failed", wait_ms=4000)
    code, report = _stats(redis_url, "--max-failure-rate", "0.2", "--max-p95-wait", "2")
    assert code == 1
    assert report["problems"] == [
        f"queue {QUEUE}: failure rate 0.25 over the last 60 min, above --max-failure-rate 0.2",
        f"queue {QUEUE}: p95 wait {report['queues'][QUEUE]['metrics']['wait_time_ms']['p95'] / 1000:g} s "
        "over the last 60 min, above --max-p95-wait 2",
    ]
    assert _stats(redis_url, "--max-failure-rate", "0.25", "--max-p95-wait", "5")[0] == 0


# -- Prometheus -----------------------------------------------------------------------------------


def test_counters_never_go_down_across_scrapes(conn: redis.Redis, redis_url: str) -> None:
    """Every _total counter and histogram bucket/count/sum is >= its value in the previous scrape."""
    recorder = Recorder()
    scrapes = []
    for round_ in range(3):
        for i in range(5 * round_ + 1):
            recorder.job(conn, QUEUE, random.choice(metrics.OUTCOMES), run_ms=10.0 * i + 1, wait_ms=5.0 * i + 1)
            recorder.model_call(conn, 200.0 * i + 1, "RateLimitError" if i % 2 else None)
        result = run_cli("stats", "--prometheus", env=env_for(redis_url))
        types, samples = prometheus_samples(result.stdout)
        monotonic = {name for name, kind in types.items() if kind in ("counter", "histogram")}
        scrapes.append({k: v for k, v in samples.items()
                        if any(k[0].startswith(name) for name in monotonic) and not k[0].endswith("_created")})
    assert scrapes[0] and set(scrapes[0]) <= set(scrapes[1]) <= set(scrapes[2])
    for earlier, later in itertools.pairwise(scrapes):
        assert all(later[key] >= value for key, value in earlier.items())
    assert scrapes[2][("curriculum_worker_llm_calls_total", ())] == 1 + 6 + 11


# -- recording never hurts a job ------------------------------------------------------------------


def test_redis_errors_are_swallowed_and_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    """Recording against a dead Redis raises nothing and logs one metrics.unavailable line per interval."""
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="worker.metrics"):
        for _ in range(5):
            recorder.job(dead, QUEUE, "finished", run_ms=1, wait_ms=1)
            recorder.model_call(dead, 1, None)
    assert [r.event for r in caplog.records] == ["metrics.unavailable"]  # type: ignore[attr-defined]


def test_disabled_recorder_writes_nothing(conn: redis.Redis) -> None:
    """WORKER_METRICS=false: the recorder sends no command at all."""
    before = _command_calls(conn)
    Recorder(enabled=False).job(conn, QUEUE, "finished", run_ms=1, wait_ms=1)
    after = _command_calls(conn)
    assert {k for k, v in after.items() if v != before.get(k)} == {"cmdstat_info"}
    assert not list(conn.scan_iter(match=f"{metrics.PREFIX}:*"))


# -- the lifecycle hooks --------------------------------------------------------------------------


def test_lifecycle_events_count_their_outcome(conn: redis.Redis) -> None:
    """job_stalled, job_requeued and job_refused each count once under the queue they name."""
    job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.diagnostics.canary", 0)
    events.job_stalled(job, worker="w1", stalls=1, queue=QUEUE)
    events.job_requeued(job, reason="stalled", queue=QUEUE)
    events.job_requeued(job, reason="shutdown")
    events.job_refused(job, QUEUE, "not registered")
    got = window_counts(conn, "5m", time.time())
    assert (got["stalled"], got["requeued"], got["refused"], got["finished"]) == (1, 2, 1, 0)


def test_model_call_reports_latency_and_error_class_and_reraises() -> None:
    """context.model_call() tells the installed observer each call's latency and exception class."""
    seen: list[tuple[float, str | None]] = []
    context.install_model_call_observer(lambda latency_s, error: seen.append((latency_s, error)))
    try:
        with context.model_call():
            time.sleep(0.01)
        with pytest.raises(TimeoutError), context.model_call():
            raise TimeoutError("slow")
    finally:
        context.install_model_call_observer(None)
    assert [error for _, error in seen] == [None, "TimeoutError"]
    assert seen[0][0] >= 0.01
