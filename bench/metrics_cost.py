"""What recording job metrics costs each job: the same worker with WORKER_METRICS on and off.

Two figures, on one private redis-server:

* throughput: N ``canary(0)`` jobs through ``curriculum-worker run --burst`` with metrics on, then
  off, in alternating rounds (so the machine's noise falls on both alike); jobs/s is N over the span
  from the first ``started_at`` to the last ``ended_at``. canary(0) does nothing, so this is the
  worst case: for a real curriculum (seconds of model calls) the same cost is a far smaller share.
* isolated: the median time of one recording (``Recorder.job``: one pipelined round trip) against
  the per-job time of the metrics-off run; this one is not drowned by the machine's noise.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import redis

from bench.common import QUEUE, bin_path, job_times, median, private_redis, run, table, verdict, worker_env
from worker.jsonjob import JsonQueue
from worker.metrics import Recorder

MODES = ("on", "off")
TARGET_PCT = 2.0


def throughput_round(enabled: bool, url: str, conn: redis.Redis, n: int) -> float:
    conn.flushall()
    queue = JsonQueue(QUEUE, connection=conn)
    ids = [queue.enqueue("jobs.diagnostics.canary", 0).id for _ in range(n)]
    env = worker_env(url, WORKER_METRICS="true" if enabled else "false")
    _, done = run([bin_path("curriculum-worker"), "run", "--burst"], env)
    if done.returncode != 0:
        raise RuntimeError(f"worker exited {done.returncode}: {done.stderr[-2000:]}")
    rows = job_times(conn, ids)
    if any(r["status"] != "finished" for r in rows):
        raise RuntimeError("not every job finished")
    span = max(float(r["ended"] or 0) for r in rows) - min(float(r["started"] or 0) for r in rows)
    return n / span


def recording_ms(conn: redis.Redis, samples: int) -> float:
    recorder = Recorder()
    times = []
    for i in range(samples):
        start = time.perf_counter()
        recorder.job(conn, QUEUE, "finished", run_ms=1.0 + i % 500, wait_ms=2.0 + i % 300)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(n: int = 200, rounds: int = 3, samples: int = 2000) -> dict[str, Any]:
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    with private_redis() as server:
        conn = server.client()
        for _ in range(rounds):
            for mode in MODES:
                rates[mode].append(throughput_round(mode == "on", server.url, conn, n))
        conn.flushall()
        record_ms = recording_ms(conn, samples)
        conn.close()
    on, off = median(rates["on"]), median(rates["off"])
    job_ms_off = 1000 / off
    out: dict[str, Any] = {"n": n, "rounds": rounds, "jobs_per_s": {"on": on, "off": off}, "rates": rates,
                           "throughput_cost_pct": 100 * (off / on - 1), "job_ms_off": job_ms_off,
                           "recording_ms_p50": record_ms, "isolated_cost_pct": 100 * record_ms / job_ms_off,
                           "target_pct": TARGET_PCT}
    out["met"] = out["isolated_cost_pct"] < TARGET_PCT
    return out


def render(r: dict[str, Any]) -> str:
    rows = [
        ("jobs/s, canary(0) burst", r["jobs_per_s"]["on"], r["jobs_per_s"]["off"],
         f"{r['throughput_cost_pct']:+.2f} %", "", ""),
        ("one recording (1 round trip), ms p50", r["recording_ms_p50"], "", "", "", ""),
        ("  share of a canary(0) job", f"{r['isolated_cost_pct']:.2f} %", "", "", f"< {r['target_pct']:g} %",
         verdict(r["met"])),
    ]
    title = f"metrics recording cost: {r['n']} jobs x {r['rounds']} rounds per mode"
    return table(title, rows, ("figure", "metrics on", "metrics off", "cost", "target", ""))


if __name__ == "__main__":
    print(render(measure()))
