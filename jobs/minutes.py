"""Assessment minutes: an assessment lasts about half a lesson, and the minutes it frees go elsewhere.

A course whose every lesson lasts the same time spends a third of a three-lesson module on its
assessment ("Welding safety", 2 h: a third on a quiz). Cutting each assessment to about half a
lesson keeps assessments under a fifth of any course; the minutes freed go to other lessons, so
weekly loads and the course total stay exactly what the planner budgeted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from jobs.models import LessonKind
from jobs.shapes import distribute

#: An assessment lasts about this share of a lesson of its week (never under the shortest lesson).
ASSESSMENT_SHARE_OF_LESSON = 0.5
#: Project lessons may grow by an assessment's minutes only while the capstone stays under this share.
PROJECT_SHARE_TARGET = 0.25


def shorter_assessments(slots: list[tuple[int, int]], kinds: Sequence[LessonKind], cap: int,
                        capacity: int, shortest: int) -> list[tuple[int, int]]:
    """(week, minutes) per lesson with each assessment cut to about half a lesson (never under
    ``shortest``). The minutes freed go to the other lessons of its week (project lessons
    only while the capstone stays under ``PROJECT_SHARE_TARGET``), then evenly to other weeks within
    their slack (a week never passes ``capacity``), each lesson up to ``cap``; what none can hold
    stays with the assessments, so the course total never changes."""
    out = list(slots)
    tests = [i for i, kind in enumerate(kinds) if kind == "assessment"]
    freed: dict[int, int] = {}
    for i in tests:
        week, minutes = out[i]
        short = min(minutes, max(shortest, math.floor(minutes * ASSESSMENT_SHARE_OF_LESSON)))
        freed[week] = freed.get(week, 0) + minutes - short
        out[i] = (week, short)
    total = sum(m for _, m in slots)
    project_room = max(0, math.floor(total * PROJECT_SHARE_TARGET) - sum(
        m for (_, m), kind in zip(slots, kinds, strict=True) if kind == "project"))
    teaching = [i for i, kind in enumerate(kinds) if kind not in ("assessment", "project")]
    projects = [i for i, kind in enumerate(kinds) if kind == "project"]
    left: dict[int, int] = {}  # minutes freed in each week that its own lessons could not take
    for week, minutes in freed.items():
        rest = minutes - _give(out, [i for i in teaching if out[i][0] == week], minutes, cap)
        given = _give(out, [i for i in projects if out[i][0] == week], min(rest, project_room), cap)
        project_room -= given
        left[week] = rest - given
    pool = sum(left.values())
    others = [w for w in dict.fromkeys(w for w, _ in out) if w not in freed]
    for week, share in zip(others, distribute(pool, len(others)) if others else [], strict=True):
        room = capacity - sum(m for w, m in out if w == week)
        pool -= _give(out, [i for i in teaching if out[i][0] == week], min(share, room), cap)
    for week, minutes in left.items():  # what no week could hold goes back where it came from
        back = min(minutes, pool)
        _give(out, [i for i in tests if out[i][0] == week], back, cap)
        pool -= back
    return out


def _give(out: list[tuple[int, int]], takers: list[int], minutes: int, cap: int) -> int:
    """Spread ``minutes`` over ``takers`` as evenly as ``cap`` allows; returns how many were placed."""
    placed = 0
    for n, i in enumerate(takers):
        week, length = out[i]
        extra = max(0, min(cap - length, math.ceil((minutes - placed) / (len(takers) - n))))
        out[i] = (week, length + extra)
        placed += extra
    return placed
