"""Diagnosis for the queue-overhead gap: what the per-fork ``die_with_parent`` hook costs.

``python -m bench.fork_hook`` runs the overhead throughput measurement for three workers in
alternating rounds: ours, ours with the at-fork hook replaced by the same ``prctl`` call on an
already-loaded libc (no ``ctypes.util.find_library``, which runs ``ldconfig -p`` in a subprocess
on every fork), and plain ``rq worker``. The patch is applied only inside this benchmark's child
process; the runtime code is untouched.
"""

from __future__ import annotations

import sys
from typing import Any

from bench import overhead
from bench.common import median, private_redis, ratio, table

PATCHED = r"""
import ctypes, os, signal, sys
import worker.runtime
libc = ctypes.CDLL("libc.so.6", use_errno=True)
def die_with_parent():
    libc.prctl(1, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)
worker.runtime.die_with_parent = die_with_parent
from worker.cli import main
sys.exit(main())
"""


def command(kind: str, url: str, burst: bool) -> list[str]:
    if kind == "ours, cheap fork hook":
        return [sys.executable, "-c", PATCHED, "run", *(["--burst"] if burst else [])]
    return ORIGINAL(kind, url, burst)


ORIGINAL = overhead.command
KINDS = ("ours", "ours, cheap fork hook", "rq")


def measure(n: int = 200, rounds: int = 3) -> dict[str, Any]:
    overhead.command = command
    rates: dict[str, list[float]] = {k: [] for k in KINDS}
    between: dict[str, list[float]] = {k: [] for k in KINDS}
    try:
        with private_redis() as server:
            conn = server.client()
            for _ in range(rounds):
                for kind in KINDS:
                    r = overhead.throughput_round(kind, server.url, conn, n)
                    rates[kind].append(r["jobs_per_s"])
                    between[kind].append(r["between_jobs_ms_p50"])
            conn.close()
    finally:
        overhead.command = ORIGINAL
    return {k: {"jobs_per_s": median(rates[k]), "between_jobs_ms_p50": median(between[k]), "rounds": rates[k]}
            for k in KINDS}


def render(r: dict[str, Any]) -> str:
    base = r["rq"]["jobs_per_s"]
    rows = [(k, v["jobs_per_s"], ratio(v["jobs_per_s"], base), v["between_jobs_ms_p50"]) for k, v in r.items()]
    return table("fork hook diagnosis (burst, canary(0))", rows, ("worker", "jobs/s", "vs rq", "between jobs ms p50"))


if __name__ == "__main__":
    print(render(measure()))
