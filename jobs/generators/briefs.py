"""What a lesson's writer knows: the whole checked outline, and a brief of the lesson itself.

``outline_text`` is the course as planned (every module, every lesson's id, week, kind, minutes,
title and objectives), written once per course and sent first in every writing prompt, unchanged,
so providers cache it. A lesson's brief adds what only that lesson needs: where it stands among
the lessons of its kind on the same objective ("practice 2 of 5 on ..."), what an assessment or a
review covers, a capstone step's milestone and the objectives it combines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.design import DesignedAssessment
from jobs.models import CurriculumRequest
from jobs.planner import LessonSlot, ModuleSlot, Plan


@dataclass(frozen=True)
class ModuleWords:
    """A module's words from the design (the plan holds its numbers)."""

    title: str
    summary: str
    objectives: tuple[str, ...]
    assessment: DesignedAssessment


def outline_text(request: CurriculumRequest, the_plan: Plan, words: list[ModuleWords]) -> str:
    """The checked outline as compact text: identical for every writing call of the course."""
    numbers = {o: i + 1 for i, o in enumerate(the_plan.objectives)}
    lines = [
        "COURSE OUTLINE (fixed; write lessons for it)",
        f"topic: {request.topic}",
        f"level: {request.level} | language: {request.language} | {request.duration_weeks} week(s) x "
        f"{request.hours_per_week:g} h",
        "requested objectives:",
        *(f"  #{n} {o}" for o, n in numbers.items()),
        "lessons: id | week | kind | minutes | title | objectives taught",
    ]
    for module, word in zip(the_plan.modules, words, strict=True):
        lines.append(f"MODULE {module.index + 1}: {word.title} - {word.summary}")
        lines.append("  module objectives: " + "; ".join(word.objectives))
        for ls in module.lessons:
            taught = ", ".join(f"#{numbers[o]}" for o in ls.objectives) or "-"
            lines.append(f"  {ls.id} | w{ls.week} | {ls.kind} | {ls.minutes} | {ls.title} | {taught}")
    return "\n".join(lines)


def _place(slot: LessonSlot) -> str | None:
    if slot.of < 2 or slot.kind in ("assessment", "project"):
        return None
    subject = f" on {slot.objectives[0]}" if slot.objectives else ""
    return f"{slot.kind} {slot.part} of {slot.of}{subject}"


def _covered_before(the_plan: Plan, slot: LessonSlot) -> list[str]:
    """Requested objectives taught since the previous review (or the start of the course)."""
    seen: list[str] = []
    for ls in the_plan.lessons[: slot.course_position]:
        if ls.kind == "review":
            seen = []
        seen += [o for o in ls.objectives if o not in seen]
    return seen


def brief(the_plan: Plan, module: ModuleSlot, word: ModuleWords, slot: LessonSlot) -> dict[str, Any]:
    """One lesson as its writer sees it."""
    out: dict[str, Any] = {"id": slot.id, "title": slot.title, "kind": slot.kind, "week": slot.week,
                           "minutes": slot.minutes, "teaches": list(slot.objectives)}
    place = _place(slot)
    if place:
        out["place"] = place
    if slot.kind == "assessment":
        out["covers"] = [*module.objectives, *word.objectives]
        out["format"] = f"{word.assessment.kind}: {word.assessment.description}"
    elif slot.kind == "review":
        out["covers"] = _covered_before(the_plan, slot) or list(word.objectives)
    elif slot.kind == "project":
        steps = [ls for ls in the_plan.lessons if ls.kind == "project"]
        out["milestone"] = f"step {steps.index(slot) + 1} of {len(steps)} of the capstone: {slot.title}"
        out["combines"] = list(slot.objectives) or list(the_plan.objectives) or list(word.objectives)
    return out


def module_briefs(the_plan: Plan, words: list[ModuleWords], index: int) -> list[dict[str, Any]]:
    module = the_plan.modules[index]
    return [brief(the_plan, module, words[index], slot) for slot in module.lessons]
