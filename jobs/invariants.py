"""The contract's invariants of a finished curriculum, checked before any result is returned.

Three groups: the schedule and time budget, the shape rules (``shape_problems``) and the
consistency of objective coverage (``jobs.coverage.coverage_problems``).

The planner is built to satisfy them; this module checks the assembled result independently (and
the tests use it as their oracle), so a planner bug or a generator that bends a number fails the
job loudly instead of handing out a curriculum that breaks the contract.
"""

from __future__ import annotations

from decimal import Decimal

from jobs.coverage import coverage_problems
from jobs.models import Curriculum, CurriculumRequest, Lesson, Usage
from jobs.planner import (
    MIN_LESSON_MINUTES,
    PROFILES,
    SHORT_COURSE_MINUTES,
    CurriculumInvariantError,
    decimal_minutes,
)
from jobs.shapes import REVIEW_WEEKS

FOUNDATION_SHARE_ADVANCED = 0.10
PROJECT_SHARE_MAX = 0.30
ASSESSMENT_SHARE_MAX = 0.20


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


def _request_echo_problems(curriculum: Curriculum, request: CurriculumRequest | None) -> list[str]:
    if request is None:
        return []
    echoed = ("topic", "level", "duration_weeks", "hours_per_week")
    return [f"{f} differs from the request" for f in echoed if getattr(curriculum, f) != getattr(request, f)]


def _share(lessons: list[Lesson], kind: str, total: int) -> float:
    return sum(lesson.minutes for lesson in lessons if lesson.kind == kind) / max(total, 1)


def shape_problems(curriculum: Curriculum) -> list[str]:
    """Rules of a plan a course designer would sign: lesson lengths, unique titles, an assessment
    closing each module, bounded foundations and project work, teaching before projects, reviews."""
    problems = []
    lessons = [lesson for module in curriculum.modules for lesson in module.lessons]
    cap = PROFILES[curriculum.level].max_lesson_minutes
    problems += [
        f"lesson {lesson.id} lasts {lesson.minutes} minutes, outside {MIN_LESSON_MINUTES}-{cap}"
        for lesson in lessons
        if not MIN_LESSON_MINUTES <= lesson.minutes <= cap
    ]
    titles = [lesson.title.casefold() for lesson in lessons]
    if len(set(titles)) != len(titles):
        problems.append("two lessons share a title")
    problems += [
        f"module {module.title!r} does not end with an assessment lesson"
        for module in curriculum.modules
        if not module.lessons or module.lessons[-1].kind != "assessment"
    ]
    total = sum(lesson.minutes for lesson in lessons)
    if curriculum.level == "advanced" and _share(lessons, "foundation", total) > FOUNDATION_SHARE_ADVANCED:
        problems.append("foundations take more than 10 % of an advanced course")
    if _share(lessons, "project", total) > PROJECT_SHARE_MAX:
        problems.append("project work takes more than 30 % of the time")
    kinds = [lesson.kind for lesson in lessons]
    if "project" in kinds and "core" not in kinds[: kinds.index("project")]:
        problems.append("a project lesson comes before any core lesson")
    if curriculum.duration_weeks >= REVIEW_WEEKS and "review" not in kinds:
        problems.append(f"a course of {REVIEW_WEEKS} weeks or more has no review lesson")
    return problems + _assessment_problems(curriculum, lessons, total)


def _assessment_problems(curriculum: Curriculum, lessons: list[Lesson], total: int) -> list[str]:
    """Assessments take at most a fifth of the time (a course too short for that holds one lesson of
    the shortest length), and a course of at most 3 hours has a single one."""
    tests = [lesson.minutes for lesson in lessons if lesson.kind == "assessment"]
    problems = []
    if sum(tests) > total * ASSESSMENT_SHARE_MAX and tests != [MIN_LESSON_MINUTES]:
        problems.append("assessments take more than 20 % of the time")
    available = decimal_minutes(curriculum.hours_per_week) * curriculum.duration_weeks
    if available <= SHORT_COURSE_MINUTES and len(tests) > 1:
        problems.append("a course of 3 hours or less has more than one assessment")
    return problems


def source_problems(curriculum: Curriculum) -> list[str]:
    """Who wrote what must be told truthfully: a fallback is template text, and an offline
    curriculum is all template text that cost no model call."""
    lessons = [lesson for module in curriculum.modules for lesson in module.lessons]
    problems = [
        f"lesson {lesson.id} is a fallback but its source is {lesson.source!r}"
        for lesson in lessons
        if lesson.fallback and lesson.source != "template"
    ]
    if curriculum.generator.name == "offline":
        if any(lesson.source != "template" for lesson in lessons):
            problems.append("an offline curriculum has a lesson whose source is not 'template'")
        if curriculum.usage.model_dump() != Usage().model_dump():
            problems.append("an offline curriculum reports model usage")
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
    problems += _request_echo_problems(curriculum, request)
    problems += source_problems(curriculum)
    return problems + shape_problems(curriculum) + coverage_problems(curriculum, request)


def check_invariants(curriculum: Curriculum, request: CurriculumRequest | None = None) -> None:
    """Raise ``CurriculumInvariantError`` listing every broken invariant; return quietly otherwise."""
    problems = invariant_problems(curriculum, request)
    if problems:
        raise CurriculumInvariantError(problems)
