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
from typing import Any

#: Lesson text in a few languages (the generator checks the language of what it gets).
TEXT = {
    "en": ("{title}: in this {kind} lesson of week {week} you learn how it works, see a worked example and then "
           "apply it to a small case of your own.",
           ["Follow the worked example on {title} step by step", "Apply {title} to a case you choose and compare "
            "the result with what you expected", "Write three sentences on what you would do differently next time"]),
    "fr": ("{title} : dans cette leçon de la semaine {week}, vous découvrez comment cela fonctionne, vous suivez "
           "un exemple commenté puis vous l'appliquez à un cas concret que vous choisissez.",
           ["Suivez pas à pas l'exemple commenté sur {title}", "Appliquez ce que vous avez appris à un cas que vous "
            "choisissez et comparez le résultat avec vos attentes", "Écrivez trois phrases sur ce que vous feriez "
            "autrement la prochaine fois"]),
    "es": ("{title}: en esta lección de la semana {week} aprendes cómo funciona, sigues un ejemplo comentado y "
           "luego lo aplicas a un caso propio que eliges tú.",
           ["Sigue paso a paso el ejemplo comentado sobre {title}", "Aplica lo aprendido a un caso que elijas y "
            "compara el resultado con lo que esperabas", "Escribe tres frases sobre lo que harías de otra manera"]),
    "de": ("{title}: In dieser Lektion der Woche {week} lernst du, wie es funktioniert, folgst einem kommentierten "
           "Beispiel und wendest es danach auf einen eigenen Fall an, den du selbst wählst.",
           ["Folge dem kommentierten Beispiel zu {title} Schritt für Schritt", "Wende das Gelernte auf einen "
            "selbst gewählten Fall an und vergleiche das Ergebnis mit deiner Erwartung", "Schreibe drei Sätze "
            "darüber, was du beim nächsten Mal anders machen würdest"]),
    "pt": ("{title}: nesta lição da semana {week} você aprende como funciona, segue um exemplo comentado e depois "
           "aplica o que aprendeu a um caso próprio que você escolhe.",
           ["Siga passo a passo o exemplo comentado sobre {title}", "Aplique o que aprendeu a um caso que você "
            "escolher e compare o resultado com o que esperava", "Escreva três frases sobre o que você faria de "
            "outra forma da próxima vez"]),
    "zh": ("{title}：在第{week}周的这节课中，你将了解它是如何运作的，跟随一个带注释的例子一步一步地学习，然后把它应用到你自己选择的一个案例中。",
           ["一步一步地跟随关于{title}的带注释的例子", "把学到的内容应用到你自己选择的案例中，并把结果和你的预期进行比较",
            "写三句话，说明下次你会有什么不同的做法"]),
    "ja": ("{title}：第{week}週のこのレッスンでは、その仕組みを学び、解説付きの例を一つずつたどってから、自分で選んだ例に当てはめてみます。",
           ["{title}についての解説付きの例を順番にたどってみましょう", "学んだことを自分で選んだ例に当てはめて、結果を予想と比べてみましょう",
            "次はどこを変えるかを三つの文で書いてみましょう"]),
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


def quirky_reply(task: dict[str, Any], behaviour: str,
                 make: Callable[[dict[str, Any]], dict[str, Any]] = good_reply) -> dict[str, Any]:
    """The good reply (made by ``make``), bent the way ``behaviour`` says (quirks that keep the JSON readable)."""
    reply = make(task)
    kind = task.get("task")
    if behaviour == "duplicate_titles" and kind != "write_module":
        for lesson in _design_lessons(reply):
            lesson["title"] = "Introduction"
    elif behaviour == "uncovered" and kind != "write_module":
        for lesson in _design_lessons(reply):
            lesson["objectives"] = []
        for module in reply.get("modules", []):
            module["teaches"] = []
    elif behaviour == "modules_shuffled" and "modules" in reply:
        reply["modules"] = {f"m{i + 1}": m for i, m in reversed(list(enumerate(reply["modules"])))}
    elif behaviour == "lessons_reversed" and kind == "write_module":
        reply["lessons"].reverse()
    elif behaviour == "lessons_keyed" and kind == "write_module":
        reply["lessons"] = {ls.pop("id"): ls for ls in reversed(reply["lessons"])}
    elif behaviour == "identical" and kind == "write_module":
        reply["lessons"] = [{"id": ls["id"], "summary": "In this lesson you learn the topic and practise it.",
                             "activities": ["Read the material", "Do the exercises"]} for ls in reply["lessons"]]
    elif behaviour == "echo_shape" and kind == "write_module":
        reply["lessons"] = [{"id": ls["id"], "summary": "string (2-4 sentences)",
                             "activities": ["string (a concrete learner activity; 2-6 items)"] * 2}
                            for ls in reply["lessons"]]
    elif behaviour == "english" and kind == "write_module":
        reply = write_module(task, "en")
    return reply


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
