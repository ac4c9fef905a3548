"""Provider budget: N worker trees against a rate-limited provider whose limit is a third of the demand.

Three runs on private Redis servers against the local model server (``tests.llm_server``) with a
rate limiter (``tests.rate_limits``: token and request buckets refilled over ``WINDOW_S``, OpenAI's
``x-ratelimit-*`` headers on every reply, 429 with ``Retry-After`` past the limit):

1. **demand**: limits far above anything asked, to measure what the trees ask for (tokens/min);
2. **budget on** (the default; the operator sets nothing) with the token limit at a third of that;
3. **budget off** (``LLM_BUDGET=false``): the same limit, the per-call and job retries as shipped.

Runs 2 and 3 get as many courses as the limit takes about ``LIMITED_RUN_S`` to serve (at least the
demand run's), so that many windows pass and the bucket that is full at the start decides little.

Reported per run: courses finished (and failed), the share of calls answered 429, tokens/min
achieved against the limit, and the span (first job start to last job end) against the time the
token limit itself imposes: all tokens / the limit's rate (and, stricter, after the first bucketful
that was there at the start). Done when, with the budget on: every course finishes, at most 5 % of
calls are answered 429, the span is at most 1.3 x the imposed time.
"""

from __future__ import annotations

import math
import time
from typing import Any

import redis

from bench.common import QUEUE, job_times, machine, private_redis, table, worker_env, write_results
from tests.llm_server import LLMServer
from tests.rate_limits import RateLimiter
from tests.workers import WorkerProcess
from worker.jsonjob import JsonQueue

WINDOW_S = 10.0
LIMITED_RUN_S = 90.0
TARGET_429_SHARE = 0.05
TARGET_SPAN_RATIO = 1.3
REQUEST = {"duration_weeks": 2, "hours_per_week": 3, "level": "beginner"}


def enqueue(conn: redis.Redis, count: int, tag: str) -> list[str]:
    queue = JsonQueue(QUEUE, connection=conn)
    return [queue.enqueue("jobs.curriculum.generate_curriculum", {**REQUEST, "topic": f"Budget bench {tag} {i}"}).id
            for i in range(count)]


def run(trees: int, per_tree: int, courses: int, limiter: RateLimiter, timeout_s: float,
        **env: str) -> dict[str, Any]:
    """``courses`` courses on ``trees`` trees of ``per_tree`` jobs; figures from the limiter and the jobs."""
    with private_redis() as server, LLMServer(first_token_s=0.3, tokens_per_s=400) as llm:
        llm.limiter = limiter
        conn = server.client()
        base = worker_env(server.url, CURRICULUM_GENERATOR="openai", OPENAI_API_KEY="sk-bench-not-a-key",
                          OPENAI_BASE_URL=llm.base_url, LLM_CONCURRENCY="4", **env)
        started = [WorkerProcess(base, "--concurrency", str(per_tree)) for _ in range(trees)]
        try:
            for tree in started:
                tree.wait_for("worker.started", count=per_tree, timeout=60)
            ids = enqueue(conn, courses, env.get("LLM_BUDGET", "on"))
            deadline = time.monotonic() + timeout_s
            times = job_times(conn, ids)
            while time.monotonic() < deadline and not all(t["status"] in ("finished", "failed") for t in times):
                time.sleep(0.25)
                times = job_times(conn, ids)
        finally:
            for tree in started:
                tree.stop()
            conn.close()
    return _figures(times, limiter, courses)


def _figures(times: list[dict[str, Any]], limiter: RateLimiter, courses: int) -> dict[str, Any]:
    done = [t for t in times if t["status"] == "finished"]
    ends = [float(t["ended"]) for t in done if t["ended"]]
    starts = [float(t["started"]) for t in times if t["started"]]
    span = (max(ends) - min(starts)) if ends and starts else 0.0
    tokens = sum(cost for _, cost in limiter.charged)
    rate_per_s = limiter.tokens.rate
    return {"courses": courses, "finished": len(done), "failed": sum(t["status"] == "failed" for t in times),
            "calls": limiter.admitted + limiter.refused, "answered_429": limiter.refused,
            "share_429": round(limiter.refused_share(), 4), "tokens": tokens,
            "tokens_per_min": round(tokens * 60 / span) if span else 0,
            "limit_tokens_per_min": round(rate_per_s * 60), "span_s": round(span, 1),
            "imposed_s": round(tokens / rate_per_s, 1),
            "imposed_after_first_bucket_s": round(max(0.0, tokens - limiter.tokens.limit) / rate_per_s, 1)}


def measure(trees: int = 3, per_tree: int = 2, courses: int = 18) -> dict[str, Any]:
    huge = RateLimiter(tokens=10**9, requests=10**6, window_s=WINDOW_S)
    demand = run(trees, per_tree, courses, huge, timeout_s=300)
    limit_per_window = max(1000, round(demand["tokens_per_min"] / 3 * WINDOW_S / 60))
    requests_per_window = max(10, round(demand["calls"] / max(demand["span_s"], 1) * WINDOW_S))

    def limiter() -> RateLimiter:
        return RateLimiter(tokens=limit_per_window, requests=requests_per_window, window_s=WINDOW_S)

    # Enough courses for the limited runs to last about LIMITED_RUN_S (many windows), so the bucket
    # that is full at the start does not decide the result.
    per_course = demand["tokens"] / courses
    limited = max(courses, math.ceil(limit_per_window / WINDOW_S * LIMITED_RUN_S / per_course))
    on = run(trees, per_tree, limited, limiter(), timeout_s=600)
    off = run(trees, per_tree, limited, limiter(), timeout_s=max(120.0, 3 * on["span_s"]), LLM_BUDGET="false")
    for result in (on, off):
        result["span_ratio"] = round(result["span_s"] / result["imposed_s"], 3) if result["imposed_s"] else None
    met = (on["finished"] == limited and on["share_429"] <= TARGET_429_SHARE
           and on["span_ratio"] is not None and on["span_ratio"] <= TARGET_SPAN_RATIO)
    result = {"trees": trees, "jobs_per_tree": per_tree, "llm_concurrency": 4, "window_s": WINDOW_S,
              "limit_tokens_per_window": limit_per_window, "limit_requests_per_window": requests_per_window,
              "demand": demand, "budget_on": on, "budget_off": off, "targets_met": met}
    # Its own file too: `python -m bench provider_budget` rewrites latest.json with this run only.
    write_results({"machine": machine(), "provider_budget": result}, "provider_budget.json")
    return result


def render(r: dict[str, Any]) -> str:
    rows = [[name, f"{x['finished']}/{x['courses']} ({x['failed']} failed)", f"{x['answered_429']}/{x['calls']}",
             f"{x['share_429'] * 100:.1f} %", f"{x['tokens_per_min']}", f"{x['limit_tokens_per_min']}",
             f"{x['span_s']}", f"{x['imposed_s']}", f"{x['span_ratio']}"]
            for name, x in (("budget on", r["budget_on"]), ("budget off", r["budget_off"]))]
    head = (f"{r['trees']} trees x {r['jobs_per_tree']} jobs x LLM_CONCURRENCY {r['llm_concurrency']}; demand "
            f"{r['demand']['tokens_per_min']} tokens/min unlimited; limit {r['limit_tokens_per_window']} tokens / "
            f"{r['limit_requests_per_window']} requests per {r['window_s']:g} s")
    body = table("provider budget", rows,
                 ["run", "courses", "429s", "429 %", "tokens/min", "limit/min", "span s", "imposed s", "ratio"])
    verdict = "targets met" if r["targets_met"] else "targets NOT met"
    return f"{head}\n{body}\n{verdict} (budget on: all finish, <= 5 % 429, span <= 1.3 x imposed)"
