"""Helpers shared by the benchmarks: private servers, worker environments, statistics, output.

Every benchmark runs against its own ``redis-server`` on a free loopback port (``tests.servers``),
never the machine's Redis, and reports each figure beside a baseline measured in the same run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import utcparse

from tests.conftest import ROOT, clean_env
from tests.servers import RedisServer

QUEUE = "curriculum_generation"
RESULTS = Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def private_redis(**kwargs: Any) -> Iterator[RedisServer]:
    """A throwaway redis-server on a free port, stopped (and its directory left in /tmp) on exit."""
    server = RedisServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop(kill=True)


def worker_env(redis_url: str, **overrides: str) -> dict[str, str]:
    """Environment for `curriculum-worker` with none of the caller's service variables leaking in."""
    settings = {"REDIS_URL": redis_url, "LOG_FORMAT": "json", "CURRICULUM_GENERATOR": "offline"}
    settings.update(overrides)
    return clean_env(**settings)


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def bin_path(name: str) -> str:
    """A console script of this venv (``rq``, ``curriculum-worker``)."""
    return str(Path(sys.executable).with_name(name))


def run(cmd: Sequence[str], env: dict[str, str],
        timeout: float = 300) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run a command in the repository root; (wall seconds, completed process)."""
    start = time.perf_counter()
    done = subprocess.run(list(cmd), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - start, done


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else math.nan


def parse_ts(text: str) -> float:
    """Epoch seconds of an ISO-8601 UTC timestamp as our logs or RQ's job hashes write it."""
    if text.endswith("Z"):
        return utcparse(text).replace(tzinfo=UTC).timestamp()
    return datetime.fromisoformat(text).timestamp()


def job_times(conn: redis.Redis, job_ids: Sequence[str]) -> list[dict[str, float | str | None]]:
    """enqueued_at / started_at / ended_at (epoch s) and status of each job, read from its hash."""
    pipe = conn.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(Job.key_for(job_id), "enqueued_at", "started_at", "ended_at", "status")
    out = []
    for raw in pipe.execute():
        enq, start, end, status = (v.decode() if isinstance(v, bytes) else v for v in raw)
        out.append({"enqueued": parse_ts(enq) if enq else None, "started": parse_ts(start) if start else None,
                    "ended": parse_ts(end) if end else None, "status": status})
    return out


def fetch(conn: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)


def proc_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (from /proc/PID/status) and Pss (from /proc/PID/smaps_rollup), in KiB; {} if gone."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1])
    except OSError:
        return {}
    return out


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    import redis as redis_py
    import rq

    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "redis_server": redis_version, "rq": rq.__version__, "redis_py": redis_py.__version__,
            "loadavg": os.getloadavg(), "date": datetime.now(UTC).isoformat(timespec="seconds")}


def table(title: str, rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain fixed-width table for the terminal."""
    cells = [[str(c) for c in header], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [f"== {title} =="]
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def write_results(results: dict[str, Any], name: str = "latest.json") -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path
