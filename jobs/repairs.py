"""Repairs of a model's design that stayed outside the contract after its one re-ask.

Each repair changes as little of the model's design as it can and says what it did (the caller
turns the notes into ``warnings``): the lesson count is brought into the budget, modules are
merged when there would be too many assessments, and kinds are changed where a shape rule
(``jobs.invariants.shape_problems``) would break.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from jobs.design import Design, DesignedLesson, DesignedModule, Limits
from jobs.invariants import FOUNDATION_SHARE_ADVANCED, PROJECT_SHARE_MAX
from jobs.models import CurriculumRequest, LessonKind
from jobs.shapes import REVIEW_WEEKS


def _practice_for(module: DesignedModule, nth: int) -> DesignedLesson:
    """An extra practice lesson for ``module``, on one of its teaching lessons (round robin)."""
    teaching = [ls for ls in module.lessons if ls.kind in ("core", "practice", "foundation", "project")]
    if not teaching:
        return DesignedLesson(f"{module.title}: practice", "practice", (), 45)
    base = teaching[nth % len(teaching)]
    return DesignedLesson(f"Practice: {base.title}", "practice", base.objectives, base.minutes)


def _grow(modules: list[list[DesignedLesson]], design: Design, missing: int) -> None:
    for n in range(missing):
        m = n % len(modules)
        modules[m].insert(len(modules[m]) - 1, _practice_for(design.modules[m], n // len(modules)))


def _shrink(modules: list[list[DesignedLesson]], extra: int) -> None:
    for _ in range(extra):
        m = max(range(len(modules)), key=lambda i: len(modules[i]))
        if len(modules[m]) < 2:
            return
        del modules[m][-2]  # the last lesson before the closing assessment


def _merge(design: Design, allowed: int) -> Design:
    """Fold the smallest module into its neighbour until at most ``allowed`` modules (assessments) remain."""
    modules = list(design.modules)
    while len(modules) > max(1, allowed):
        i = min(range(len(modules)), key=lambda k: len(modules[k].lessons))
        into = i - 1 if i > 0 else 1
        first, second = sorted((i, into))
        head, tail = modules[first], modules[second]
        lessons = (*head.lessons[:-1], *tail.lessons)
        keep = modules[into]
        modules[first] = replace(keep, lessons=lessons, objectives=tuple(dict.fromkeys(
            (*head.objectives, *tail.objectives)))[:8])
        del modules[second]
    return Design(tuple(modules))


def recount(design: Design, wanted: int) -> Design:
    """``wanted`` lessons: practice added after teaching lessons, or lessons before assessments left out."""
    count = len(design.lessons)
    modules = [list(m.lessons) for m in design.modules]
    if wanted > count:
        _grow(modules, design, wanted - count)
    else:
        _shrink(modules, count - wanted)
    return Design(tuple(replace(m, lessons=tuple(ls)) for m, ls in zip(design.modules, modules, strict=True)))


def repair_count(design: Design, limits: Limits) -> tuple[Design, list[str]]:
    """At most one assessment (module) per ``MIN_MODULE_LESSONS`` lessons, and the lesson count within
    the budget (merging modules drops an assessment, so the count is checked after)."""
    notes = []
    designed, modules = len(design.lessons), len(design.modules)
    for _ in range(3):
        _, high = limits.module_range(limits.clamp_lessons(len(design.lessons)))
        if len(design.modules) > high:
            design = _merge(design, high)
        count = len(design.lessons)
        if limits.clamp_lessons(count) != count:
            design = recount(design, limits.clamp_lessons(count))
    if len(design.modules) != modules:
        notes.append(f"the model designed {modules} modules; {len(design.modules)} fit the course "
                     "(each ends with an assessment), so small modules were merged")
    if limits.clamp_lessons(designed) != designed:
        notes.append(f"the model designed {designed} lessons; the time budget holds {limits.min_lessons}-"
                     f"{limits.max_lessons}, so the planner made it {len(design.lessons)}")
    return design, notes


def _share(kinds: Sequence[str], minutes: Sequence[int], kind: str) -> float:
    return sum(m for k, m in zip(kinds, minutes, strict=True) if k == kind) / max(1, sum(minutes))


def _fix(kinds: list[LessonKind], minutes: Sequence[int], request: CurriculumRequest) -> list[str]:
    """Change kinds in place until the shape rules hold; one note per rule repaired."""
    notes = []
    if request.level == "advanced" and _share(kinds, minutes, "foundation") > FOUNDATION_SHARE_ADVANCED:
        while _share(kinds, minutes, "foundation") > FOUNDATION_SHARE_ADVANCED:
            kinds[len(kinds) - 1 - kinds[::-1].index("foundation")] = "core"
        notes.append("foundation lessons were made core lessons: an advanced course keeps foundations to 10 %")
    if _share(kinds, minutes, "project") > PROJECT_SHARE_MAX:
        while _share(kinds, minutes, "project") > PROJECT_SHARE_MAX:
            kinds[kinds.index("project")] = "practice"
        notes.append("early project lessons were made practice: project work is kept to 30 % of the time")
    return notes


def _teach_before_projects(kinds: list[LessonKind]) -> list[str]:
    """Some teaching before the first project: the foundation or practice lesson just before it becomes
    core, else the first project itself."""
    if "project" not in kinds or "core" in kinds[: kinds.index("project")]:
        return []
    first = kinds.index("project")
    earlier = [i for i in range(first) if kinds[i] in ("foundation", "practice")]
    kinds[earlier[-1] if earlier else first] = "core"
    return ["a lesson was made a core lesson: project work follows some teaching"]


def repair_kinds(design: Design, minutes: Sequence[int], request: CurriculumRequest) -> tuple[Design, list[str]]:
    """Kinds changed (as few as possible) so the shape rules hold for these exact ``minutes``."""
    kinds: list[LessonKind] = [ls.kind for ls in design.lessons]
    notes = _fix(kinds, minutes, request)
    if request.duration_weeks >= REVIEW_WEEKS and "review" not in kinds:
        ends = _module_ends(design)
        order = sorted(ends, key=lambda end: abs(ends.index(end) - len(ends) // 2))
        spots = [end - 1 for end in order if end > 0 and kinds[end - 1] not in ("assessment", "project")]
        if spots:
            kinds[spots[0]] = "review"
            notes.append(f"a lesson was made a review: a course of {REVIEW_WEEKS} weeks or more has one")
    notes += _teach_before_projects(kinds)
    return _with_kinds(design, kinds), notes


def _module_ends(design: Design) -> list[int]:
    """Course positions of each module's closing lesson."""
    ends, cursor = [], -1
    for module in design.modules:
        cursor += len(module.lessons)
        ends.append(cursor)
    return ends


def _with_kinds(design: Design, kinds: Sequence[LessonKind]) -> Design:
    it = iter(kinds)
    modules = []
    for module in design.modules:
        lessons = []
        for ls in module.lessons:
            kind = next(it)
            objectives = () if kind in ("review", "assessment") else ls.objectives
            lessons.append(replace(ls, kind=kind, objectives=objectives))
        modules.append(replace(module, lessons=tuple(lessons)))
    return Design(tuple(modules))
