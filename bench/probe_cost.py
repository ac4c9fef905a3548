"""Probe cost: `curriculum-worker stats --json` at 0 and at 1,000,000 queued jobs, beside `rq info`.

The queue is built fast: a few real job hashes enqueued first (so the head of the queue is a real
job with an ``enqueued_at``), then fake ids appended with pipelined ``RPUSH`` of 1,000 ids per
command. Each command is run ``repeats`` times and the median wall time kept; that wall time
includes interpreter start-up, so the in-process cost of ``worker.probe.collect`` is reported too.
``rq info`` reaps registries (it writes), so it runs against a second throwaway server holding the
same data, never the one our probe reads.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis

from bench.common import QUEUE, bin_path, median, private_redis, ratio, run, table, verdict, worker_env
from worker import probe
from worker.jsonjob import JsonQueue

CHUNK = 1000


def fill(conn: redis.Redis, n: int, real: int = 5) -> float:
    """Queue ``real`` real canary jobs then ``n - real`` fake ids; seconds taken."""
    start = time.perf_counter()
    queue = JsonQueue(QUEUE, connection=conn)
    for _ in range(real):
        queue.enqueue("jobs.diagnostics.canary", 0)
    prefix = uuid.uuid4().hex[:8]
    remaining, counter = n - real, 0
    pipe = conn.pipeline(transaction=False)
    while remaining > 0:
        size = min(CHUNK, remaining)
        pipe.rpush(f"rq:queue:{QUEUE}", *(f"{prefix}-{counter + i:08d}" for i in range(size)))
        counter += size
        remaining -= size
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - start


def timed_cli(cmd: list[str], env: dict[str, str], repeats: int) -> tuple[float, int]:
    walls, code = [], 0
    for _ in range(repeats):
        wall, done = run(cmd, env, timeout=120)
        walls.append(wall)
        code = done.returncode
    return median(walls), code


def in_process_ms(conn: redis.Redis, url: str, repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        probe.collect(conn, [QUEUE], redis_url=url, tls=False)
        walls.append(time.perf_counter() - start)
    return 1000 * median(walls)


def measure(jobs: int = 1_000_000, repeats: int = 5) -> dict[str, Any]:
    ours_cmd = [bin_path("curriculum-worker"), "stats", "--json"]
    out: dict[str, Any] = {"jobs": jobs, "repeats": repeats}
    with private_redis() as ours, private_redis() as theirs:
        conn, other = ours.client(), theirs.client()
        rq_cmd = [bin_path("rq"), "info", "-u", theirs.url, "--serializer", "rq.serializers.JSONSerializer", QUEUE]
        env, rq_env = worker_env(ours.url), worker_env(theirs.url)
        for label, count in (("empty", 0), ("full", jobs)):
            if count:
                out["fill_s"] = fill(conn, count)
                fill(other, count)
                out["queued"] = conn.llen(f"rq:queue:{QUEUE}")
            stats_s, stats_rc = timed_cli(ours_cmd, env, repeats)
            rq_s, rq_rc = timed_cli(rq_cmd, rq_env, repeats)
            out[label] = {"stats_s": stats_s, "stats_exit": stats_rc, "collect_ms": in_process_ms(conn, ours.url, 20),
                          "rq_info_s": rq_s, "rq_info_exit": rq_rc}
        conn.close()
        other.close()
    e, f = out["empty"], out["full"]
    out["stats_ratio"] = ratio(f["stats_s"], e["stats_s"])
    out["collect_ratio"] = ratio(f["collect_ms"], e["collect_ms"])
    out["rq_info_ratio"] = ratio(f["rq_info_s"], e["rq_info_s"])
    out["target"] = "<= 1.5"
    out["met"] = out["stats_ratio"] <= 1.5
    return out


def render(r: dict[str, Any]) -> str:
    e, f = r["empty"], r["full"]
    rows = [
        ("curriculum-worker stats --json, s", e["stats_s"], f["stats_s"], r["stats_ratio"], "<= 1.5",
         verdict(r["met"])),
        ("  worker.probe.collect in process, ms", e["collect_ms"], f["collect_ms"], r["collect_ratio"], "", ""),
        ("rq info (baseline, throwaway server), s", e["rq_info_s"], f["rq_info_s"], r["rq_info_ratio"], "", ""),
        ("stats / rq info", ratio(e["stats_s"], e["rq_info_s"]), ratio(f["stats_s"], f["rq_info_s"]), "", "", ""),
    ]
    return table(f"probe cost: 0 vs {r['jobs']:,} queued jobs (median of {r['repeats']})", rows,
                 ("figure", "0 jobs", f"{r['jobs']:,} jobs", "ratio", "target", ""))


if __name__ == "__main__":
    print(render(measure()))
