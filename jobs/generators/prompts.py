"""What we ask the model: design the course within its limits, then write it a module at a time.

Design tasks are JSON objects (models follow structured instructions better than prose, and the
tests' local server reads them back). Writing prompts are built for providers' prompt caches:
every writing call of a course starts with the same two messages, the writing instructions and
the whole checked outline (``outline_text``), and only then names the module to write
(``module_task``), so all but the first call of a course reuse a cached prefix.
"""

from __future__ import annotations

import json
from typing import Any

from jobs.design import MAX_CLAIMS, MAX_MODULE_LESSONS, Limits
from jobs.models import CurriculumRequest

KIND_MEANINGS = {
    "foundation": "vocabulary, set-up and first examples that later lessons rely on",
    "core": "teaches a new idea or technique",
    "practice": "the learner does the thing: exercises, drills, sessions (a skill course may be mostly practice)",
    "project": "a step of a capstone project that combines several objectives",
    "review": "retrieval practice and mixed exercises on what came before",
    "assessment": "checks what a module taught; the service closes every module with its assessment",
}

DESIGN_SYSTEM = (
    "You are an expert course designer. You reply with exactly one JSON object and nothing else, "
    "following the task's reply_shape. You decide the course's shape: which modules, in prerequisite "
    "order (nothing is used before it is taught), and which lessons of which kind each module needs for "
    "this topic and level. Stay inside the limits you are given. Write all text in the language given by "
    "the task's language tag."
)

_LESSON_SHAPE = {"title": "unique in the course", "kind": "one of kinds", "objectives": ["requested objective"],
                 "minutes": "rough length"}
_ASSESSMENT_SHAPE = {"title": "string", "kind": "e.g. quiz, practical test, project review", "description": "string"}


def dump(task: dict[str, Any]) -> str:
    return json.dumps(task, ensure_ascii=False, indent=1)


def _context(request: CurriculumRequest, limits: Limits) -> dict[str, Any]:
    return {
        "topic": request.topic, "level": request.level, "language": request.language,
        "weeks": limits.weeks, "hours_per_week": limits.hours_per_week,
        "planned_minutes_per_week": limits.weekly_minutes,
        "lesson_minutes": [limits.lesson_min, limits.lesson_max],
        "objectives": list(limits.objectives), "kinds": KIND_MEANINGS,
        "lessons_in_all": [limits.min_lessons, limits.max_lessons],
        "suggested_lessons": limits.suggested_lessons,
        "modules_allowed": list(limits.module_range(limits.suggested_lessons)),
    }


def _rules(limits: Limits) -> str:
    objectives = (
        f"Every requested objective is taught by at least one lesson: list it, verbatim, in the objectives "
        f"of each lesson that teaches it (at most {MAX_CLAIMS} per lesson); an assessment lists none. "
        if limits.objectives else "No objectives were requested: lesson objectives stay empty. "
    )
    return (
        objectives + "Every lesson title is unique in the course and says what that lesson does. Give each "
        "lesson rough minutes; the service fits them to the weekly time, so longer lessons stay longer. "
        "Each module ends with its assessment, described in the module's assessment (do not add it as a lesson)."
    )


def design_task(request: CurriculumRequest, limits: Limits) -> str:
    """The whole course in one reply (short courses)."""
    low, high = limits.module_range(limits.suggested_lessons)
    return dump({
        "task": "design_course",
        "instructions": (
            f"Design the course: {low}-{high} module(s) in prerequisite order, with between "
            f"{limits.min_lessons} and {limits.max_lessons} lessons in all, counting one closing assessment per "
            f"module (about {limits.suggested_lessons} suits the time). " + _rules(limits)
        ),
        **_context(request, limits),
        "reply_shape": {"modules": [{"title": "string", "summary": "1-3 sentences",
                                     "objectives": ["what a learner can do after the module"],
                                     "assessment": _ASSESSMENT_SHAPE, "lessons": [_LESSON_SHAPE]}]},
    })


def module_list_task(request: CurriculumRequest, limits: Limits) -> str:
    """A long course's modules and their sizes (their lessons are asked per module)."""
    low, high = limits.module_range(limits.suggested_lessons)
    return dump({
        "task": "design_modules",
        "instructions": (
            f"Design the modules of the course: {low}-{high} modules in prerequisite order. For each, say how "
            f"many lessons it needs (at most {MAX_MODULE_LESSONS}, counting its closing assessment; "
            f"about {limits.suggested_lessons} lessons in all suits the time, between {limits.min_lessons} and "
            f"{limits.max_lessons} fit), which requested objectives it teaches (each in at least one module), "
            "and its assessment. The lessons themselves come later, module by module."
        ),
        **_context(request, limits),
        "reply_shape": {"modules": [{"title": "string", "summary": "1-3 sentences",
                                     "objectives": ["what a learner can do after the module"],
                                     "teaches": ["requested objective"], "lessons": "number",
                                     "assessment": _ASSESSMENT_SHAPE}]},
    })


def module_design_task(request: CurriculumRequest, limits: Limits, modules: list[dict[str, Any]], index: int,
                       count: int) -> str:
    """One module's lessons, knowing the whole module list (what comes before and after)."""
    module = modules[index]
    return dump({
        "task": "design_module",
        "instructions": (
            f"Design the {count} lessons of module {index + 1} ({module['title']!r}), not counting its "
            "closing assessment. The modules before it have been taught; the ones after it come later. "
            + _rules(limits)
        ),
        **_context(request, limits),
        "modules": modules,
        "module": index + 1,
        "lessons": count,
        "reply_shape": {"lessons": [_LESSON_SHAPE]},
    })


# --- writing ----------------------------------------------------------------------------------------

WRITING_SYSTEM = """You are an expert teacher writing the lessons of a course whose outline is fixed.
You reply with exactly one JSON object and nothing else, following the task's reply_shape.

For every lesson you are given, write:
- summary: 2-4 sentences a learner reads before the lesson: what they will be able to do afterwards,
  how the lesson gets them there, and how it builds on what came before. Name the requested objectives
  it teaches in your own words; do not copy the title.
- activities: 2-6 concrete things the learner does, each one sentence, sized for the lesson's minutes.
  An activity uses only what exists: the learner's own work, tools and material they can get, things
  the lesson itself provides. Never promise solutions, model answers, videos, datasets or readings
  that the course does not contain; when something is needed, say how the learner makes or finds it.

What each kind of lesson is for:
- foundation: vocabulary, set-up and first examples the rest of the course relies on. Activities set
  things up and try them once.
- core: teaches one new idea or technique with a worked example, then lets the learner try it.
- practice: the learner does the thing. "practice 2 of 5 on X" means four other practice lessons on X
  exist: this one must differ from them (new situations, harder variations, less help), not repeat them.
- project: one step of the capstone. Its milestone says what exists at the end of this step; the
  activities build exactly that, combining the objectives it names.
- review: retrieval practice and mixed exercises on what it covers, done without notes first.
- assessment: checks what it covers (the module's objectives); say how the learner shows each one,
  and how they get feedback.

Write in the course's language (its tag is in the outline), at the course's level, for the lesson's
week in the course. Each lesson's text is its own: no two lessons share a summary or an activity.
Lesson ids in your reply are the ids given in the task, each exactly once.
"""

_WRITING_SHAPE = {"lessons": [{"id": "lesson id from the task", "summary": "2-4 sentences",
                               "activities": ["one concrete learner activity"]}]}
#: What the reply shape itself says; a lesson whose text is one of these was echoed, not written.
SHAPE_HINTS = ("lesson id from the task", "2-4 sentences", "one concrete learner activity",
               "string (2-4 sentences)", "string (a concrete learner activity; 2-6 items)")


def module_task(module_number: int, briefs: list[dict[str, Any]], language: str, note: str = "") -> str:
    """The part of a writing prompt that differs per call: which lessons of which module to write."""
    task: dict[str, Any] = {
        "task": "write_module", "module": module_number, "language": language,
        "instructions": f"Write the {len(briefs)} lesson(s) below of module {module_number} of the outline.",
        "lessons": briefs, "reply_shape": _WRITING_SHAPE,
    }
    if note:
        task["note"] = note
    return dump(task)
