"""Whole minutes in proportion to rough ones, inside bounds, adding up exactly.

A week's planned minutes are shared among its lessons as the model's rough minutes suggest (a
workshop twice as long as a lecture stays twice as long), but every lesson keeps within the
level's bounds and the week adds up to the minute, so the budget invariants hold exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _targets(total: int, weights: Sequence[float], low: int, high: int) -> list[float]:
    """``clamp(scale * weight)`` for the scale at which they add up to ``total`` (found by bisection:
    the sum only grows with the scale)."""

    def at(scale: float) -> list[float]:
        return [min(high, max(low, scale * w)) for w in weights]

    lo, hi = 0.0, float(high) / min(weights)
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(at(mid)) < total:
            lo = mid
        else:
            hi = mid
    return at(hi)


def split(total: int, rough: Sequence[float], low: int, high: int) -> list[int]:
    """``len(rough)`` whole numbers in ``[low, high]`` summing to ``total``, in proportion to ``rough``.

    Requires ``len(rough) * low <= total <= len(rough) * high``.
    """
    if not rough:
        return []
    if not len(rough) * low <= total <= len(rough) * high:
        raise ValueError(f"{total} minutes cannot be split into {len(rough)} lessons of {low}-{high}")
    weights = [max(1e-9, float(r)) for r in rough]
    targets = _targets(total, weights, low, high)
    out = [max(low, min(high, math.floor(t))) for t in targets]
    order = sorted(range(len(out)), key=lambda i: targets[i] - math.floor(targets[i]), reverse=True)
    for i in order * 3:
        diff = total - sum(out)
        if diff == 0:
            break
        step = 1 if diff > 0 else -1
        if low <= out[i] + step <= high:
            out[i] += step
    return out
