"""The planner's half of a model-designed course: fit the design into the contract, or say why not.

``plan_from_design`` turns a ``jobs.design.Design`` into the same ``Plan`` the offline path builds,
so ``jobs.planner.assemble`` and every invariant apply unchanged. In order:

1. every module ends with an assessment (the module's own, appended unless the model closed with
   one); an assessment in the middle of a module is a check, so it becomes a ``review``;
2. claims: an objective a lesson claims must be a requested one (compared without case and spacing,
   then stored verbatim); other claims are dropped; a requested objective no lesson claims is given
   to the lesson with the fewest claims (its writer is then told to teach it), with a warning;
3. the lesson count is brought inside the budget (practice added after teaching lessons, or extra
   lessons dropped), with a warning: the time per lesson is bounded (15 to 90/120/150 minutes);
4. the shape rules (``jobs.invariants.shape_problems``) are repaired by changing kinds, with a warning;
5. repeated titles are told apart by their module's title, with a warning;
6. minutes: each week holds the same planned load, split among its lessons in proportion to the
   model's rough minutes, within the level's bounds (``jobs.proportions.split``); assessments are
   shortened (never below 15 minutes) until they take at most 20 % of the time, as offline.
"""

from __future__ import annotations

from dataclasses import replace

from jobs.design import MAX_CLAIMS, Design, DesignedLesson, DesignedModule, Limits, normal
from jobs.invariants import ASSESSMENT_SHARE_MAX
from jobs.models import CurriculumRequest
from jobs.planner import THEME_COUNT, LessonSlot, ModuleSlot, Plan, requested_objectives, unique_titles
from jobs.proportions import split
from jobs.repairs import recount, repair_count, repair_kinds
from jobs.shapes import ModuleKind, distribute


def _close(module: DesignedModule) -> DesignedModule:
    """Checks inside a module are reviews; the module ends with its assessment."""
    lessons = [replace(ls, kind="review") if ls.kind == "assessment" else ls for ls in module.lessons[:-1]]
    last = module.lessons[-1] if module.lessons else None
    if last is not None and last.kind == "assessment":
        lessons.append(replace(last, objectives=()))
    else:
        if last is not None:
            lessons.append(last)
        a = module.assessment
        lessons.append(DesignedLesson(a.title, "assessment", (), max(ls.minutes for ls in lessons) if lessons else 45))
    return replace(module, lessons=tuple(lessons))


def _claims(design: Design, objectives: tuple[str, ...]) -> tuple[Design, int]:
    """Claims mapped onto the requested objectives (verbatim); how many claims were dropped."""
    known = {normal(o): o for o in objectives}
    dropped = 0
    modules = []
    for module in design.modules:
        lessons = []
        for ls in module.lessons:
            mapped = tuple(dict.fromkeys(known[normal(o)] for o in ls.objectives if normal(o) in known))
            if ls.kind == "assessment":
                mapped = ()
            dropped += len({normal(o) for o in ls.objectives}) - len(mapped) if ls.kind != "assessment" else 0
            lessons.append(replace(ls, objectives=mapped[:MAX_CLAIMS]))
        modules.append(replace(module, lessons=tuple(lessons)))
    return Design(tuple(modules)), max(dropped, 0)


def _place_uncovered(design: Design, objectives: tuple[str, ...]) -> tuple[Design, list[str], list[str]]:
    """Give each unclaimed objective to a teaching lesson with room; (design, placed, uncovered)."""
    modules = [list(m.lessons) for m in design.modules]
    placed, uncovered = [], []
    for objective in objectives:
        if any(objective in ls.objectives for lessons in modules for ls in lessons):
            continue
        spots = [(len(ls.objectives), ls.kind not in ("core", "practice"), m, i)
                 for m, lessons in enumerate(modules) for i, ls in enumerate(lessons)
                 if ls.kind not in ("assessment", "review") and len(ls.objectives) < MAX_CLAIMS]
        if not spots:
            uncovered.append(objective)
            continue
        _, _, m, i = min(spots)
        modules[m][i] = replace(modules[m][i], objectives=(*modules[m][i].objectives, objective))
        placed.append(objective)
    out = tuple(replace(module, lessons=tuple(ls)) for module, ls in zip(design.modules, modules, strict=True))
    return Design(out), placed, uncovered


def _titles(design: Design) -> tuple[list[list[str]], int]:
    """Unique lesson titles per module: a repeat gets its module's title, then a number if need be."""
    raw = [(m.title, ls.title) for m in design.modules for ls in m.lessons]
    counts: dict[str, int] = {}
    for _, title in raw:
        counts[normal(title)] = counts.get(normal(title), 0) + 1
    renamed = [f"{title} ({module})" if counts[normal(title)] > 1 else title for module, title in raw]
    final = unique_titles(renamed)
    changed = sum(1 for (_, title), new in zip(raw, final, strict=True) if new != " ".join(title.split()))
    it = iter(final)
    return [[next(it) for _ in m.lessons] for m in design.modules], changed


def _minutes(design: Design, limits: Limits) -> tuple[list[int], list[int], bool]:
    """Each lesson's week and exact minutes: lessons in order, spread evenly over the weeks; assessment
    weights halved until assessments take at most ``ASSESSMENT_SHARE_MAX`` of the time."""
    lessons = design.lessons
    counts = distribute(len(lessons), limits.weeks)
    weights = [float(ls.minutes) for ls in lessons]
    tests = [i for i, ls in enumerate(lessons) if ls.kind == "assessment"]
    for attempt in range(14):
        minutes, weeks, start = [], [], 0
        for week, count in enumerate(counts, start=1):
            minutes += split(limits.weekly_minutes, weights[start:start + count], limits.lesson_min, limits.lesson_max)
            weeks += [week] * count
            start += count
        spent = [minutes[i] for i in tests]
        if sum(spent) <= ASSESSMENT_SHARE_MAX * sum(minutes) or spent == [limits.lesson_min]:
            return weeks, minutes, True
        for i in tests:  # halve, and at last give them the shortest length there is
            weights[i] = weights[i] / 2 if attempt < 12 else 1e-9
    return weeks, minutes, False


def _even(design: Design, limits: Limits) -> tuple[Design, list[int], list[int], list[str]]:
    """Minutes; when assessments cannot be made short enough (one alone in its week, or the other
    lessons already at their longest), every week gets the same number of lessons, one more each
    time, until they can."""
    weeks, minutes, ok = _minutes(design, limits)
    if ok:
        return design, weeks, minutes, []
    per_week = max(-(-len(design.lessons) // limits.weeks), 2 if limits.weeks < 5 else 1)
    while True:
        design = recount(design, limits.weeks * per_week)
        weeks, minutes, ok = _minutes(design, limits)
        if ok or limits.weeks * (per_week + 1) > limits.max_lessons:
            break
        per_week += 1
    return design, weeks, minutes, [f"practice lessons were added so that every week holds {per_week} "
                                    "lesson(s) and assessments stay within 20 % of the time"]


def plan_from_design(request: CurriculumRequest, limits: Limits, design: Design) -> tuple[Plan, Design]:
    """The plan of a model-designed course (the model's shape, the contract's numbers and claims), and
    the design as fitted (its modules are the plan's, in order: their words go with the plan's slots)."""
    objectives = requested_objectives(request.objectives)
    warnings: list[str] = []
    modules = [m for m in design.modules if m.lessons or m.assessment.title]
    fitted = Design(tuple(_close(m) for m in modules))
    fitted, dropped = _claims(fitted, objectives)
    if dropped:
        warnings.append(f"{dropped} objective claim(s) of the model named no requested objective and were dropped")
    fitted, note = repair_count(fitted, limits)
    warnings += note
    fitted, weeks, minutes, note = _even(fitted, limits)
    warnings += note
    fitted, note = repair_kinds(fitted, minutes, request)
    warnings += note
    fitted, placed, uncovered = _place_uncovered(fitted, objectives)
    if placed:
        warnings.append(f"{len(placed)} objective(s) were given to a lesson by the planner, not the model: "
                        + "; ".join(placed))
    titles, changed = _titles(fitted)
    if changed:
        warnings.append(f"{changed} repeated lesson title(s) were told apart by their module")
    if uncovered:
        warnings.append(f"{len(uncovered)} of {len(objectives)} objectives could not be placed in any lesson "
                        "and are not taught (see uncovered_objectives)")
    slots = _slots(fitted, titles, objectives, weeks, minutes)
    focuses: tuple[str | None, ...] = objectives if objectives else (None,) * THEME_COUNT
    the_plan = Plan(request.level, limits.weekly_minutes, limits.week_capacity, slots, focuses, objectives,
                    tuple(uncovered), tuple(warnings))
    return the_plan, fitted


def _slots(design: Design, titles: list[list[str]], objectives: tuple[str, ...], weeks: list[int],
           minutes: list[int]) -> tuple[ModuleSlot, ...]:
    numbering = _numbering(design.lessons)
    slots: list[ModuleSlot] = []
    cursor = 0
    for index, module in enumerate(design.modules):
        built = []
        for position, ls in enumerate(module.lessons):
            focus = objectives.index(ls.objectives[0]) if ls.objectives else (
                None if objectives else index % THEME_COUNT)
            part, of = numbering[cursor]
            built.append(LessonSlot(
                f"m{index + 1}-l{position + 1}", index, position, cursor, weeks[cursor], minutes[cursor], ls.kind,
                ls.objectives, focus, part, of, title=titles[index][position]))
            cursor += 1
        taught = tuple(o for o in objectives if any(o in ls.objectives for ls in module.lessons))
        kinds = {ls.kind for ls in module.lessons[:-1]}
        kind: ModuleKind = ("foundation" if kinds <= {"foundation"} else
                            "capstone" if kinds <= {"project", "review"} else "teaching")
        foci = tuple(dict.fromkeys(s.focus for s in built if s.focus is not None))
        slots.append(ModuleSlot(index, kind, taught, foci, tuple(built)))
    return tuple(slots)


def _numbering(lessons: tuple[DesignedLesson, ...]) -> list[tuple[int, int]]:
    """(part, of) of each lesson among the course's lessons of its kind and first objective."""
    keys = [(ls.kind, ls.objectives[0] if ls.objectives else None) for ls in lessons]
    totals: dict[tuple[str, str | None], int] = {}
    for key in keys:
        totals[key] = totals.get(key, 0) + 1
    seen: dict[tuple[str, str | None], int] = {}
    out = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        out.append((seen[key], totals[key]))
    return out
