"""Curriculum latency: one short curriculum against a model API with a fixed latency per call.

Calls ``jobs.generation.generate`` directly (no worker, no cache) with the ``openai`` generator and
a ``GeneratorConfig``, against ``tests.llm_server.LLMServer`` on loopback in this process, whose
every reply waits ``L`` seconds. The generator makes one design call, then one writing call per
module with at most ``LLM_CONCURRENCY`` in flight, so the critical path is
``L + ceil(modules / c) * L`` (``modules`` as the run's result has them; before issue 18 it was one
call per lesson). Token-rate costs of whole courses: ``bench.curriculum_cost``.
Reported: wall / critical path for c = 4 (target <= 1.2) beside the sequential baseline c = 1, and
the same runs with L = 0, which is the fixed cost (client, HTTP, parsing, planning) that the ratio's
excess should come from.

Each figure is measured twice: with the test server as it is, and with ``TCP_NODELAY`` on its
sockets (``disable_nagle_algorithm``, as production HTTP servers set it). ``http.server`` writes the
headers and the body of a reply in two ``send`` calls; with Nagle's algorithm on, the body waits
for the client's delayed ACK of the headers, about 40 ms per call on Linux loopback. That delay
belongs to the test server, not to the generator, so the headline is the ``nodelay`` figure.
"""

from __future__ import annotations

import math
import time
from typing import Any

from bench.common import median, table, verdict
from jobs.cache import Cache
from jobs.generation import generate
from jobs.generators import GeneratorConfig
from jobs.models import parse_request
from jobs.planner import plan
from tests.llm_server import LLMServer

# beginner, 4 weeks x 3 h: the planner makes 12 lessons (checked in ``lesson_count``).
REQUEST: dict[str, Any] = {"topic": "Linear algebra for data science", "level": "beginner",
                           "duration_weeks": 4, "hours_per_week": 3}
LESSONS = 12


def lesson_count(request: dict[str, Any]) -> int:
    return sum(len(m.lessons) for m in plan(parse_request(request)).modules)


def nodelay(server: LLMServer, on: bool = True) -> None:
    """TCP_NODELAY on the test server's accepted sockets (StreamRequestHandler's own switch)."""
    server._httpd.RequestHandlerClass.disable_nagle_algorithm = on  # type: ignore[attr-defined]


def config(server: LLMServer, concurrency: int) -> GeneratorConfig:
    return GeneratorConfig(name="openai", api_key="sk-bench-not-a-key", base_url=server.base_url,
                           model="bench-model", concurrency=concurrency)


def timed(server: LLMServer, concurrency: int, request: dict[str, Any] = REQUEST,
          cache: Cache | None = None) -> tuple[float, int]:
    """(wall seconds, model calls) of one generate() call."""
    wall, calls, _ = timed_modules(server, concurrency, request, cache)
    return wall, calls


def timed_modules(server: LLMServer, concurrency: int, request: dict[str, Any] = REQUEST,
                  cache: Cache | None = None) -> tuple[float, int, int]:
    """(wall seconds, model calls, modules) of one generate() call."""
    before = server.requests
    start = time.perf_counter()
    result = generate(request, config(server, concurrency), lambda stage, done, total: None, cache)
    return time.perf_counter() - start, server.requests - before, len(result["modules"])


def critical_path(latency_s: float, concurrency: int, modules: int) -> float:
    return latency_s * (1 + math.ceil(modules / concurrency))


def measure(latency_s: float = 0.2, repeats: int = 3) -> dict[str, Any]:
    assert lesson_count(REQUEST) == LESSONS, "the planner changed: pick another 12-lesson request"
    out: dict[str, Any] = {"latency_s": latency_s, "lessons": LESSONS, "repeats": repeats,
                           "request": REQUEST, "path": "jobs.generation.generate, in process, no cache"}
    for variant in ("nodelay", "stock"):
        with LLMServer(slow_s=latency_s) as server:
            nodelay(server, variant == "nodelay")
            timed(server, 4)  # warm-up: imports, first connection
            out[variant] = _variant(server, latency_s, repeats)
    out["target"] = "<= 1.2"
    out["met"] = out["nodelay"]["c4"]["ratio"] <= 1.2
    return out


def _variant(server: LLMServer, latency_s: float, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for concurrency in (4, 1):
        server.default = "good"
        zero = [timed(server, concurrency)[0] for _ in range(repeats)]
        server.default = "slow"
        runs = [timed_modules(server, concurrency) for _ in range(repeats)]
        walls = [w for w, _, _ in runs]
        cp = critical_path(latency_s, concurrency, runs[0][2])
        out[f"c{concurrency}"] = {"wall_s": median(walls), "walls_s": walls, "critical_path_s": cp,
                                  "ratio": median(walls) / cp, "calls": runs[0][1],
                                  "zero_latency_wall_s": median(zero),
                                  "excess_s": median(walls) - cp}
    return out


def render(r: dict[str, Any]) -> str:
    rows = []
    for variant in ("nodelay", "stock"):
        for c in (4, 1):
            x = r[variant][f"c{c}"]
            headline = variant == "nodelay" and c == 4
            rows.append((f"{variant}, LLM_CONCURRENCY={c}", x["wall_s"], x["critical_path_s"], x["ratio"],
                         x["excess_s"], x["zero_latency_wall_s"], x["calls"],
                         "<= 1.2" if headline else "baseline" if c == 1 else "", verdict(r["met"]) if headline else ""))
    title = (f"curriculum latency: the {r['lessons']}-lesson request (offline plan), "
             f"L = {r['latency_s'] * 1000:.0f} ms per call, {r['path']}")
    return table(title, rows, ("run", "wall s", "critical path s", "ratio", "excess s", "wall at L=0 s",
                               "calls", "target", ""))


if __name__ == "__main__":
    print(render(measure()))
