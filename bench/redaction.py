"""Log redaction cost at 100 kB and 1 MB of hostile text: a linear redactor's ratio is about 10.

`python -m bench.redaction`. Inputs are the shapes that made the old pattern quadratic (a long
scheme-like run, a password that never meets "@"). Prints seconds per size and the 1 MB / 100 kB
ratio per shape; quadratic behaviour would show a ratio near 100.
"""

from __future__ import annotations

import json
import time

from worker.logs import Redactor

SHAPES = {
    "letters": lambda n: "a" * n,
    "no_at": lambda n: "x://u:" + "p" * n,
    "colons": lambda n: "http://" + "a:" * (n // 2),
}


def seconds(text: str, repeats: int = 3) -> float:
    redact = Redactor(["secret-value"])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        redact(text)
        best = min(best, time.perf_counter() - start)
    return best


def measure() -> dict[str, dict[str, float]]:
    results = {}
    for name, make in SHAPES.items():
        small, large = seconds(make(100_000)), seconds(make(1_000_000))
        results[name] = {"s_100kB": round(small, 5), "s_1MB": round(large, 5), "ratio": round(large / small, 1)}
    return results


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
