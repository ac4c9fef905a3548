"""Concurrency: LLM-bound throughput at N = 1, 4, 8, and the memory of N busy curriculum jobs.

Throughput: ``run --concurrency N`` works ``3 N`` curriculum jobs (12 lessons each, distinct topics,
``LLM_CONCURRENCY=4``) against the local model server, which answers every call after a fixed
delay (1 s; real providers take several seconds per lesson). A job is mostly waiting, so N jobs at
once should come close to N times the jobs per second; the baseline is N = 1 in the same run. With
0.5 s per call the CPU a job needs (~0.1 s, on two cores shared with other work) starts to show.
Throughput is jobs / (last end - first start), read from the jobs' hashes.

Memory: N curriculum jobs held busy at once (a long delay per model call), the whole process tree's
PSS (proportional set size: shared pages divided among their sharers, so it adds up) sampled while
all N are started. Ours (``run --concurrency N``: preloaded parent, ``gc.freeze()``, N forked
workers, one work horse each) against plain ``rq worker-pool -n N`` on the same jobs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any

import redis
from rq.registry import StartedJobRegistry

from bench.common import QUEUE, bin_path, job_times, private_redis, proc_memory_kib, table, verdict, worker_env
from bench.curriculum_latency import REQUEST, nodelay
from tests.conftest import ROOT
from tests.llm_server import LLMServer
from tests.workers import WorkerProcess, descendants
from worker.jsonjob import JsonQueue

BUDGET_KIB = 512 * 1024
TARGET_SPEEDUP_AT_8 = 7.0


def tree_pss_kib(pid: int) -> tuple[int, int]:
    """(PSS in KiB, number of processes) of ``pid`` and everything below it."""
    pids = [pid, *descendants(pid)]
    return sum(proc_memory_kib(p).get("pss", 0) for p in pids), len(pids)


def enqueue(conn: redis.Redis, count: int, tag: str) -> list[str]:
    queue = JsonQueue(QUEUE, connection=conn)
    requests = [{**REQUEST, "topic": f"{REQUEST['topic']} {tag}{i}"} for i in range(count)]
    return [queue.enqueue("jobs.curriculum.generate_curriculum", request).id for request in requests]


def llm_env(redis_url: str, llm: LLMServer) -> dict[str, str]:
    return worker_env(redis_url, CURRICULUM_GENERATOR="openai", OPENAI_API_KEY="sk-bench-not-a-key",
                      OPENAI_BASE_URL=llm.base_url, LLM_CONCURRENCY="4", WORKER_HEARTBEAT_INTERVAL="2",
                      WORKER_STALL_TIMEOUT="30")


def throughput_once(n: int, latency_s: float) -> dict[str, Any]:
    with private_redis() as server, LLMServer(slow_s=latency_s) as llm:
        nodelay(llm)
        llm.default = "slow"
        tree = WorkerProcess(llm_env(server.url, llm), "--concurrency", str(n))
        conn = server.client()
        try:
            tree.wait_for("worker.started", count=n, timeout=60)
            ids = enqueue(conn, 3 * n, f"n{n}-")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                times = job_times(conn, ids)
                if all(t["status"] in ("finished", "failed") for t in times):
                    break
                time.sleep(0.2)
        finally:
            tree.stop()
            conn.close()
    finished = [t for t in times if t["status"] == "finished"]
    span = max(float(t["ended"] or 0) for t in times) - min(float(t["started"] or 0) for t in times)
    return {"n": n, "jobs": len(ids), "finished": len(finished), "span_s": round(span, 2),
            "jobs_per_s": round(len(finished) / span, 3) if span > 0 else 0.0, "model_calls": llm.requests}


def busy_tree_pss(cmd_env: tuple[list[str], dict[str, str]], conn: redis.Redis, n: int, tag: str) -> dict[str, Any]:
    cmd, env = cmd_env
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        idle, idle_procs = tree_pss_kib(proc.pid)
        ids = enqueue(conn, n, tag)
        registry = StartedJobRegistry(QUEUE, connection=conn)
        deadline = time.monotonic() + 120
        while len(set(registry.get_job_ids()) & set(ids)) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        started = len(set(registry.get_job_ids()) & set(ids))
        peak, procs = 0, 0
        for _ in range(15):  # 3 s of samples while every job waits on its model calls
            pss, count = tree_pss_kib(proc.pid)
            if pss > peak:
                peak, procs = pss, count
            time.sleep(0.2)
    finally:
        for pid in [*descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)
        conn.flushall()
    return {"n": n, "started": started, "idle_kib": idle, "idle_processes": idle_procs, "busy_kib": peak,
            "busy_processes": procs, "per_job_kib": (peak - idle) // max(1, n)}


def memory(ns: tuple[int, ...], latency_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {"ours": [], "rq_worker_pool": []}
    with private_redis() as server, LLMServer(slow_s=latency_s) as llm:
        llm.default = "slow"
        env = llm_env(server.url, llm)
        conn = server.client()
        for n in ns:
            ours = ([bin_path("curriculum-worker"), "run", "--concurrency", str(n)], env)
            pool = ([bin_path("rq"), "worker-pool", "-u", server.url, "-n", str(n), "--serializer",
                     "rq.serializers.JSONSerializer", QUEUE], env)
            out["ours"].append(busy_tree_pss(ours, conn, n, f"ours{n}-"))
            out["rq_worker_pool"].append(busy_tree_pss(pool, conn, n, f"pool{n}-"))
        conn.close()
    return out


def measure(latency_s: float = 1.0, ns: tuple[int, ...] = (1, 4, 8),
            memory_ns: tuple[int, ...] = (10, 16)) -> dict[str, Any]:
    runs = [throughput_once(n, latency_s) for n in ns]
    base = runs[0]["jobs_per_s"] or 1e-9
    for run in runs:
        run["speedup"] = round(run["jobs_per_s"] / base, 2)
    return {"latency_s": latency_s, "throughput": runs, "memory": memory(memory_ns, latency_s=30),
            "budget_mib": BUDGET_KIB // 1024}


def render(r: dict[str, Any]) -> str:
    rows = [(f"N = {t['n']}", t["jobs"], t["finished"], t["span_s"], t["jobs_per_s"], t["speedup"])
            for t in r["throughput"]]
    at8 = next((t["speedup"] for t in r["throughput"] if t["n"] == 8), None)
    first = table(f"concurrency: curriculum jobs/s, {r['latency_s']} s per model call (baseline N = 1); "
                  f"N=8 target {TARGET_SPEEDUP_AT_8}x: {verdict(at8 is not None and at8 >= TARGET_SPEEDUP_AT_8)}",
                  rows, ("run --concurrency", "jobs", "finished", "span s", "jobs/s", "x N=1"))
    mib = 1024
    mem_rows = []
    for kind in ("ours", "rq_worker_pool"):
        runs = r["memory"][kind]
        fits = fit(runs)
        for m in runs:
            mem_rows.append((kind, m["n"], m["started"], m["idle_kib"] / mib, m["busy_kib"] / mib,
                             m["busy_kib"] / m["n"] / mib, m["busy_processes"], fits))
    second = table(f"concurrency: PSS of the whole tree, N curriculum jobs busy at once (budget {r['budget_mib']} MiB)",
                   mem_rows, ("tree", "N", "started", "idle MiB", "busy MiB", "busy MiB / N", "processes",
                              "busy jobs in 512 MiB"))
    return first + "\n\n" + second


def fit(runs: list[dict[str, Any]]) -> int:
    """Busy jobs that fit in the budget, extrapolated from the cost of each added job between the runs."""
    low, high = runs[0], runs[-1]
    if high["n"] == low["n"]:
        return int(BUDGET_KIB * low["n"] // max(1, high["busy_kib"]))
    per_job = (high["busy_kib"] - low["busy_kib"]) / (high["n"] - low["n"])
    base = low["busy_kib"] - low["n"] * per_job
    return int((BUDGET_KIB - base) // per_job) if per_job > 0 else 0


if __name__ == "__main__":
    print(render(measure()))
