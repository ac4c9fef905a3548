"""`make bench` / `python -m bench`: every benchmark in sequence, each figure beside its same-run baseline.

Writes everything to bench/results/latest.json (committed with bench/RESULTS.md, so that the
figures quoted there can be checked). The kill matrix is separate: `python -m bench.kill_matrix`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from bench import (
    cache,
    capacity,
    concurrency,
    curriculum_cost,
    curriculum_latency,
    metrics_cost,
    overhead,
    probe_cost,
    provider_budget,
    round_trips,
)
from bench.common import machine, write_results

BENCHMARKS: list[tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], str]]] = [
    ("overhead", lambda: overhead.measure(n=200, m=50, rounds=2), overhead.render),
    ("round_trips", lambda: round_trips.measure(n=100), round_trips.render),
    ("curriculum_latency", lambda: curriculum_latency.measure(latency_s=0.2, repeats=3), curriculum_latency.render),
    ("cache", lambda: cache.measure(latency_s=0.2, repeats=5), cache.render),
    ("capacity", lambda: capacity.measure(latency_s=0.5), capacity.render),
    ("concurrency", lambda: concurrency.measure(latency_s=1.0), concurrency.render),
    ("probe_cost", lambda: probe_cost.measure(jobs=1_000_000, repeats=5), probe_cost.render),
    ("metrics_cost", lambda: metrics_cost.measure(n=200, rounds=3), metrics_cost.render),
    ("curriculum_cost", curriculum_cost.measure, curriculum_cost.render),
    ("provider_budget", lambda: provider_budget.measure(trees=3, per_tree=2, courses=18), provider_budget.render),
]


def main(only: list[str]) -> int:
    unknown = sorted(set(only) - {name for name, _, _ in BENCHMARKS})
    if unknown:
        names = ", ".join(name for name, _, _ in BENCHMARKS)
        print(f"usage: python -m bench [NAME...]; unknown: {', '.join(unknown)}; names: {names}", file=sys.stderr)
        return 2
    began = time.monotonic()
    results: dict[str, Any] = {"machine": machine()}
    print(f"machine: {results['machine']}\n", flush=True)
    for name, measure, render in BENCHMARKS:
        if only and name not in only:
            continue
        start = time.monotonic()
        results[name] = measure()
        results[name]["bench_wall_s"] = round(time.monotonic() - start, 1)
        print(render(results[name]), f"\n({name}: {results[name]['bench_wall_s']} s)\n", flush=True)
    results["total_wall_s"] = round(time.monotonic() - began, 1)
    print(f"total {results['total_wall_s']} s; written to {write_results(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
