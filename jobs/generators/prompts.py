"""The tasks we give the model: an outline of the whole course, then one lesson at a time.

Each task is a JSON object (models follow structured instructions better than prose, and the
tests' fake provider reads it back). The numbers come from the plan; the model writes words.
A lesson task carries what a designer would hand a writer: its kind, the requested objectives it
must teach, its module's objectives, and the titles of the lessons around it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobs.models import CurriculumRequest
from jobs.planner import LessonSlot, Plan

SYSTEM = (
    "You are an expert instructional designer. You reply with exactly one JSON object and nothing "
    "else, following the task's reply_shape. Order content so foundations come before what depends "
    "on them. Write all text in the language given by the task's language tag."
)

_OUTLINE_SHAPE = {
    "modules": {
        "<module id>": {
            "title": "string",
            "summary": "string (1-3 sentences)",
            "objectives": ["string (what a learner can do after the module; 1-8 items)"],
            "lessons": [{"title": "string (unique in the course)", "objectives": ["requested objective, verbatim"]}],
            "assessment": {"title": "string", "kind": "string (e.g. quiz, project)", "description": "string"},
        }
    }
}
_LESSON_SHAPE = {"summary": "string (2-4 sentences)", "activities": ["string (a concrete learner activity; 2-6 items)"]}


@dataclass(frozen=True)
class LessonBrief:
    """Everything a lesson's prompt needs besides the request."""

    lesson_id: str
    title: str
    kind: str
    project_step: str | None
    minutes: int
    must_teach: tuple[str, ...]
    module_title: str
    module_summary: str
    module_objectives: tuple[str, ...]
    module_teaches: tuple[str, ...]  # requested objectives the module's lessons teach
    previous_title: str | None
    next_title: str | None


def dump(task: dict[str, Any]) -> str:
    return json.dumps(task, ensure_ascii=False, indent=1)


def coverable(the_plan: Plan) -> list[str]:
    """The requested objectives some lesson of the plan teaches (request order)."""
    taught = {o for ls in the_plan.lessons for o in ls.objectives}
    return [o for o in the_plan.objectives if o in taught]


def step(slot: LessonSlot) -> str | None:
    """Where a project lesson stands in the capstone: scope first, present last, build between."""
    if slot.kind != "project":
        return None
    return "scope" if slot.part == 1 else "present" if slot.part == slot.of else "build"


def _context(request: CurriculumRequest) -> dict[str, Any]:
    return {"topic": request.topic, "level": request.level, "language": request.language}


def _outline_lesson(slot: LessonSlot) -> dict[str, Any]:
    lesson: dict[str, Any] = {
        "id": slot.id, "kind": slot.kind, "minutes": slot.minutes, "must_teach": list(slot.objectives)
    }
    if slot.kind == "project":
        lesson["project_step"] = step(slot)
    return lesson


def outline_task(request: CurriculumRequest, the_plan: Plan) -> str:
    modules = [
        {
            "id": module_id(module.index),
            "kind": module.kind,
            "teaches": list(module.objectives),
            "lessons": [_outline_lesson(ls) for ls in module.lessons],
        }
        for module in the_plan.modules
    ]
    return dump(
        {
            "task": "outline",
            "instructions": (
                "Design the modules of a curriculum: for every module in the given order, a title, a "
                "summary, its objectives, an assessment and exactly one title per listed lesson. Each "
                "lesson's title must fit its kind (a project lesson its project_step: scope, build or "
                "present) and name the key terms of the objectives in its must_teach. In each "
                "lesson's objectives list exactly its must_teach objectives, copied verbatim. No two "
                "lessons may share a title."
            ),
            **_context(request),
            "duration_weeks": request.duration_weeks,
            "hours_per_week": request.hours_per_week,
            "objectives": coverable(the_plan),
            "modules": modules,
            "reply_shape": _OUTLINE_SHAPE,
        }
    )


def lesson_task(request: CurriculumRequest, brief: LessonBrief) -> str:
    return dump(
        {
            "task": "lesson",
            "instructions": (
                "Write the summary and concrete learner activities for this lesson, sized for its "
                "minutes, level and kind (practice lessons make the learner do something; an "
                "assessment lesson assesses module_teaches and the module's objectives). It must teach "
                "the objectives in must_teach, and its summary must quote each of them verbatim. It "
                "follows on from the previous lesson and leads to the next."
            ),
            **_context(request),
            "lesson_id": brief.lesson_id,
            "lesson_title": brief.title,
            "kind": brief.kind,
            "project_step": brief.project_step,
            "minutes": brief.minutes,
            "must_teach": list(brief.must_teach),
            "module_title": brief.module_title,
            "module_summary": brief.module_summary,
            "module_objectives": list(brief.module_objectives),
            "module_teaches": list(brief.module_teaches),
            "previous_lesson": brief.previous_title,
            "next_lesson": brief.next_title,
            "reply_shape": _LESSON_SHAPE,
        }
    )


def module_id(index: int) -> str:
    return f"m{index + 1}"


def neighbours(titles: Sequence[str], position: int) -> tuple[str | None, str | None]:
    """The titles before and after ``position`` in course order."""
    before = titles[position - 1] if position > 0 else None
    after = titles[position + 1] if position + 1 < len(titles) else None
    return before, after
