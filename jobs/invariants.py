"""The contract's invariants of a finished curriculum, checked before any result is returned.

The planner is built to satisfy them; this module checks the assembled result independently (and
the tests use it as their oracle), so a planner bug or a generator that bends a number fails the
job loudly instead of handing out a curriculum that breaks the contract.
"""

from __future__ import annotations

from decimal import Decimal

from jobs.models import Curriculum, CurriculumRequest, Lesson
from jobs.planner import CurriculumInvariantError, decimal_minutes


def _schedule_problems(curriculum: Curriculum, lessons: dict[str, Lesson], order: list[str]) -> list[str]:
    problems = []
    if len(curriculum.schedule) != curriculum.duration_weeks:
        problems.append(
            f"schedule has {len(curriculum.schedule)} weeks, expected {curriculum.duration_weeks}"
        )
    if [w.week for w in curriculum.schedule] != list(range(1, len(curriculum.schedule) + 1)):
        problems.append("schedule weeks are not numbered 1..n in order")
    cap = decimal_minutes(curriculum.hours_per_week)
    scheduled: list[str] = []
    for week in curriculum.schedule:
        scheduled.extend(week.lesson_ids)
        if week.minutes != sum(lessons[i].minutes for i in week.lesson_ids if i in lessons):
            problems.append(f"week {week.week}: minutes do not match its lessons")
        if week.minutes > cap:
            problems.append(f"week {week.week}: {week.minutes} minutes exceeds hours_per_week * 60")
    if sorted(scheduled) != sorted(order):
        problems.append("lessons are not each scheduled exactly once")
    elif scheduled != order:
        problems.append("schedule does not follow the lesson order")
    return problems


def _coverage_problems(curriculum: Curriculum, request: CurriculumRequest | None) -> list[str]:
    problems = []
    titles = {m.title for m in curriculum.modules}
    for entry in curriculum.objectives_coverage:
        if not entry.modules or not set(entry.modules) <= titles:
            problems.append("an objective is not mapped to existing modules")
    if request is not None:
        if [e.objective for e in curriculum.objectives_coverage] != list(request.objectives):
            problems.append("objectives_coverage does not list the requested objectives")
        echoed = ("topic", "level", "duration_weeks", "hours_per_week")
        problems += [
            f"{f} differs from the request" for f in echoed if getattr(curriculum, f) != getattr(request, f)
        ]
    return problems


def invariant_problems(curriculum: Curriculum, request: CurriculumRequest | None = None) -> list[str]:
    """Every contract invariant the curriculum breaks (empty when it is valid)."""
    problems: list[str] = []
    lessons: dict[str, Lesson] = {}
    order: list[str] = []
    for module in curriculum.modules:
        if not module.lessons:
            problems.append(f"module {module.title!r} has no lessons")
        for lesson in module.lessons:
            if lesson.id in lessons:
                problems.append(f"lesson id {lesson.id} is not unique")
            if lesson.minutes <= 0:
                problems.append(f"lesson {lesson.id} has no minutes")
            lessons[lesson.id] = lesson
            order.append(lesson.id)
    if not curriculum.modules:
        problems.append("curriculum has no modules")
    problems += _schedule_problems(curriculum, lessons, order)
    total = sum(lesson.minutes for lesson in lessons.values())
    if curriculum.total_minutes != total:
        problems.append("total_minutes is not the sum of the lessons")
    available = decimal_minutes(curriculum.hours_per_week) * curriculum.duration_weeks
    if not available * Decimal("0.8") <= curriculum.total_minutes <= available:
        problems.append("total_minutes is not within 80-100 % of the time available")
    return problems + _coverage_problems(curriculum, request)


def check_invariants(curriculum: Curriculum, request: CurriculumRequest | None = None) -> None:
    """Raise ``CurriculumInvariantError`` listing every broken invariant; return quietly otherwise."""
    problems = invariant_problems(curriculum, request)
    if problems:
        raise CurriculumInvariantError(problems)
