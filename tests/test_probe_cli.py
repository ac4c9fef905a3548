"""``curriculum-worker stats`` as an operator runs it: exit codes, formats, secrecy, read-only, round trips."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from jobs import keys
from tests.conftest import ROOT, TLS_PASSWORD, clean_env, run_cli
from tests.servers import RedisServer, free_port
from tests.test_probe import (
    CANARY,
    QUEUE,
    _fill,
    age_head_job,
    json_queue,
    populate,
    register_worker,
    stall,
    start_job,
)

SENTINEL = "probe-test-monitor-end"
#: Commands the probe (and redis-py's connection handshake) may send; all leave the data untouched.
READ_ONLY = {"PING", "INFO", "SUNION", "LLEN", "LINDEX", "ZCARD", "ZCOUNT", "HMGET", "HGETALL", "HELLO", "AUTH",
             "SELECT", "TIME", "SMEMBERS"}
READ_ONLY_SUBCOMMANDS = {("CONFIG", "GET"), ("CLIENT", "SETNAME"), ("CLIENT", "SETINFO")}


def env_for(url: str, **extra: str) -> dict[str, str]:
    return clean_env(**{"REDIS_URL": url, "REDIS_MAX_RETRIES": "0", "REDIS_CONNECT_TIMEOUT": "2", **extra})


def stats_json(redis_url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("stats", "--json", *args, env=env_for(redis_url))
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    return result.returncode, json.loads(lines[0])


# -- exit codes -----------------------------------------------------------------------------------


def test_healthy_exits_0_with_the_contract_json(redis_url: str, conn: redis.Redis) -> None:
    """A probe finding no problems exits 0 and prints the contract's object on one line."""
    register_worker(conn, [QUEUE], state="idle")
    code, report = stats_json(redis_url)
    assert code == 0
    assert report["status"] == "ok"
    assert report["workers"] == {"total": 1, "busy": 0, "idle": 1}
    assert report["redis"]["url"] == redis_url and report["redis"]["tls"] is False
    assert list(report["queues"]) == [QUEUE]


def _queued(conn: redis.Redis) -> None:
    json_queue(conn).enqueue(CANARY)
    json_queue(conn).enqueue(CANARY)


def _failed(conn: redis.Redis) -> None:
    populate(conn)


def _old(conn: redis.Redis) -> None:
    _queued(conn)
    age_head_job(conn, json_queue(conn), 120)


def _stalled(conn: redis.Redis) -> None:
    json_queue(conn).enqueue(CANARY)
    _, execution = start_job(conn, json_queue(conn))
    stall(conn, json_queue(conn), execution)


@pytest.mark.parametrize(("option", "setup", "expected"), [
    (["--max-queued", "1"], _queued, f"queue {QUEUE}: 2 jobs queued, above --max-queued 1"),
    (["--max-failed", "0"], _failed, f"queue {QUEUE}: 1 failed jobs, above --max-failed 0"),
    (["--max-age", "60"], _old, f"queue {QUEUE}: oldest queued job waited 12"),
    (["--max-stalled", "0"], _stalled, f"queue {QUEUE}: 1 stalled jobs, above --max-stalled 0"),
    (["--min-workers", "1"], lambda conn: None, "workers: 0 live, below --min-workers 1"),
], ids=["max-queued", "max-failed", "max-age", "max-stalled", "min-workers"])
def test_each_threshold_exits_1(redis_url: str, conn: redis.Redis, option: list[str],
                                setup: Callable[[redis.Redis], None], expected: str) -> None:
    """Each breached threshold exits 1 with a problem naming the queue, the value and the limit."""
    setup(conn)
    code, report = stats_json(redis_url, *option)
    assert code == 1
    assert report["status"] == "unhealthy"
    assert len(report["problems"]) == 1 and report["problems"][0].startswith(expected), report["problems"]


def test_warnings_exit_1_only_with_strict(redis_url: str, conn: redis.Redis) -> None:
    """Warnings alone exit 0; with --strict they exit 1."""
    register_worker(conn, [QUEUE], state="idle")
    code, report = stats_json(redis_url)
    assert code == 0 and report["warnings"]  # the test server has no persistence
    code, report = stats_json(redis_url, "--strict")
    assert code == 1 and report["status"] == "unhealthy" and report["problems"] == []


def test_unreachable_exits_3_fast_without_the_password() -> None:
    """A closed port exits 3 within the connect timeout, naming host, port and scheme but no password."""
    port = free_port()
    url = f"redis://default:hunter2-secret@localhost:{port}/0"
    started = time.monotonic()
    result = run_cli("stats", env=env_for(url, REDIS_CONNECT_TIMEOUT="1"))
    assert result.returncode == 3
    assert time.monotonic() - started < 10
    assert f"redis://localhost:{port}" in result.stderr and "(redis)" in result.stderr
    assert "hunter2-secret" not in result.stdout + result.stderr


def test_unreachable_prometheus_reports_down() -> None:
    """With --prometheus an unreachable Redis still yields up 0 and healthy 0 (and exit 3)."""
    result = run_cli("stats", "--prometheus", env=env_for(f"redis://localhost:{free_port()}/0"))
    assert result.returncode == 3
    assert {"curriculum_worker_up 0", "curriculum_worker_healthy 0"} <= set(result.stdout.splitlines())


@pytest.mark.parametrize("args", [["--json", "--prometheus"], ["--max-queued", "-1"], ["--watch", "0"],
                                  ["--max-age", "soon"], ["-q", ""], ["--window", "7m"],
                                  ["--max-failure-rate", "1.5"], ["--max-p95-wait", "-1"]])
def test_bad_usage_exits_2(redis_url: str, args: list[str]) -> None:
    """Contradictory or malformed options exit 2."""
    assert run_cli("stats", *args, env=env_for(redis_url)).returncode == 2


# -- secrecy over TLS -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [[], ["--json"], ["--prometheus"]], ids=["table", "json", "prometheus"])
def test_tls_with_password_never_shows_it(tls_server: RedisServer, tls_ca: Path, fmt: list[str]) -> None:
    """Over verified TLS with a password, no output holds the password; the JSON URL shows ***."""
    env = env_for(tls_server.url, REDIS_TLS_CA_FILE=str(tls_ca / "ca.pem"))
    result = run_cli("stats", *fmt, env=env)
    assert result.returncode == 0, result.stderr
    assert TLS_PASSWORD not in result.stdout + result.stderr
    if fmt == ["--json"]:
        report = json.loads(result.stdout)
        assert report["redis"]["url"] == f"rediss://:***@localhost:{tls_server.port}/0"
        assert report["redis"]["tls"] is True
        assert not any("plain TCP" in w for w in report["warnings"])


# -- read-only ------------------------------------------------------------------------------------


def digest(conn: redis.Redis) -> dict[bytes, tuple[Any, ...]]:
    """Every key's type, serialized value and whether it has a TTL (a key that expires while it is
    read is left out: it is gone, not written)."""
    found = {key: (conn.type(key), conn.dump(key), conn.pttl(key) > 0) for key in conn.scan_iter(count=1000)}
    return {key: entry for key, entry in found.items() if entry[0] != b"none" and entry[1] is not None}


def unchanged_but_expired(before: dict[bytes, tuple[Any, ...]], after: dict[bytes, tuple[Any, ...]]) -> bool:
    """``after`` is ``before`` less keys that had a TTL (they expired meanwhile; nothing deleted them)."""
    expired = {key for key in before.keys() - after.keys() if before[key][2]}
    return after == {key: entry for key, entry in before.items() if key not in expired}


class Monitor:
    """MONITOR in a thread, recording every command until the test ECHOes the sentinel."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.commands: list[str] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self.ready.set()
            for entry in monitor.listen():
                if SENTINEL in entry["command"]:
                    return
                self.commands.append(entry["command"])

    def __enter__(self) -> Monitor:
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def test_probe_changes_nothing_and_sends_only_reads(redis_url: str, conn: redis.Redis) -> None:
    """Every key is byte-identical after the probe, and MONITOR saw only read commands from it."""
    populate(conn)
    age_head_job(conn, json_queue(conn), 300)
    before = digest(conn)
    calls_before = _command_calls(conn)
    with Monitor(redis_url) as watching:
        for fmt in ([], ["--json"], ["--prometheus"]):
            run_cli("stats", *fmt, "--max-queued", "0", "--max-failed", "0", "--max-age", "1",
                    "--max-stalled", "0", "--min-workers", "9", "--strict", env=env_for(redis_url))
        conn.echo(SENTINEL)
        watching.thread.join(5)
    assert digest(conn) == before
    # MONITOR hides admin commands such as CONFIG; INFO commandstats counts them per subcommand.
    ran = {name.removeprefix("cmdstat_").upper() for name, calls in _command_calls(conn).items()
           if calls != calls_before.get(name, 0)}
    ours = {"ECHO", "MONITOR", "INFO", "SCAN", "TYPE", "DUMP", "PTTL"}  # this test's own digest and monitor
    assert ran - ours <= READ_ONLY | {"|".join(pair) for pair in READ_ONLY_SUBCOMMANDS}, ran
    assert "CONFIG|GET" in ran
    seen = {command.split()[0].upper() for command in watching.commands}
    assert {"ZCOUNT", "HMGET", "LLEN"} <= seen, seen  # MONITOR did see the probe's reads
    for command in watching.commands:
        words = command.upper().split()
        assert words[0] in READ_ONLY or tuple(words[:2]) in READ_ONLY_SUBCOMMANDS, command


def _command_calls(conn: redis.Redis) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in conn.info("commandstats").items()}


def _cli_commands(redis_url: str, conn: redis.Redis) -> dict[str, int]:
    before = _command_calls(conn)
    assert run_cli("stats", "--json", env=env_for(redis_url)).returncode == 0
    after = _command_calls(conn)
    return {name: calls - before.get(name, 0) for name, calls in after.items() if calls != before.get(name, 0)}


def test_cli_commands_do_not_grow_with_jobs(redis_url: str, conn: redis.Redis) -> None:
    """INFO commandstats: the whole `stats` run sends the same commands at 10 and at 2000 jobs."""
    _fill(conn, 10)
    small = _cli_commands(redis_url, conn)
    conn.flushall()
    _fill(conn, 2000)
    large = _cli_commands(redis_url, conn)
    assert small == large
    assert small["cmdstat_lindex"] == 1 and small["cmdstat_hmget"] == 2  # one head job, one worker


# -- formats --------------------------------------------------------------------------------------



def prometheus_samples(text: str) -> tuple[dict[str, str], dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """prometheus_client's own parser over ``text``: {family: type} and {(sample, labels): value}."""
    types, samples = {}, {}
    for family in text_string_to_metric_families(text):
        assert family.name not in types, f"family {family.name} declared twice"
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def test_prometheus_output_parses(redis_url: str, conn: redis.Redis) -> None:
    """prometheus_client parses the output; each family has one type; the gauges hold the registry counts."""
    populate(conn)
    result = run_cli("stats", "--prometheus", "-q", QUEUE, "-q", "other", env=env_for(redis_url))
    assert result.returncode == 0, result.stderr
    types, samples = prometheus_samples(result.stdout)
    assert types["curriculum_worker_jobs"] == "gauge" and types["curriculum_worker_job_outcomes"] == "counter"
    assert types["curriculum_worker_job_run_seconds"] == "histogram"
    assert samples[("curriculum_worker_up", ())] == 1
    assert samples[("curriculum_worker_jobs", (("queue", QUEUE), ("state", "failed")))] == 1
    assert samples[("rq_jobs", (("queue", QUEUE), ("status", "failed")))] == 1
    assert samples[("curriculum_worker_jobs", (("queue", "other"), ("state", "queued")))] == 0
    assert samples[("curriculum_worker_stalled_jobs", (("queue", QUEUE),))] == 1
    assert samples[("curriculum_worker_workers", (("state", "busy"),))] == 2
    assert samples[("curriculum_worker_redis_latency_seconds", ())] < 1
    assert samples[("curriculum_worker_problems", ())] == 0
    assert samples[("curriculum_worker_job_outcomes_total", (("outcome", "finished"), ("queue", QUEUE)))] == 0


def test_table_is_the_default(redis_url: str, conn: redis.Redis) -> None:
    """Without a format option the probe prints a readable table with each queue and the verdict."""
    populate(conn)
    result = run_cli("stats", env=env_for(redis_url))
    assert result.returncode == 0
    assert re.search(rf"^{QUEUE}\s+2\s+2\s+1\s+1\s+1\s+1\s+1\s+1\s", result.stdout, re.M), result.stdout
    assert "status   ok" in result.stdout


def test_python_m_worker_probe_is_the_same_command(redis_url: str) -> None:
    """`python -m worker.probe` takes the same options and prints the same report."""
    result = subprocess.run([sys.executable, "-m", "worker.probe", "--json", "--min-workers", "1"],
                            env=env_for(redis_url), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["problems"] == ["workers: 0 live, below --min-workers 1"]


def test_watch_repeats_until_interrupted(redis_url: str) -> None:
    """--watch prints a fresh report every interval until Ctrl+C, then exits 130 like every command."""
    process = subprocess.Popen([sys.executable, "-m", "worker", "stats", "--json", "--watch", "0.2",
                                "--min-workers", "1"], env=env_for(redis_url), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=10)
    assert process.returncode == 130
    reports = [json.loads(line) for line in [*lines, *stdout.splitlines()]]
    assert len(reports) >= 3 and all(r["status"] == "unhealthy" for r in reports)


#: ``stats --watch`` whose second pause drops an object whose ``__del__`` sends SIGINT: a
#: KeyboardInterrupt raised there would be printed and dropped by Python.
CTRL_C_INSIDE_DEL = """
import os, signal, sys, time, types
import worker.commands.stats as stats
pauses = []
class Trap:
    def __del__(self):
        print("SIGINT sent from __del__", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGINT)
def sleep(seconds):
    pauses.append(seconds)
    if len(pauses) == 2:
        Trap()
    time.sleep(seconds)
stats.time = types.SimpleNamespace(sleep=sleep, time=time.time)
from worker.cli import main
main(["stats", "--json", "--watch", "0.2"])
"""


def test_watch_ends_on_a_ctrl_c_python_dropped(redis_url: str) -> None:
    """A Ctrl+C whose KeyboardInterrupt Python drops (raised in a __del__) still ends --watch, exit 130."""
    process = subprocess.Popen([sys.executable, "-c", CTRL_C_INSIDE_DEL], env=env_for(redis_url),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError("stats --watch still running 20 s after a Ctrl+C") from None
    assert "SIGINT sent from __del__" in stderr, stderr  # the Ctrl+C did land inside the finalizer
    assert process.returncode == 130, stderr


def test_min_workers_auto_follows_instances_and_concurrency(redis_url: str) -> None:
    """--min-workers auto expects WORKER_INSTANCES x WORKER_CONCURRENCY workers; other words are exit 2."""
    result = run_cli("stats", "--json", "--min-workers", "auto",
                     env=env_for(redis_url, WORKER_INSTANCES="2", WORKER_CONCURRENCY="3"))
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["problems"] == ["workers: 0 live, below --min-workers 6"]
    bad = run_cli("stats", "--min-workers", "many", env=env_for(redis_url))
    assert bad.returncode == 2 and "--min-workers" in bad.stderr and "auto" in bad.stderr


def test_max_new_failed_counts_only_the_window(redis_url: str, conn: redis.Redis) -> None:
    """A job failed for good just now is a problem for --max-new-failed 0 over --window 5m; the failed
    registry still holds it, but with the failure's minutes outside a window nothing is reported."""
    json_queue(conn).enqueue("jobs.curriculum.generate_curriculum", {"topic": "x"})
    ran = run_cli("run", "--burst", env=env_for(redis_url))
    assert ran.returncode == 0, ran.stderr
    now = run_cli("stats", "--json", "--window", "5m", "--max-new-failed", "0", env=env_for(redis_url))
    assert now.returncode == 1, now.stderr
    assert json.loads(now.stdout)["problems"] == [f"queue {QUEUE}: 1 jobs failed over the last 5 min, "
                                                  "above --max-new-failed 0"]
    for key in conn.scan_iter(keys.METRICS + ":*:m:*"):  # the minute hashes: as if 5 min had passed
        conn.delete(key)
    later = run_cli("stats", "--json", "--window", "5m", "--max-new-failed", "0", env=env_for(redis_url))
    assert later.returncode == 0, later.stdout
    assert json.loads(later.stdout)["queues"][QUEUE]["failed"] == 1, "the failed registry still holds it"
