"""The shape of a course: how many lessons of each kind, grouped into which modules, in which order.

Backward design: the requested objectives come first. Each objective that fits gets at least a
``core`` (teaching) lesson followed by a ``practice`` lesson built around it; then come
``foundation`` lessons (fewer as the level rises), a capstone ``project`` (about 15 % of the
lessons, never below 3 lessons nor above 30 % of the time), ``review`` lessons for courses of 8
weeks or more, and one ``assessment`` lesson closing every module. When the budget cannot hold all
of that, the capstone goes first, then reviews beyond the first, then foundations, then modules
grow (fewer assessments); objectives that still do not fit are reported as uncovered by the
planner, never hidden in another lesson.

Everything here counts lessons; minutes and weeks are the planner's business. Because the planner
gives every lesson of a course (nearly) the same length, shares of lessons are shares of time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from jobs.models import LessonKind, Level

ModuleKind = Literal["foundation", "teaching", "capstone"]

#: Fewest lessons in any course: one core, one practice, one assessment.
MIN_LESSONS = 3
#: Courses with fewer lessons get no capstone (three project lessons would be over 30 % of them).
PROJECT_MIN_LESSONS = 12
PROJECT_SHARE = 0.15
PROJECT_MAX = 40
#: Courses this long or longer get review lessons, one per 4 weeks (at most one per module).
REVIEW_WEEKS = 8
MAX_TEACHING_MODULES = 30
#: Foundation lessons of a course in a skill learnt by doing it (running, painting…).
SKILL_FOUNDATION_MAX = 2


@dataclass(frozen=True)
class LevelShape:
    foundation_share: float  # of all lessons
    foundation_max: int
    module_teaching: int  # preferred core + practice lessons per teaching module


LEVEL_SHAPES: dict[Level, LevelShape] = {
    "beginner": LevelShape(foundation_share=0.12, foundation_max=8, module_teaching=4),
    "intermediate": LevelShape(foundation_share=0.08, foundation_max=5, module_teaching=5),
    "advanced": LevelShape(foundation_share=0.05, foundation_max=3, module_teaching=6),
}


@dataclass(frozen=True)
class LessonSpec:
    """A lesson's place in the course, before it has minutes or words.

    ``focus`` indexes the plan's focuses (objectives that fit, or sub-themes without objectives) for
    core and practice lessons; ``part`` is the 1-based ordinal among the course's lessons of the same
    kind and focus, ``of`` their number (project lessons: scope is part 1, the presentation part ``of``).
    """

    kind: LessonKind
    focus: int | None = None
    part: int = 1
    of: int = 1


@dataclass(frozen=True)
class ModuleSpec:
    kind: ModuleKind
    focuses: tuple[int, ...]
    lessons: tuple[LessonSpec, ...]


@dataclass(frozen=True)
class Counts:
    foundation: int
    project: int
    review: int
    modules: int  # teaching modules
    teaching: int  # core + practice lessons

    @property
    def foundation_module(self) -> bool:
        return self.foundation >= 3


@dataclass(frozen=True)
class Shape:
    modules: tuple[ModuleSpec, ...]
    focus_count: int
    covered: int  # objectives that fit: the first ``covered`` of them, one focus each
    themed: bool  # no objectives requested: focuses are sub-themes the generator names


def distribute(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal whole numbers, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# --- counting -------------------------------------------------------------------------------------


def _fit(total: int, per_module: int, foundation: int, project: int, review: int) -> Counts | None:
    """Teaching modules and lessons left once the other kinds have their share (None: no room)."""
    fixed = foundation + project + (1 if project else 0) + (1 if foundation >= 3 else 0)
    rest = total - fixed  # teaching lessons, reviews and the teaching modules' assessments
    modules = min(max(1, round(rest / (per_module + 1))), MAX_TEACHING_MODULES)
    review = min(review, modules)
    # every teaching module needs a core, a practice and an assessment lesson
    modules = min(modules, (rest - review) // 3)
    if modules < 1:
        return None
    review = min(review, modules)
    return Counts(foundation, project, review, modules, rest - review - modules)


def counts(total: int, level: Level, weeks: int, objectives: int, single_module: bool = False,
           practice_heavy: bool = False) -> Counts:
    """Lessons of each kind for a course of ``total`` lessons, making room for the objectives.

    ``single_module``: a short course gets one module (so one assessment), no capstone and no
    separate foundations module. ``practice_heavy``: a skill course starts doing it after at most
    ``SKILL_FOUNDATION_MAX`` desk lessons.
    """
    profile = LEVEL_SHAPES[level]
    foundation = min(math.floor(total * profile.foundation_share), profile.foundation_max)
    if practice_heavy:
        foundation = min(foundation, SKILL_FOUNDATION_MAX)
    if single_module:
        teaching = total - 1 - min(foundation, 2)
        if teaching < 2 * min(objectives, 1) or teaching < 2:
            return Counts(0, 0, 0, 1, total - 1)
        return Counts(min(foundation, 2), 0, 0, 1, teaching)
    project = 0
    if total >= PROJECT_MIN_LESSONS:
        project = min(max(3, round(total * PROJECT_SHARE)), PROJECT_MAX)
    review = max(1, weeks // 4) if weeks >= REVIEW_WEEKS else 0
    size = profile.module_teaching
    minimum = _fit(total, size, 0, 0, min(review, 1)) or Counts(0, 0, 0, 1, total - 1)
    best = _fit(total, size, foundation, project, review) or minimum
    # objectives first: shed the capstone, then extra reviews, then foundations, then use fewer,
    # larger modules (fewer assessments)
    options = [(size, foundation, 0, review), (size, foundation, 0, min(review, 1)), (size, 0, 0, min(review, 1)),
               (2 * size, 0, 0, min(review, 1))]
    for option in options:
        if best.teaching >= 2 * objectives:
            break
        best = _fit(total, *option) or minimum
    return best


# --- ordering -------------------------------------------------------------------------------------


def _pairs(length: int, focus: int, practice_heavy: bool = False) -> list[LessonSpec]:
    """``length`` >= 2 lessons on one focus: teach first, end with practice, alternate between.

    ``practice_heavy`` (a skill learnt by doing it: running, painting, an instrument): one teaching
    lesson, then two practice sessions, and so on; the odd lesson out is a further practice session.
    """
    if practice_heavy:
        kinds: list[LessonKind] = [("core" if i % 3 == 0 else "practice") for i in range(length)]
        if kinds[-1] == "core":
            kinds[-1] = "practice"
        return [LessonSpec(kind, focus) for kind in kinds]
    kinds = ["core"] if length % 2 else []
    kinds += ["core", "practice"] * (length // 2)
    return [LessonSpec(kind, focus) for kind in kinds]


def _teaching_units(c: Counts, focus_count: int, many_focuses: bool, heavy: bool) -> list[list[LessonSpec]]:
    """Core/practice lessons of each teaching module."""
    if many_focuses:  # at least one whole focus per module
        lengths = distribute(c.teaching, focus_count)
        groups = distribute(focus_count, c.modules)
        units, start = [], 0
        for size in groups:
            units.append([s for f in range(start, start + size) for s in _pairs(lengths[f], f, heavy)])
            start += size
        return units
    parts = distribute(c.modules, focus_count)  # a focus spans several modules
    unit_focus = [f for f in range(focus_count) for _ in range(parts[f])]
    return [_pairs(n, f, heavy) for n, f in zip(distribute(c.teaching, c.modules), unit_focus, strict=True)]


def brought_in(part: int, of: int, focus_count: int) -> tuple[int, ...]:
    """The focuses capstone lesson ``part`` of ``of`` brings into the project (scope is part 1,
    the presentation part ``of``, builds between). The builds share out every focus in order, so
    the capstone reaches each of them once and never wraps round; builds beyond one per focus
    bring in nothing new (they extend, then test and fix)."""
    builds = of - 2
    if not 1 < part < of or builds < 1 or focus_count < 1:
        return ()
    shares = distribute(focus_count, min(builds, focus_count))
    build = part - 1
    if build > len(shares):
        return ()
    start = sum(shares[: build - 1])
    return tuple(range(start, start + shares[build - 1]))


def _even_modules(c: Counts, focus_count: int) -> Counts:
    """When focuses span several modules each, give every focus the same number of modules.

    Otherwise the first focuses get a module more than the rest (two objectives in three modules:
    one gets two thirds of the teaching). The assessment and review lessons freed become teaching.
    """
    if focus_count >= c.modules or c.modules % focus_count == 0:
        return c
    modules = focus_count * (c.modules // focus_count)
    review = min(c.review, modules)
    return replace(c, modules=modules, review=review,
                   teaching=c.teaching + (c.modules - modules) + (c.review - review))


def _numbered(modules: list[ModuleSpec]) -> tuple[ModuleSpec, ...]:
    """Fill in ``part`` and ``of`` for each lesson (course-wide, per kind and focus)."""
    totals: dict[tuple[str, int | None], int] = {}
    for module in modules:
        for lesson in module.lessons:
            key = (lesson.kind, lesson.focus)
            totals[key] = totals.get(key, 0) + 1
    seen: dict[tuple[str, int | None], int] = {}
    out = []
    for module in modules:
        lessons = []
        for lesson in module.lessons:
            key = (lesson.kind, lesson.focus)
            seen[key] = seen.get(key, 0) + 1
            lessons.append(replace(lesson, part=seen[key], of=totals[key]))
        out.append(replace(module, lessons=tuple(lessons)))
    return tuple(out)


def shape(total: int, level: Level, weeks: int, objectives: int, themes: int, *, single_module: bool = False,
          practice_heavy: bool = False) -> Shape:
    """The modules and lesson kinds of a ``total``-lesson course; ``themes`` sub-themes exist when
    there are no objectives. ``single_module`` and ``practice_heavy``: see ``counts`` and ``_pairs``."""
    c = counts(total, level, weeks, objectives, single_module, practice_heavy)
    covered = min(objectives, c.teaching // 2)
    focus_count = covered or max(1, min(c.modules, themes, c.teaching // 2))
    c = _even_modules(c, focus_count)
    units = _teaching_units(c, focus_count, covered >= c.modules, practice_heavy)
    reviewed = {c.modules - 1 - (i * c.modules) // c.review for i in range(c.review)}
    modules: list[ModuleSpec] = []
    foundations = [LessonSpec("foundation") for _ in range(c.foundation)]
    if c.foundation_module:
        modules.append(ModuleSpec("foundation", (), (*foundations, LessonSpec("assessment"))))
        foundations = []
    for index, unit in enumerate(units):
        lessons = [*foundations, *unit] if index == 0 else list(unit)
        if index in reviewed:
            lessons.append(LessonSpec("review"))
        lessons.append(LessonSpec("assessment"))
        focuses = tuple(dict.fromkeys(s.focus for s in unit if s.focus is not None))
        modules.append(ModuleSpec("teaching", focuses, tuple(lessons)))
    if c.project:
        projects = [LessonSpec("project") for _ in range(c.project)]
        modules.append(ModuleSpec("capstone", (), (*projects, LessonSpec("assessment"))))
    return Shape(_numbered(modules), focus_count, covered, themed=covered == 0)
