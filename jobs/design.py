"""A model-designed course: the hard limits we give the model, and the design it gives back.

The model chooses the course's shape (modules in prerequisite order; per module its lessons, their
kinds, the requested objectives each teaches and rough minutes). What no chat model gives reliably
stays the planner's (``jobs.fitting``): exact minutes inside the budget, the weekly schedule, a
closing assessment per module, coverage claims that hold. ``Limits`` is what the model is told;
every number in it comes from the same budget rules as the offline plan (``jobs.planner``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jobs.models import LESSON_KINDS, CurriculumRequest, LessonKind
from jobs.planner import (
    MIN_LESSON_MINUTES,
    PROFILES,
    SHORT_COURSE_MINUTES,
    lessons_per_week,
    requested_objectives,
    week_capacity,
)

#: Most modules a course is designed with: 1 + 2 x modules calls stay within the call budget.
MAX_MODULES = 24
#: Most lessons in one module: its writing reply (about 130 tokens a lesson) stays well below output limits.
MAX_MODULE_LESSONS = 60
#: Fewest lessons per module once a course has 5 or more: assessments stay at most 20 % of the lessons.
MIN_MODULE_LESSONS = 5
#: Most requested objectives one lesson may claim (a lesson teaching ten things teaches none well).
MAX_CLAIMS = 3
#: Courses suggested more lessons than this are designed in two steps (modules, then their lessons).
SINGLE_CALL_LESSONS = 48


@dataclass(frozen=True)
class Limits:
    """The hard limits of a course, as the model is told them and the planner enforces them."""

    weeks: int
    hours_per_week: float
    weekly_minutes: int  # planned minutes in every week
    week_capacity: int
    lesson_min: int
    lesson_max: int
    min_lessons: int
    max_lessons: int
    suggested_lessons: int
    min_modules: int
    max_modules: int
    objectives: tuple[str, ...]
    kinds: tuple[LessonKind, ...] = LESSON_KINDS

    @property
    def split(self) -> bool:
        """Whether the design is asked in two steps (a long course's outline would meet output limits)."""
        return self.suggested_lessons > SINGLE_CALL_LESSONS

    def clamp_lessons(self, count: int) -> int:
        return min(max(count, self.min_lessons), self.max_lessons)

    def module_range(self, lessons: int) -> tuple[int, int]:
        """Fewest and most modules for a course of ``lessons`` lessons."""
        high = max(1, min(self.max_modules, lessons // MIN_MODULE_LESSONS))
        low = min(high, max(self.min_modules, math.ceil(lessons / MAX_MODULE_LESSONS)))
        return low, high


def design_limits(request: CurriculumRequest) -> Limits:
    """The limits of ``request``'s course: the offline plan's budget, with the lesson count left open."""
    profile = PROFILES[request.level]
    capacity = week_capacity(request.hours_per_week)
    weekly = max(1, math.floor(capacity * profile.utilisation))
    objectives = requested_objectives(request.objectives)
    weeks = request.duration_weeks
    per_week = lessons_per_week(request.level, weekly, weeks, len(objectives))
    # at least something to learn and its assessment
    low = max(2, weeks * math.ceil(weekly / profile.max_lesson_minutes))
    high = weeks * max(1, weekly // MIN_LESSON_MINUTES)
    single = weeks * capacity <= SHORT_COURSE_MINUTES  # a single assessment
    return Limits(
        weeks=weeks, hours_per_week=request.hours_per_week, weekly_minutes=weekly, week_capacity=capacity,
        lesson_min=MIN_LESSON_MINUTES, lesson_max=profile.max_lesson_minutes, min_lessons=low,
        max_lessons=min(high, MAX_MODULES * MAX_MODULE_LESSONS),
        suggested_lessons=min(max(weeks * per_week, low), high),
        min_modules=1, max_modules=1 if single else MAX_MODULES, objectives=objectives,
    )


@dataclass(frozen=True)
class DesignedLesson:
    title: str
    kind: LessonKind
    objectives: tuple[str, ...]
    minutes: int  # the model's rough length; the planner fits the real one


@dataclass(frozen=True)
class DesignedAssessment:
    title: str
    kind: str
    description: str


@dataclass(frozen=True)
class DesignedModule:
    title: str
    summary: str
    objectives: tuple[str, ...]
    assessment: DesignedAssessment
    lessons: tuple[DesignedLesson, ...]


@dataclass(frozen=True)
class Design:
    """The course as the model designed it, modules in the order it chose."""

    modules: tuple[DesignedModule, ...]

    @property
    def lessons(self) -> tuple[DesignedLesson, ...]:
        return tuple(lesson for module in self.modules for lesson in module.lessons)


def normal(text: str) -> str:
    """A comparison key: whitespace collapsed, trailing punctuation dropped, case folded."""
    return " ".join(text.split()).strip(" .;:!").casefold()


def design_problems(design: Design, limits: Limits) -> tuple[list[str], str]:
    """What is worth one re-ask (duplicate titles, uncovered objectives), and a hint for the model."""
    titles = [normal(lesson.title) for lesson in design.lessons]
    repeated = sorted({t for t in titles if titles.count(t) > 1})
    claimed = {normal(o) for lesson in design.lessons for o in lesson.objectives}
    missing = [o for o in limits.objectives if normal(o) not in claimed]
    problems, hints = [], []
    if repeated:
        problems.append(f"{len(repeated)} lesson title(s) are used more than once")
        hints.append("Every lesson title must be unique in the course and say what that lesson does.")
    if missing:
        problems.append(f"{len(missing)} requested objective(s) are taught by no lesson")
        hints.append("Objectives no lesson lists yet (list each in the lessons that teach it, verbatim): "
                     + "; ".join(missing))
    return problems, " ".join(hints)
