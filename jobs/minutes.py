"""Whole minutes in proportion to rough ones, inside bounds, adding up exactly.

A week's planned minutes are shared among its lessons as the model's rough minutes suggest (a
workshop twice as long as a lecture stays twice as long), but every lesson keeps within the
level's bounds and the week adds up to the minute, so the budget invariants hold exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _targets(total: int, weights: Sequence[float], low: int, high: int) -> list[float]:
    """Water-filling: proportional shares; shares out of bounds are pinned and the rest re-shared."""
    pinned: dict[int, float] = {}
    while True:
        free = [i for i in range(len(weights)) if i not in pinned]
        left = total - sum(pinned.values())
        mass = sum(weights[i] for i in free)
        shares = {i: left * weights[i] / mass for i in free} if mass else {}
        under = {i: float(low) for i, v in shares.items() if v < low}
        over = {i: float(high) for i, v in shares.items() if v > high}
        if not under and not over:
            return [pinned.get(i, shares.get(i, 0.0)) for i in range(len(weights))]
        pinned.update(under or over)


def split(total: int, rough: Sequence[int], low: int, high: int) -> list[int]:
    """``len(rough)`` whole numbers in ``[low, high]`` summing to ``total``, in proportion to ``rough``.

    Requires ``len(rough) * low <= total <= len(rough) * high``.
    """
    if not rough:
        return []
    if not len(rough) * low <= total <= len(rough) * high:
        raise ValueError(f"{total} minutes cannot be split into {len(rough)} lessons of {low}-{high}")
    weights = [float(max(1, r)) for r in rough]
    targets = _targets(total, weights, low, high)
    out = [max(low, min(high, math.floor(t))) for t in targets]
    order = sorted(range(len(out)), key=lambda i: targets[i] - math.floor(targets[i]), reverse=True)
    for i in order * 2:
        diff = total - sum(out)
        if diff == 0:
            break
        step = 1 if diff > 0 else -1
        if low <= out[i] + step <= high:
            out[i] += step
    return out
