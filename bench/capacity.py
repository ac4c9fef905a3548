"""Capacity: resident memory of a worker idle and while it runs a curriculum job; what fits in 512 MB.

A worker instance is a process tree: the worker, RQ's scheduler (forked at start, ``with_scheduler``)
and, during a job, the work horse (forked per job). Forked children share their parent's pages
copy-on-write, so adding up VmRSS counts the shared pages once per process; PSS (proportional set
size, /proc/PID/smaps_rollup) divides each shared page among its sharers and adds up correctly.
Both are reported; the fit in 512 MiB is derived from the tree's PSS (and, as the pessimistic
bound with no sharing at all, from its RSS).

The job is the 12-lesson request of ``bench.curriculum_latency`` through the ``openai`` generator
(LLM_CONCURRENCY=4) against the local test server with 0.5 s per call, so the horse lives about
two seconds; memory is sampled every 20 ms and the peak kept. Same-run baselines: a bare
interpreter (``python -c 'sleep'``) and a plain ``rq worker`` idle.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from bench.common import QUEUE, bin_path, children, private_redis, proc_memory_kib, table, worker_env
from bench.curriculum_latency import REQUEST, nodelay
from tests.conftest import ROOT
from tests.llm_server import LLMServer
from tests.workers import WorkerProcess
from worker.jsonjob import JsonQueue

BUDGET_KIB = 512 * 1024


def tree(pids: list[int]) -> dict[str, int]:
    total = {"rss": 0, "pss": 0}
    for pid in pids:
        mem = proc_memory_kib(pid)
        total["rss"] += mem.get("rss", 0)
        total["pss"] += mem.get("pss", 0)
    return total


def settle(pid: int, seconds: float = 1.5) -> dict[str, int]:
    time.sleep(seconds)
    return tree([pid, *children(pid)])


def baselines(redis_url: str) -> dict[str, dict[str, int]]:
    out = {}
    commands = {
        "bare python": [bin_path("python"), "-c", "import time; time.sleep(60)"],
        # An unused queue, so that this worker never takes the benchmark's job.
        "rq worker idle": [bin_path("rq"), "worker", "-u", redis_url, "--serializer",
                           "rq.serializers.JSONSerializer", "bench_unused"],
    }
    for name, cmd in commands.items():
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            out[name] = settle(proc.pid, 2.0)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    return out


def busy_peak(worker: WorkerProcess, idle_children: set[int], job_id: str) -> dict[str, Any]:
    worker.wait_for("job.started", job_id=job_id, timeout=30)
    peak = {"rss": 0, "pss": 0, "horse_rss": 0, "horse_pss": 0, "samples": 0}
    deadline = time.monotonic() + 60
    while not worker.events("job.finished") and time.monotonic() < deadline:
        kids = children(worker.pid)
        total = tree([worker.pid, *kids])
        horse = tree([k for k in kids if k not in idle_children])
        peak["samples"] += 1
        for key in ("rss", "pss"):
            peak[key] = max(peak[key], total[key])
            peak[f"horse_{key}"] = max(peak[f"horse_{key}"], horse[key])
        time.sleep(0.02)
    worker.wait_for("job.finished", job_id=job_id, timeout=60)
    return peak


def measure(latency_s: float = 0.5) -> dict[str, Any]:
    with private_redis() as server, LLMServer(slow_s=latency_s) as llm:
        nodelay(llm)
        llm.default = "slow"
        base = baselines(server.url)
        env = worker_env(server.url, CURRICULUM_GENERATOR="openai", OPENAI_API_KEY="sk-bench-not-a-key",
                         OPENAI_BASE_URL=llm.base_url, LLM_CONCURRENCY="4")
        worker = WorkerProcess(env)
        try:
            worker.wait_for("worker.started", timeout=30)
            idle = settle(worker.pid, 2.0)
            idle_children = set(children(worker.pid))
            idle["processes"] = 1 + len(idle_children)
            idle["parent_rss"] = proc_memory_kib(worker.pid).get("rss", 0)
            conn = server.client()
            job = JsonQueue(QUEUE, connection=conn).enqueue("jobs.curriculum.generate_curriculum", REQUEST)
            busy = busy_peak(worker, idle_children, job.id)
            status = conn.hget(job.key, "status")
            conn.close()
        finally:
            worker.stop()
    out: dict[str, Any] = {"budget_mib": 512, "baselines_kib": base, "idle_kib": idle, "busy_peak_kib": busy,
                           "job_status": status.decode() if status else None}
    out["fit"] = {
        "idle_instances_by_pss": BUDGET_KIB // max(1, idle["pss"]),
        "busy_instances_by_pss": BUDGET_KIB // max(1, busy["pss"]),
        "busy_instances_by_rss": BUDGET_KIB // max(1, busy["rss"]),
    }
    return out


def render(r: dict[str, Any]) -> str:
    mib = 1024
    base, idle, busy = r["baselines_kib"], r["idle_kib"], r["busy_peak_kib"]
    rows = [(name, m["rss"] / mib, m["pss"] / mib, "") for name, m in base.items()]
    rows += [
        (f"curriculum-worker idle ({idle['processes']} processes)", idle["rss"] / mib, idle["pss"] / mib,
         f"{r['fit']['idle_instances_by_pss']} idle instances"),
        ("curriculum-worker + horse, peak during a curriculum job", busy["rss"] / mib, busy["pss"] / mib,
         f"{r['fit']['busy_instances_by_pss']} busy instances by PSS, {r['fit']['busy_instances_by_rss']} by RSS"),
        ("  of which the work horse", busy["horse_rss"] / mib, busy["horse_pss"] / mib, ""),
    ]
    return table(f"capacity: resident memory in MiB; fit in {r['budget_mib']} MiB (job {r['job_status']})", rows,
                 ("process tree", "RSS MiB", "PSS MiB", "fits in 512 MiB"))


if __name__ == "__main__":
    print(render(measure()))
