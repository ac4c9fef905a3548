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
from jobs.planner import Plan, assign_objectives

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
    minutes: int
    must_teach: tuple[str, ...]
    module_title: str
    module_summary: str
    module_objectives: tuple[str, ...]
    previous_title: str | None
    next_title: str | None


def dump(task: dict[str, Any]) -> str:
    return json.dumps(task, ensure_ascii=False, indent=1)


def requested(request: CurriculumRequest) -> list[str]:
    """The requested objectives worth covering (blank ones carry nothing)."""
    return [o for o in request.objectives if o]


def slot_objectives(request: CurriculumRequest, the_plan: Plan) -> dict[str, tuple[str, ...]]:
    """Lesson id -> the requested objectives the plan wants that lesson to teach."""
    objectives = requested(request)
    homes = assign_objectives(objectives, [m.phase for m in the_plan.modules])
    wanted: dict[str, tuple[str, ...]] = {ls.id: () for ls in the_plan.lessons}
    for objective, home in zip(objectives, homes, strict=True):
        lessons = the_plan.modules[home].lessons
        target = lessons[objectives.index(objective) % len(lessons)].id
        wanted[target] = (*wanted[target], objective)
    return wanted


def _context(request: CurriculumRequest) -> dict[str, Any]:
    return {"topic": request.topic, "level": request.level, "language": request.language}


def outline_task(request: CurriculumRequest, the_plan: Plan, wanted: dict[str, tuple[str, ...]]) -> str:
    modules = [
        {
            "id": module_id(module.index),
            "phase": module.phase,
            "lessons": [
                {"id": ls.id, "kind": ls.phase, "minutes": ls.minutes, "must_teach": list(wanted[ls.id])}
                for ls in module.lessons
            ],
        }
        for module in the_plan.modules
    ]
    return dump(
        {
            "task": "outline",
            "instructions": (
                "Design the modules of a curriculum: for every module in the given order, a title, a "
                "summary, its objectives, an assessment and exactly one title per listed lesson. Each "
                "lesson's title must fit its kind. List in each lesson's objectives the requested "
                "objectives it really teaches, copied verbatim from the objectives list; every "
                "requested objective must be taught by at least one lesson (must_teach suggests "
                "where). No two lessons may share a title."
            ),
            **_context(request),
            "duration_weeks": request.duration_weeks,
            "hours_per_week": request.hours_per_week,
            "objectives": requested(request),
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
                "assessment lesson assesses the module's objectives). It must teach the objectives "
                "in must_teach and follow on from the previous lesson."
            ),
            **_context(request),
            "lesson_id": brief.lesson_id,
            "lesson_title": brief.title,
            "kind": brief.kind,
            "minutes": brief.minutes,
            "must_teach": list(brief.must_teach),
            "module_title": brief.module_title,
            "module_summary": brief.module_summary,
            "module_objectives": list(brief.module_objectives),
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
