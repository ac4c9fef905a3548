"""What the local model server (tests/llm_server.py) answers: a cooperative model, and its quirks.

Good replies are built deterministically from the task JSON the generator sends: a design that
follows the limits it was given (modules in order, core then practice on each objective, a
capstone in long courses), and lesson text in the course's language that names each lesson.
Each quirk reproduces something a real provider or proxy has sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Lesson text in a few languages (the generator checks the language of what it gets): language ->
#: summary and activities, with ``{title}``, ``{kind}`` and ``{week}`` filled in per lesson.
TEXT: dict[str, tuple[str, list[str]]] = {
    lang: (entry["summary"], entry["activities"])
    for lang, entry in json.loads((Path(__file__).parent / "llm_texts.json").read_text("utf-8")).items()
}
_MINUTES = {"foundation": 30, "core": 45, "practice": 60, "project": 90, "review": 30, "assessment": 45}
_ANGLES = ["core ideas", "worked examples", "common pitfalls", "in a real setting", "going further"]


def _plan_lessons(topic: str, objectives: list[str], count: int, module: int, modules: int,
                  capstone: bool) -> list[dict[str, Any]]:
    """``count`` lessons of module ``module`` (1-based): core and practice on each objective in turn."""
    lessons: list[dict[str, Any]] = []
    if capstone and module == modules:
        for step in range(count):
            lessons.append({"title": f"{topic} capstone step {step + 1}: milestone {step + 1} of {count}",
                            "kind": "project", "objectives": objectives[:3], "minutes": 90})
        return lessons
    for n in range(count):
        objective = objectives[n // 2 % len(objectives)] if objectives else None
        subject = objective or f"{topic} part {module}"
        kind = "core" if n % 2 == 0 else "practice"
        if module == 1 and n == 0:
            kind, objective = "foundation", None
        angle = _ANGLES[(n // 2) % len(_ANGLES)]
        if count >= 6 and n == count - 1:
            kind, objective, subject = "review", None, f"Review of module {module}"
        lessons.append({"title": f"{subject} ({kind}, {angle}, module {module} lesson {n + 1})", "kind": kind,
                        "objectives": [objective] if objective else [], "minutes": _MINUTES[kind]})
    return lessons


def _module_objectives(objectives: list[str], module: int, modules: int) -> list[str]:
    return [o for i, o in enumerate(objectives) if i % modules == module - 1]


def _module_count(task: dict[str, Any], per_module: int) -> int:
    low, high = task["modules_allowed"]
    return max(low, min(high, math.ceil(task["suggested_lessons"] / per_module)))


def design_course(task: dict[str, Any]) -> dict[str, Any]:
    total = task["suggested_lessons"]
    modules = _module_count(task, 10)
    sizes = [total // modules + (1 if i < total % modules else 0) for i in range(modules)]
    out = []
    for number, size in enumerate(sizes, start=1):
        teaches = _module_objectives(task["objectives"], number, modules) or task["objectives"][:1]
        lessons = _plan_lessons(task["topic"], teaches, max(1, size - 1), number, modules, capstone=False)
        out.append(_module(task["topic"], number, lessons))
    return {"modules": out}


def _module(topic: str, number: int, lessons: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    module: dict[str, Any] = {
        "title": f"{topic}: module {number}", "summary": f"Part {number} of {topic}, in prerequisite order.",
        "objectives": [f"Use what module {number} of {topic} teaches"],
        "assessment": {"title": f"{topic} module {number} check", "kind": "practical test",
                       "description": f"A short practical test on module {number}."},
    }
    if lessons is not None:
        module["lessons"] = lessons
    return module


def design_modules(task: dict[str, Any]) -> dict[str, Any]:
    """Modules of about 30 lessons; a course of 30 or more lessons ends with a small capstone module."""
    total = task["suggested_lessons"]
    modules = _module_count(task, 30)
    capstone = max(4, total // 12) if total >= 30 and modules >= 2 else 0
    rest = modules - (1 if capstone else 0)
    sizes = [(total - capstone) // rest + (1 if i < (total - capstone) % rest else 0) for i in range(rest)]
    out = []
    for number, size in enumerate([*sizes, capstone] if capstone else sizes, start=1):
        module = _module(task["topic"], number)
        if capstone and number == modules:
            module["title"] = f"{task['topic']} capstone project"
        module["teaches"] = _module_objectives(task["objectives"], number, rest)
        module["lessons"] = size
        out.append(module)
    return {"modules": out}


def design_module(task: dict[str, Any]) -> dict[str, Any]:
    number, modules = task["module"], len(task["modules"])
    teaches = task["modules"][number - 1]["teaches"] or task["objectives"][:1]
    capstone = "capstone" in task["modules"][number - 1]["title"]
    return {"lessons": _plan_lessons(task["topic"], teaches, task["lessons"], number, modules, capstone)}


def write_module(task: dict[str, Any], language: str | None = None) -> dict[str, Any]:
    summary, activities = TEXT.get((language or task["language"]).split("-")[0], TEXT["en"])
    lessons = []
    for brief in task["lessons"]:
        values = {"title": brief["title"], "kind": brief["kind"], "week": brief["week"]}
        lessons.append({"id": brief["id"], "summary": summary.format(**values),
                        "activities": [a.format(**values) for a in activities]})
    return {"lessons": lessons}


def good_reply(task: dict[str, Any]) -> dict[str, Any]:
    kind = task.get("task")
    if kind == "design_course":
        return design_course(task)
    if kind == "design_modules":
        return design_modules(task)
    if kind == "design_module":
        return design_module(task)
    return write_module(task)


def _duplicate_titles(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    for lesson in _design_lessons(reply):
        lesson["title"] = "Introduction"
    return reply


def _uncovered(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    for lesson in _design_lessons(reply):
        lesson["objectives"] = []
    for module in reply.get("modules", []):
        module["teaches"] = []
    return reply


def _modules_shuffled(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    if "modules" in reply:
        reply["modules"] = {f"m{i + 1}": m for i, m in reversed(list(enumerate(reply["modules"])))}
    return reply


def _lessons_reversed(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    reply["lessons"].reverse()
    return reply


def _ids_dropped(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    titles = {b["id"]: b["title"] for b in task["lessons"]}
    reply["lessons"] = [{"title": titles[ls.pop("id")], **ls} for ls in reversed(reply["lessons"])]
    return reply


def _lessons_keyed(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    reply["lessons"] = {ls.pop("id"): ls for ls in reversed(reply["lessons"])}
    return reply


def _identical(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    reply["lessons"] = [{"id": ls["id"], "summary": "In this lesson you learn the topic and practise it.",
                         "activities": ["Read the material", "Do the exercises"]} for ls in reply["lessons"]]
    return reply


def _echo_shape(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    reply["lessons"] = [{"id": ls["id"], "summary": "string (2-4 sentences)",
                         "activities": ["string (a concrete learner activity; 2-6 items)"] * 2}
                        for ls in reply["lessons"]]
    return reply


def _english(reply: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    return write_module(task, "en")


#: Quirks of design replies and of writing replies: behaviour -> how it bends the good reply.
_DESIGN_QUIRKS = {"duplicate_titles": _duplicate_titles, "uncovered": _uncovered,
                  "modules_shuffled": _modules_shuffled}
_WRITING_QUIRKS = {"lessons_reversed": _lessons_reversed, "lessons_keyed": _lessons_keyed, "ids_dropped": _ids_dropped,
                   "identical": _identical, "echo_shape": _echo_shape, "english": _english}


def quirky_reply(task: dict[str, Any], behaviour: str,
                 make: Callable[[dict[str, Any]], dict[str, Any]] = good_reply) -> dict[str, Any]:
    """The good reply (made by ``make``), bent the way ``behaviour`` says (quirks that keep the JSON readable)."""
    quirks = _WRITING_QUIRKS if task.get("task") == "write_module" else _DESIGN_QUIRKS
    reply = make(task)
    bend = quirks.get(behaviour)
    return bend(reply, task) if bend is not None else reply


def _design_lessons(reply: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(reply.get("lessons", []))
    for module in reply.get("modules", []):
        if isinstance(module.get("lessons"), list):
            found += module["lessons"]
    return found


def with_trailing_commas(reply: dict[str, Any]) -> str:
    """JSON as a careless model writes it: a comma after the last item of every list and object."""
    text = json.dumps(reply, ensure_ascii=False, indent=1)
    return text.replace("\n}", ",\n}").replace("\n]", ",\n]")
