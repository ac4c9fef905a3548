"""Round trips to Redis per job: ours against plain `rq worker`, the same jobs on the same Redis.

Wall-clock overhead (``bench.overhead``) is noisy on a shared 2-core machine; the number of round
trips a job costs is not, and it is most of what the queue adds per job besides the fork. Each
worker runs N ``canary(0)`` jobs in burst mode with ``bench/round_trip_probe`` on its PYTHONPATH,
which logs every packed send (one command or one pipeline) with its pid and nearest caller. Sends
from the worker's own pid are the parent's; the rest are work horses' (and the scheduler's).
"""

from __future__ import annotations

import collections
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.common import private_redis, ratio, run, table, worker_env
from bench.overhead import WORKERS, command, enqueue

PROBE = Path(__file__).resolve().parent / "round_trip_probe"


def count(kind: str, url: str, conn: Any, n: int) -> dict[str, Any]:
    conn.flushall()
    enqueue(conn, n)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "sends.log"
        env = worker_env(url, ROUND_TRIP_LOG=str(log))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROBE), env.get("PYTHONPATH")]))
        _, done = run(command(kind, url, burst=True), env)
        if done.returncode != 0:
            raise RuntimeError(f"{kind} worker exited {done.returncode}: {done.stderr[-2000:]}")
        sends = [line.split("\t") for line in log.read_text().splitlines()]
    per_pid = collections.Counter(pid for pid, _ in sends)
    parent_pid = per_pid.most_common(1)[0][0]  # the worker outlives and outnumbers each horse
    callers = collections.Counter(caller for _, caller in sends)
    return {"per_job": len(sends) / n, "parent_per_job": per_pid[parent_pid] / n,
            "horses_per_job": (len(sends) - per_pid[parent_pid]) / n,
            "top_callers": {caller: round(c / n, 2) for caller, c in callers.most_common(12)}}


def measure(n: int = 100) -> dict[str, Any]:
    with private_redis() as server:
        conn = server.client()
        out: dict[str, Any] = {"n": n, **{kind: count(kind, server.url, conn, n) for kind in WORKERS}}
        conn.close()
    # A diagnosis for the overhead figure, not a target of its own: no verdict.
    out["ratio"] = ratio(out["ours"]["per_job"], out["rq"]["per_job"])
    return out


def render(r: dict[str, Any]) -> str:
    o, q = r["ours"], r["rq"]
    rows = [("round trips a job", o["per_job"], q["per_job"], r["ratio"]),
            ("  in the worker (take, lease, heartbeats)", o["parent_per_job"], q["parent_per_job"],
             ratio(o["parent_per_job"], q["parent_per_job"])),
            ("  in the work horses", o["horses_per_job"], q["horses_per_job"],
             ratio(o["horses_per_job"], q["horses_per_job"]))]
    return table(f"round trips to Redis, {r['n']} canary(0) jobs", rows,
                 ("figure", "curriculum-worker", "rq worker", "ratio"))


if __name__ == "__main__":
    print(render(measure()))
