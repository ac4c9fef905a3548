"""Pure planning: the time budget, lesson slots, the weekly schedule and objective coverage.

Generators only write *content* (titles, summaries, activities); every number in a curriculum comes
from here, so the contract's invariants hold whatever a language model says.

Budget: each week gets the same planned load ``floor(capacity * utilisation)`` where ``capacity``
is ``floor(hours_per_week * 60)`` (computed in decimal, so 1.3 h is exactly 78 minutes) and
``utilisation`` is 0.85-0.95 depending on level. With capacity >= 60 minutes that is always within
80-100 % of the time available. A week holds ``k`` lessons (level-dependent length, capped so the
whole course never has more than ``MAX_LESSONS``; long budgets get longer lessons instead), and the
lessons are numbered in course order, week by week, so the schedule follows module order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from jobs.models import (
    Assessment,
    Curriculum,
    CurriculumRequest,
    GeneratorInfo,
    Lesson,
    Level,
    Module,
    ObjectiveCoverage,
    ScheduleWeek,
)
from worker.errors import PermanentJobError

Phase = Literal["overview", "fundamentals", "core", "practice", "project"]

#: Upper bound on lessons in one curriculum (one model call each for the openai generator).
MAX_LESSONS = 208
#: Upper bound on modules in one curriculum.
MAX_MODULES = 16


@dataclass(frozen=True)
class LevelProfile:
    lesson_minutes: int  # preferred lesson length
    max_lessons_per_week: int
    lessons_per_module: int
    utilisation: float  # share of the weekly capacity that is planned (the rest is slack)


PROFILES: dict[Level, LevelProfile] = {
    "beginner": LevelProfile(
        lesson_minutes=45, max_lessons_per_week=8, lessons_per_module=4, utilisation=0.85
    ),
    "intermediate": LevelProfile(
        lesson_minutes=60, max_lessons_per_week=6, lessons_per_module=5, utilisation=0.90
    ),
    "advanced": LevelProfile(
        lesson_minutes=90, max_lessons_per_week=5, lessons_per_module=6, utilisation=0.95
    ),
}


class CurriculumInvariantError(PermanentJobError):
    """A curriculum broke the contract's invariants (a bug, not bad input); lists every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("curriculum breaks the contract: " + "; ".join(self.problems))



@dataclass(frozen=True)
class LessonSlot:
    id: str
    module_index: int
    position: int  # index within the module
    course_position: int  # index within the course
    week: int
    minutes: int
    phase: Phase


@dataclass(frozen=True)
class ModuleSlot:
    index: int
    phase: Phase
    lessons: tuple[LessonSlot, ...]


@dataclass(frozen=True)
class Plan:
    level: Level
    weekly_minutes: int
    week_capacity: int
    modules: tuple[ModuleSlot, ...]

    @property
    def lessons(self) -> tuple[LessonSlot, ...]:
        return tuple(lesson for module in self.modules for lesson in module.lessons)


@dataclass(frozen=True)
class LessonContent:
    title: str
    summary: str
    activities: tuple[str, ...]


@dataclass(frozen=True)
class ModuleContent:
    title: str
    summary: str
    objectives: tuple[str, ...]
    assessment: Assessment
    lessons: tuple[LessonContent, ...]


# --- budget -------------------------------------------------------------------------------------


def decimal_minutes(hours_per_week: float) -> Decimal:
    return Decimal(repr(float(hours_per_week))) * 60


def week_capacity(hours_per_week: float) -> int:
    """Whole minutes a week may hold: floor(hours * 60), computed without binary rounding."""
    return math.floor(decimal_minutes(hours_per_week))


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _module_phases(count: int) -> list[Phase]:
    if count == 1:
        return ["overview"]
    middle = count - 2
    core = math.ceil(middle * 0.6)
    core_phases: list[Phase] = ["core"] * core
    practice_phases: list[Phase] = ["practice"] * (middle - core)
    return ["fundamentals", *core_phases, *practice_phases, "project"]


def _overview_phase(course_position: int, total: int) -> Phase:
    fraction = course_position / total
    if fraction < 0.2:
        return "fundamentals"
    if fraction < 0.6:
        return "core"
    if fraction < 0.85 or total < 2 or course_position < total - 1:
        return "practice"
    return "project"


def plan(request: CurriculumRequest) -> Plan:
    """Lesson slots, their minutes and weeks, grouped into modules, for any valid request."""
    profile = PROFILES[request.level]
    weeks = request.duration_weeks
    capacity = week_capacity(request.hours_per_week)
    weekly = max(1, math.floor(capacity * profile.utilisation))
    per_week = min(max(1, round(weekly / profile.lesson_minutes)), profile.max_lessons_per_week)
    per_week = max(1, min(per_week, MAX_LESSONS // weeks))
    week_minutes = _split(weekly, per_week)
    slots = [(week + 1, minutes) for week in range(weeks) for minutes in week_minutes]
    total = len(slots)
    module_count = min(total, MAX_MODULES, max(1, round(total / profile.lessons_per_module)))
    phases = _module_phases(module_count)
    modules: list[ModuleSlot] = []
    cursor = 0
    for index, size in enumerate(_split(total, module_count)):
        lessons = []
        for position in range(size):
            week, minutes = slots[cursor]
            phase = phases[index] if phases[index] != "overview" else _overview_phase(cursor, total)
            lessons.append(
                LessonSlot(f"m{index + 1}-l{position + 1}", index, position, cursor, week, minutes, phase)
            )
            cursor += 1
        modules.append(ModuleSlot(index, phases[index], tuple(lessons)))
    return Plan(request.level, weekly, capacity, tuple(modules))


# --- objectives ---------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "into",
        "that",
        "this",
        "these",
        "those",
        "what",
        "when",
        "where",
        "which",
        "while",
        "how",
        "why",
        "who",
        "are",
        "was",
        "were",
        "can",
        "could",
        "should",
        "would",
        "will",
        "able",
        "use",
        "using",
        "used",
        "understand",
        "learn",
        "learning",
        "know",
        "about",
        "your",
        "their",
        "our",
        "its",
        "them",
        "they",
        "you",
        "write",
        "build",
        "make",
        "basic",
        "basics",
        "advanced",
        "intermediate",
        "beginner",
        "introduction",
        "intro",
        "core",
        "concepts",
        "fundamentals",
        "practice",
        "project",
        "applied",
        "module",
        "lesson",
        "des",
        "les",
        "une",
        "pour",
        "avec",
        "und",
        "der",
        "die",
        "das",
    ]
)


def keywords(text: str) -> set[str]:
    """Lower-cased content words of at least three characters (Unicode aware)."""
    return {word for word in re.findall(r"\w+", text.lower()) if len(word) >= 3 and word not in _STOPWORDS}


def assign_objectives(objectives: Sequence[str], module_phases: Sequence[Phase]) -> list[int]:
    """A deterministic home module for each objective: spread over core/practice modules in order."""
    candidates = [i for i, phase in enumerate(module_phases) if phase in ("core", "practice")]
    if not candidates:
        candidates = list(range(len(module_phases)))
    count = len(objectives)
    return [candidates[(i * len(candidates)) // count] for i in range(count)] if count else []


def coverage(topic: str, objectives: Sequence[str], modules: Sequence[Module]) -> list[ObjectiveCoverage]:
    """Modules addressing each objective: best keyword overlap, else the final (capstone) module."""
    topic_words = keywords(topic)
    module_words = [
        keywords(" ".join([m.title, m.summary, *m.objectives, *(lesson.title for lesson in m.lessons)]))
        for m in modules
    ]
    result = []
    for objective in objectives:
        wanted = keywords(objective) - topic_words or keywords(objective)
        scores = [len(wanted & words) for words in module_words]
        best = max(scores, default=0)
        if best > 0:
            titles = [m.title for m, score in zip(modules, scores, strict=True) if score == best]
        else:
            titles = [modules[-1].title]
        result.append(ObjectiveCoverage(objective=objective, modules=titles))
    return result


# --- assembly -----------------------------------------------------------------------------------


def _unique(titles: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for title in titles:
        clean = " ".join(title.split()) or "Untitled"
        count = seen.get(clean.casefold(), 0) + 1
        seen[clean.casefold()] = count
        out.append(clean if count == 1 else f"{clean} ({count})")
    return out


def assemble(
    request: CurriculumRequest,
    the_plan: Plan,
    contents: Sequence[ModuleContent],
    generator: GeneratorInfo,
) -> Curriculum:
    """Join generated content with the plan's numbers; the content must fit the plan's shape."""
    if len(contents) != len(the_plan.modules) or any(
        len(c.lessons) != len(m.lessons) for c, m in zip(contents, the_plan.modules, strict=True)
    ):
        raise CurriculumInvariantError(["generated content does not match the plan's modules and lessons"])
    titles = _unique([c.title for c in contents])
    modules = []
    for slot, content, title in zip(the_plan.modules, contents, titles, strict=True):
        lessons = [
            Lesson(
                id=ls.id,
                title=lc.title,
                summary=lc.summary,
                minutes=ls.minutes,
                activities=list(lc.activities),
            )
            for ls, lc in zip(slot.lessons, content.lessons, strict=True)
        ]
        modules.append(
            Module(
                title=title,
                summary=content.summary,
                objectives=list(content.objectives),
                lessons=lessons,
                assessment=content.assessment,
            )
        )
    schedule = []
    for week in range(1, request.duration_weeks + 1):
        in_week = [ls for ls in the_plan.lessons if ls.week == week]
        schedule.append(
            ScheduleWeek(
                week=week, lesson_ids=[ls.id for ls in in_week], minutes=sum(ls.minutes for ls in in_week)
            )
        )
    return Curriculum(
        topic=request.topic,
        level=request.level,
        duration_weeks=request.duration_weeks,
        hours_per_week=request.hours_per_week,
        modules=modules,
        schedule=schedule,
        objectives_coverage=coverage(request.topic, request.objectives, modules),
        total_minutes=sum(ls.minutes for ls in the_plan.lessons),
        generator=generator,
        generated_at=datetime.now(UTC),
    )
