"""Checking a model's outline against the plan before any lesson is written.

The plan decides which requested objectives each lesson teaches (``LessonSlot.objectives``); the
outline asks the model to plan the same: each lesson lists the objectives it teaches, verbatim.
Hard problems (wrong number of modules or lessons) make a reply unusable: re-ask. Soft problems
(an objective not copied verbatim, a lesson that does not take on its objectives, two lessons
with one title) are re-asked while re-asks remain; on the last attempt the reply is used anyway:
the claims stay the plan's, and each lesson's own reply must then show that it teaches them
(``untaught``), or that lesson falls back to template text that does. Repeated titles are numbered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from jobs.coverage import teaches
from jobs.generators.replies import Malformed, OutlineReply
from jobs.planner import unique_titles

#: Share of an objective's key terms a model-written lesson must name (it may inflect or translate
#: the rest); the lesson prompt asks for a verbatim quote, so this only forgives small slips.
TRACE_SHARE = 0.5


@dataclass(frozen=True)
class Outline:
    """A checked outline: the reply, and every lesson's title in course order."""

    reply: OutlineReply
    titles: tuple[str, ...]


def _key(text: str) -> str:
    return " ".join(text.split()).strip(" .;:!").casefold()


def check_outline(
    reply: OutlineReply, shape: Sequence[int], expected: Sequence[Sequence[str]], final: bool
) -> Outline:
    """The checked outline; ``Malformed`` naming the problems when the reply should be re-asked.

    ``shape`` is the number of lessons per module, ``expected`` each lesson's objectives (course order).
    """
    got = [len(module.lessons) for module in reply.modules]
    if len(got) != len(shape):
        raise Malformed(f"outline has {len(got)} modules, expected {len(shape)}")
    if got != list(shape):
        raise Malformed(f"lesson counts per module are {got}, expected {list(shape)}")
    lessons = [lesson for module in reply.modules for lesson in module.lessons]
    verbatim = {_key(o) for wanted in expected for o in wanted}
    strangers = sum(1 for lesson in lessons for o in lesson.objectives if _key(o) not in verbatim)
    missing: dict[int, list[str]] = {}
    for index, (lesson, wanted) in enumerate(zip(lessons, expected, strict=True)):
        claimed = {_key(o) for o in lesson.objectives}
        lacking = [o for o in wanted if _key(o) not in claimed]
        if lacking:
            missing[index] = lacking
    titles = [lesson.title for lesson in lessons]
    repeated = len({_key(t) for t in titles if [_key(x) for x in titles].count(_key(t)) > 1})
    problems = _problems(strangers, len(missing), repeated)
    if problems and not final:
        hint = ""
        if missing:
            hint = "Lessons (by position in the course, from 1) and the objectives they must list: " + json.dumps(
                {str(i + 1): lacking for i, lacking in missing.items()}, ensure_ascii=False
            )
        raise Malformed("; ".join(problems), hint)
    return Outline(reply, tuple(unique_titles(titles)))


def _problems(strangers: int, missing: int, repeated: int) -> list[str]:
    problems = []
    if strangers:
        problems.append(f"{strangers} lesson objective(s) are not copied verbatim from the requested objectives")
    if missing:
        problems.append(f"{missing} lesson(s) do not list the objectives in their must_teach")
    if repeated:
        problems.append(f"{repeated} lesson title(s) are used more than once; titles must be unique")
    return problems


def untaught(objectives: Sequence[str], title: str, summary: str) -> list[int]:
    """Positions (from 1) of the objectives a lesson's title and summary do not name."""
    text = f"{title}\n{summary}"
    return [i + 1 for i, o in enumerate(objectives) if not teaches(o, text, TRACE_SHARE)]

