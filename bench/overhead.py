"""Queue overhead: canary jobs through `curriculum-worker run` against plain `rq worker`, same Redis.

Both workers are the same rq, on the same private redis-server, with the JSON serializer, and both
fork a work horse per job. Two measurements, in alternating rounds (ours, rq, ours, rq...) so
that the machine's noise falls on both alike:

* throughput: N ``canary(0)`` jobs enqueued up front, then one ``--burst`` worker; jobs/s is N over
  the span from the first ``started_at`` to the last ``ended_at`` (read from the job hashes), so
  interpreter start-up is reported apart. The span is split per job into *in job* (started_at ->
  ended_at, which includes RQ's and our bookkeeping in the horse) and *between jobs* (ended_at ->
  the next started_at: return to the parent, dequeue, fork).
* pickup latency: a long-running worker, idle, gets one job at a time (the next is enqueued only
  after the previous finished, plus a random pause); latency is ``started_at - enqueued_at``.
"""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import time
from typing import Any

import redis

from bench.common import (
    QUEUE,
    bin_path,
    job_times,
    median,
    percentile,
    private_redis,
    ratio,
    run,
    table,
    verdict,
    worker_env,
)
from tests.conftest import ROOT
from worker.jsonjob import JsonQueue

WORKERS = ("ours", "rq")


def command(kind: str, url: str, burst: bool) -> list[str]:
    if kind == "ours":
        return [bin_path("curriculum-worker"), "run", *(["--burst"] if burst else [])]
    return [bin_path("rq"), "worker", "-u", url, "--serializer", "rq.serializers.JSONSerializer",
            *(["--burst"] if burst else []), QUEUE]


def enqueue(conn: redis.Redis, n: int) -> list[str]:
    queue = JsonQueue(QUEUE, connection=conn)
    return [queue.enqueue("jobs.diagnostics.canary", 0).id for _ in range(n)]


def throughput_round(kind: str, url: str, conn: redis.Redis, n: int) -> dict[str, Any]:
    conn.flushall()
    ids = enqueue(conn, n)
    launched = time.time()
    wall, done = run(command(kind, url, burst=True), worker_env(url))
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker exited {done.returncode}: {done.stderr[-2000:]}")
    rows = sorted(job_times(conn, ids), key=lambda r: r["started"] or 0)
    unfinished = sum(1 for r in rows if r["status"] != "finished")
    first, last = rows[0]["started"], max(r["ended"] or 0 for r in rows)
    span = last - first
    in_job = [r["ended"] - r["started"] for r in rows]
    between = [b["started"] - a["ended"] for a, b in itertools.pairwise(rows)]
    return {"jobs": n, "unfinished": unfinished, "span_s": span, "jobs_per_s": n / span, "wall_s": wall,
            "startup_s": first - launched, "in_job_ms_p50": 1000 * median(in_job),
            "between_jobs_ms_p50": 1000 * median(between)}


def wait_registered(conn: redis.Redis, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.scard("rq:workers"):
            return
        time.sleep(0.05)
    raise RuntimeError("worker did not register")


def pickup_round(kind: str, url: str, conn: redis.Redis, m: int, rng: random.Random) -> list[float]:
    conn.flushall()
    proc = subprocess.Popen(command(kind, url, burst=False), env=worker_env(url), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_registered(conn)
        time.sleep(1)  # past start-up work (scheduler fork, first maintenance)
        queue = JsonQueue(QUEUE, connection=conn)
        ids = []
        for _ in range(m):
            job = queue.enqueue("jobs.diagnostics.canary", 0)
            ids.append(job.id)
            deadline = time.monotonic() + 30
            while conn.hget(job.key, "status") != b"finished" and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.02, 0.1))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return [1000 * (r["started"] - r["enqueued"]) for r in job_times(conn, ids) if r["started"]]


def measure(n: int = 200, m: int = 50, rounds: int = 2, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    through: dict[str, list[dict[str, Any]]] = {k: [] for k in WORKERS}
    pickup: dict[str, list[float]] = {k: [] for k in WORKERS}
    with private_redis() as server:
        conn = server.client()
        for _ in range(rounds):
            for kind in WORKERS:
                through[kind].append(throughput_round(kind, server.url, conn, n))
        for _ in range(rounds):
            for kind in WORKERS:
                pickup[kind].extend(pickup_round(kind, server.url, conn, m, rng))
        conn.close()
    out: dict[str, Any] = {"n": n, "m": m, "rounds": rounds}
    for kind in WORKERS:
        rates = [r["jobs_per_s"] for r in through[kind]]
        out[kind] = {"jobs_per_s": median(rates), "rounds": through[kind],
                     "in_job_ms_p50": median([r["in_job_ms_p50"] for r in through[kind]]),
                     "between_jobs_ms_p50": median([r["between_jobs_ms_p50"] for r in through[kind]]),
                     "startup_s": median([r["startup_s"] for r in through[kind]]),
                     "pickup_ms_p50": percentile(pickup[kind], 50), "pickup_ms_p99": percentile(pickup[kind], 99),
                     "pickup_samples": len(pickup[kind])}
    out["throughput_ratio"] = ratio(out["ours"]["jobs_per_s"], out["rq"]["jobs_per_s"])
    out["targets"] = {"throughput_ratio": ">= 1.0", "pickup_ms_p50": "<= 10"}
    out["met"] = {"throughput_ratio": out["throughput_ratio"] >= 1.0,
                  "pickup_ms_p50": out["ours"]["pickup_ms_p50"] <= 10}
    return out


def _row(label: str, o: dict[str, Any], q: dict[str, Any], key: str) -> tuple[Any, ...]:
    return (label, o[key], q[key], ratio(o[key], q[key]), "", "")


def render(r: dict[str, Any]) -> str:
    o, q = r["ours"], r["rq"]
    rows = [
        ("jobs/s (burst, canary(0))", o["jobs_per_s"], q["jobs_per_s"], r["throughput_ratio"], ">= 1.0",
         verdict(r["met"]["throughput_ratio"])),
        _row("  in job, ms p50", o, q, "in_job_ms_p50"),
        _row("  between jobs, ms p50", o, q, "between_jobs_ms_p50"),
        _row("start-up to first job, s", o, q, "startup_s"),
        ("pickup ms p50", o["pickup_ms_p50"], q["pickup_ms_p50"], ratio(o["pickup_ms_p50"], q["pickup_ms_p50"]),
         "<= 10 ms", verdict(r["met"]["pickup_ms_p50"])),
        _row("pickup ms p99", o, q, "pickup_ms_p99"),
    ]
    title = f"queue overhead: {r['n']} jobs x {r['rounds']} rounds, pickup {o['pickup_samples']} samples each"
    return table(title, rows, ("figure", "curriculum-worker", "rq worker", "ratio", "target", ""))


if __name__ == "__main__":
    print(render(measure()))
