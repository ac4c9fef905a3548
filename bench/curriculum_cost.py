"""Curriculum cost: model calls, tokens, wall time and the shared writing prefix of whole courses.

Generates a 1-week, a 12-week and a 52-week x 20 h course with the ``openai`` generator, in this
process (``OpenAIGenerator.generate``, no cache), against ``tests.llm_server.LLMServer`` on loopback
behaving like a model that streams at a fixed rate: each reply takes ``FIRST_TOKEN_S`` plus its
completion tokens / ``TOKENS_PER_S`` (tokens counted as characters / 4), and ``max_tokens`` is
honoured (a longer reply is cut there with ``finish_reason: length``, so a reply that would not fit
shows up as extra calls). ``LLM_CONCURRENCY`` = 8.

Reported per course: calls, prompt and completion tokens (the provider-reported ``usage`` the result
carries), wall seconds, and the length of the text every writing prompt of the course begins with
(characters / 4, the prefix a provider's prompt cache can reuse; caches start at 1,024 tokens).
Targets (issue 18): 52 x 20 h in at most 60 calls and under 150 s.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import table, verdict
from jobs.generators import GeneratorConfig
from jobs.generators.openai_generator import OpenAIGenerator
from jobs.models import parse_request
from tests.llm_server import LLMServer

FIRST_TOKEN_S = 0.5
TOKENS_PER_S = 200.0
CONCURRENCY = 8
OBJECTIVES = ["Write SELECT queries with filters and sorting", "Join tables and explain the result",
              "Aggregate with GROUP BY and HAVING", "Use window functions for running totals"]
COURSES: list[tuple[str, dict[str, Any]]] = [
    ("1 week x 6 h", {"duration_weeks": 1, "hours_per_week": 6}),
    ("12 weeks x 5 h", {"duration_weeks": 12, "hours_per_week": 5}),
    ("52 weeks x 20 h", {"duration_weeks": 52, "hours_per_week": 20}),
]
MAX_CALLS, MAX_WALL_S = 60, 150.0


def _course(server: LLMServer, fields: dict[str, Any]) -> dict[str, Any]:
    request = parse_request({"topic": "SQL for data analysts", "objectives": OBJECTIVES, **fields})
    config = GeneratorConfig(name="openai", api_key="sk-bench-not-a-key", base_url=server.base_url,
                             model="bench-model", concurrency=CONCURRENCY, request_timeout_s=300)
    generator = OpenAIGenerator(config)
    before = server.requests
    start = time.perf_counter()
    result = generator.generate(request, lambda stage, done, total: None)
    wall = time.perf_counter() - start
    return {
        "calls": server.requests - before, "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens, "wall_s": round(wall, 1),
        "shared_prefix_tokens": len(generator.last_shared_prefix) // 4,
        "modules": len(result.modules), "lessons": sum(len(m.lessons) for m in result.modules),
        "fallbacks": sum(1 for m in result.modules for x in m.lessons if x.fallback),
        "truncated_replies": server.truncated,
    }


def measure() -> dict[str, Any]:
    out: dict[str, Any] = {"first_token_s": FIRST_TOKEN_S, "tokens_per_s": TOKENS_PER_S,
                           "llm_concurrency": CONCURRENCY, "courses": {}}
    with LLMServer(first_token_s=FIRST_TOKEN_S, tokens_per_s=TOKENS_PER_S) as server:
        for name, fields in COURSES:
            server.reset()
            out["courses"][name] = _course(server, fields)
    year = out["courses"]["52 weeks x 20 h"]
    out["target"] = f"52 x 20 h: <= {MAX_CALLS} calls, < {MAX_WALL_S:.0f} s"
    out["met"] = year["calls"] <= MAX_CALLS and year["wall_s"] < MAX_WALL_S
    return out


def render(r: dict[str, Any]) -> str:
    rows = [(name, c["modules"], c["lessons"], c["calls"], c["prompt_tokens"], c["completion_tokens"], c["wall_s"],
             c["shared_prefix_tokens"], c["fallbacks"]) for name, c in r["courses"].items()]
    title = (f"curriculum cost: first token {r['first_token_s']} s + {r['tokens_per_s']:.0f} tokens/s per stream, "
             f"LLM_CONCURRENCY={r['llm_concurrency']}; target {r['target']}: {verdict(r['met'])}")
    return table(title, rows, ("course", "modules", "lessons", "calls", "prompt tokens", "completion tokens",
                               "wall s", "shared prefix tokens", "fallbacks"))


if __name__ == "__main__":
    print(render(measure()))
