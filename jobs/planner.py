"""Pure planning: the time budget, lesson slots, the weekly schedule and what each lesson teaches.

Generators only write *words* (titles, summaries, activities); every number and every claim in a
curriculum comes from here: each lesson's kind, minutes and week, and the requested objectives it
teaches (``LessonSlot.objectives``). So the contract's invariants hold whatever a model says.

Budget: each week gets the same planned load ``floor(capacity * utilisation)`` where ``capacity``
is ``floor(hours_per_week * 60)`` (computed in decimal, so 1.3 h is exactly 78 minutes) and
``utilisation`` is 0.85-0.95 depending on level. With capacity >= 60 minutes that is always within
80-100 % of the time available. A week holds ``n`` >= 2 lessons of (nearly) equal length, between
``MIN_LESSON_MINUTES`` and a tenth under the level's cap; heavy weeks get more lessons, never longer
ones, and objectives that need room get shorter lessons down to ``OBJECTIVE_LESSON_MINUTES``. The
lessons are numbered in course order and filled week by week, so the schedule follows module order.
``jobs.shapes`` decides what kind each lesson is; then each assessment is cut to about half a lesson
and its minutes go to other lessons (``shorter_assessments``), so assessments stay under a fifth of
the course. A course of at most ``SHORT_COURSE_MINUTES`` is one module, so it has one assessment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from jobs.coverage import coverage_entries
from jobs.errors import PermanentJobError
from jobs.minutes import shorter_assessments
from jobs.models import (
    Assessment,
    Curriculum,
    CurriculumRequest,
    GeneratorInfo,
    Lesson,
    LessonKind,
    LessonSource,
    Level,
    Module,
    ScheduleWeek,
    Usage,
)
from jobs.shapes import LEVEL_SHAPES, MIN_LESSONS, LessonSpec, ModuleKind, brought_in, distribute, shape
from jobs.skills import skill_of

#: Shortest lesson, whatever the budget.
MIN_LESSON_MINUTES = 15
#: Lessons are shortened down to this to make room for requested objectives, not further.
OBJECTIVE_LESSON_MINUTES = 20
#: Sub-themes the offline generator can name when no objectives are requested.
THEME_COUNT = 6
#: A course with at most this much time (weeks x hours, in minutes) is one module: one assessment.
SHORT_COURSE_MINUTES = 180


@dataclass(frozen=True)
class LevelProfile:
    lesson_minutes: int  # preferred lesson length
    max_lesson_minutes: int  # contract: 90 / 120 / 150
    max_lessons_per_week: int  # unless the cap on lesson length needs more
    utilisation: float  # share of the weekly capacity that is planned (the rest is slack)


PROFILES: dict[Level, LevelProfile] = {
    "beginner": LevelProfile(45, 90, 8, 0.85),
    "intermediate": LevelProfile(60, 120, 6, 0.90),
    "advanced": LevelProfile(75, 150, 5, 0.95),
}


@dataclass(frozen=True)
class LessonSlot:
    """One lesson to write: its kind, minutes, week, and the requested objectives it must teach.

    ``focus`` indexes ``Plan.focuses`` (core and practice lessons); ``part`` / ``of`` place the lesson
    among the course's lessons of the same kind and focus (project: 1 = scope, ``of`` = present).
    """

    id: str
    module_index: int
    position: int  # index within the module
    course_position: int  # index within the course
    week: int
    minutes: int
    kind: LessonKind
    objectives: tuple[str, ...]
    focus: int | None
    part: int
    of: int
    title: str | None = None  # a model-designed lesson's title (``jobs.fitting``); offline writes its own


@dataclass(frozen=True)
class ModuleSlot:
    index: int
    kind: ModuleKind
    objectives: tuple[str, ...]  # requested objectives its lessons teach
    focuses: tuple[int, ...]
    lessons: tuple[LessonSlot, ...]


@dataclass(frozen=True)
class Plan:
    """``focuses`` are the objectives that fit, in request order, or ``None`` per sub-theme when the
    request has no objectives (the generator names them); ``uncovered`` the objectives that did not fit."""

    level: Level
    weekly_minutes: int
    week_capacity: int
    modules: tuple[ModuleSlot, ...]
    focuses: tuple[str | None, ...]
    objectives: tuple[str, ...]  # requested, blank and repeated ones dropped
    uncovered: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def lessons(self) -> tuple[LessonSlot, ...]:
        return tuple(lesson for module in self.modules for lesson in module.lessons)


# --- budget -------------------------------------------------------------------------------------


def decimal_minutes(hours_per_week: float) -> Decimal:
    return Decimal(repr(float(hours_per_week))) * 60


def week_capacity(hours_per_week: float) -> int:
    """Whole minutes a week may hold: floor(hours * 60), computed without binary rounding."""
    return math.floor(decimal_minutes(hours_per_week))


def lessons_per_week(level: Level, weekly: int, weeks: int, objectives: int) -> int:
    """Lessons in each week: the level's preferred length, more to fit objectives, within bounds."""
    profile = PROFILES[level]
    # Lessons stop a tenth short of the cap, so they can take the minutes a shortened assessment frees.
    most_at_cap = math.ceil(weekly / (profile.max_lesson_minutes * 0.9))
    count = min(max(1, round(weekly / profile.lesson_minutes)), max(profile.max_lessons_per_week, most_at_cap))
    if objectives:
        per_module = LEVEL_SHAPES[level].module_teaching
        needed = 2 * objectives + math.ceil(2 * objectives / per_module)
        count = max(count, min(math.ceil(needed / weeks), weekly // OBJECTIVE_LESSON_MINUTES))
    # At least two a week, so an assessment's week has another lesson to take the minutes it frees.
    count = max(count, 2, math.ceil(MIN_LESSONS / weeks), most_at_cap)
    return min(count, weekly // MIN_LESSON_MINUTES)


def requested_objectives(objectives: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The objectives to plan for: blank ones carry nothing to teach, a repeat is taught once."""
    return tuple(dict.fromkeys(o for o in objectives if o.strip()))


def _warnings(request: CurriculumRequest, uncovered: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    blank = sum(1 for o in request.objectives if not o.strip())
    if blank:
        out.append(f"{blank} blank objective(s) ignored: there is nothing to teach for them")
    if uncovered:
        out.append(
            f"{len(uncovered)} of {len(requested_objectives(request.objectives))} objectives do not fit in "
            f"{request.duration_weeks} week(s) x {request.hours_per_week:g} h and are not taught "
            "(see uncovered_objectives); allow more time or ask for fewer objectives"
        )
    return tuple(out)


def _claims(spec: LessonSpec, focuses: tuple[str | None, ...]) -> tuple[str, ...]:
    """The requested objectives a lesson teaches: its focus, or what a capstone build brings in."""
    if spec.kind == "project":
        indexes = brought_in(spec.part, spec.of, len(focuses))
    else:
        indexes = (spec.focus,) if spec.focus is not None else ()
    return tuple(o for i in indexes if (o := focuses[i]) is not None)


def plan(request: CurriculumRequest) -> Plan:
    """Lesson slots (kind, minutes, week, objectives), grouped into modules, for any valid request."""
    profile = PROFILES[request.level]
    weeks = request.duration_weeks
    capacity = week_capacity(request.hours_per_week)
    weekly = max(1, math.floor(capacity * profile.utilisation))
    objectives = requested_objectives(request.objectives)
    per_week = lessons_per_week(request.level, weekly, weeks, len(objectives))
    short = decimal_minutes(request.hours_per_week) * weeks <= SHORT_COURSE_MINUTES
    week_minutes = distribute(weekly, per_week)
    slots = [(week + 1, minutes) for week in range(weeks) for minutes in week_minutes]
    course = shape(len(slots), request.level, weeks, len(objectives), THEME_COUNT, single_module=short,
                   practice_heavy=skill_of(request) is not None)
    slots = shorter_assessments(slots, [ls.kind for spec in course.modules for ls in spec.lessons],
                                profile.max_lesson_minutes, capacity, MIN_LESSON_MINUTES)
    focuses: tuple[str | None, ...] = (
        objectives[: course.covered] if objectives else (None,) * course.focus_count
    )
    modules, cursor = [], 0
    for index, spec in enumerate(course.modules):
        lessons = []
        for position, ls in enumerate(spec.lessons):
            week, minutes = slots[cursor]
            lessons.append(
                LessonSlot(
                    f"m{index + 1}-l{position + 1}", index, position, cursor, week, minutes, ls.kind,
                    _claims(ls, focuses), ls.focus, ls.part, ls.of,
                )
            )
            cursor += 1
        taught_here = tuple(dict.fromkeys(o for ls in lessons for o in ls.objectives))
        modules.append(ModuleSlot(index, spec.kind, taught_here, spec.focuses, tuple(lessons)))
    uncovered = objectives[course.covered :]
    return Plan(
        request.level, weekly, capacity, tuple(modules), focuses, objectives, uncovered,
        _warnings(request, uncovered),
    )


# --- assembly -----------------------------------------------------------------------------------


class CurriculumInvariantError(PermanentJobError):
    """A curriculum broke the contract's invariants (a bug, not bad input); lists every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("curriculum breaks the contract: " + "; ".join(self.problems))


@dataclass(frozen=True)
class LessonContent:
    """A generator's words for one slot. ``source`` says who wrote them; ``fallback`` marks template
    text standing in for a model reply that stayed unusable (its source is then ``template``)."""

    title: str
    summary: str
    activities: tuple[str, ...]
    fallback: bool = False
    source: LessonSource = "model"

    @property
    def written_by(self) -> LessonSource:
        """The lesson's ``source``: a fallback is always template text, whatever ``source`` says."""
        return "template" if self.fallback else self.source


@dataclass(frozen=True)
class ModuleContent:
    title: str
    summary: str
    objectives: tuple[str, ...]
    assessment: Assessment
    lessons: tuple[LessonContent, ...]


def unique_titles(titles: Sequence[str]) -> list[str]:
    """Titles with whitespace normalised and repeats (ignoring case) numbered: no two are the same."""
    seen: set[str] = set()
    out = []
    for title in titles:
        clean = " ".join(title.split()) or "Untitled"
        candidate, number = clean, 1
        while candidate.casefold() in seen:
            number += 1
            candidate = f"{clean} ({number})"
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def _lesson(slot: LessonSlot, content: LessonContent, title: str) -> Lesson:
    return Lesson(
        id=slot.id, title=title, summary=content.summary, minutes=slot.minutes,
        activities=list(content.activities), kind=slot.kind, objectives=list(slot.objectives),
        fallback=content.fallback, source=content.written_by,
    )


def _schedule(weeks: int, the_plan: Plan) -> list[ScheduleWeek]:
    schedule = []
    for week in range(1, weeks + 1):
        in_week = [ls for ls in the_plan.lessons if ls.week == week]
        minutes = sum(ls.minutes for ls in in_week)
        schedule.append(ScheduleWeek(week=week, lesson_ids=[ls.id for ls in in_week], minutes=minutes))
    return schedule


def assemble(
    request: CurriculumRequest,
    the_plan: Plan,
    contents: Sequence[ModuleContent],
    generator: GeneratorInfo,
    warnings: Sequence[str] = (),
    usage: Usage | None = None,
) -> Curriculum:
    """Join generated words with the plan's numbers and claims; the content must fit the plan's shape.

    Titles are made unique here (module titles among modules, lesson titles course-wide), and
    ``objectives_coverage`` is derived from the plan's slots, never from the generated text.
    ``usage`` is what the model calls cost (zeros when none were made).
    """
    if len(contents) != len(the_plan.modules) or any(
        len(c.lessons) != len(m.lessons) for c, m in zip(contents, the_plan.modules, strict=True)
    ):
        raise CurriculumInvariantError(["generated content does not match the plan's modules and lessons"])
    lesson_titles = iter(unique_titles([lc.title for c in contents for lc in c.lessons]))
    module_titles = unique_titles([c.title for c in contents])
    modules = []
    for slot, content, title in zip(the_plan.modules, contents, module_titles, strict=True):
        pairs = zip(slot.lessons, content.lessons, strict=True)
        lessons = [_lesson(ls, lc, next(lesson_titles)) for ls, lc in pairs]
        modules.append(
            Module(title=title, summary=content.summary, objectives=list(content.objectives),
                   lessons=lessons, assessment=content.assessment)
        )
    fallbacks = sum(1 for c in contents for lc in c.lessons if lc.fallback)
    notes = [*warnings, *the_plan.warnings]
    if fallbacks:
        notes.append(f"{fallbacks} lesson(s) use template text instead of a model reply (fallback: true)")
    return Curriculum(
        topic=request.topic, level=request.level, duration_weeks=request.duration_weeks,
        hours_per_week=request.hours_per_week, modules=modules,
        schedule=_schedule(request.duration_weeks, the_plan),
        objectives_coverage=coverage_entries(request.objectives, modules),
        total_minutes=sum(ls.minutes for ls in the_plan.lessons), generator=generator,
        generated_at=datetime.now(UTC), uncovered_objectives=list(the_plan.uncovered), warnings=notes,
        usage=usage or Usage(),
    )
