"""Checking a model's outline against the plan and the request before any lesson is written.

Hard problems (wrong number of modules or lessons) make a reply unusable: re-ask. Soft problems
(an objective that is not verbatim from the request, a requested objective no lesson claims, two
lessons with one title) are re-asked while re-asks remain; on the last attempt they are resolved
honestly instead: a claim we cannot trace is dropped, an objective nobody teaches is reported
uncovered, a repeated title gets a number. A claim is never invented to make coverage look whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from jobs.generators.replies import Malformed, OutlineReply


@dataclass(frozen=True)
class Outline:
    """A checked outline: per module, its reply; per lesson (course order), title and objectives."""

    reply: OutlineReply
    titles: tuple[str, ...]
    objectives: tuple[tuple[str, ...], ...]
    uncovered: tuple[str, ...]


def _key(text: str) -> str:
    return " ".join(text.split()).strip(" .;:!").casefold()


def check_outline(reply: OutlineReply, shape: Sequence[int], objectives: Sequence[str], final: bool) -> Outline:
    """The checked outline; ``Malformed`` naming the problems when the reply should be re-asked."""
    got = [len(module.lessons) for module in reply.modules]
    if len(got) != len(shape):
        raise Malformed(f"outline has {len(got)} modules, expected {len(shape)}")
    if got != list(shape):
        raise Malformed(f"lesson counts per module are {got}, expected {list(shape)}")
    lessons = [lesson for module in reply.modules for lesson in module.lessons]
    verbatim = {_key(o): o for o in objectives}
    claims: list[tuple[str, ...]] = []
    strangers: set[str] = set()
    for lesson in lessons:
        known = [verbatim[_key(o)] for o in lesson.objectives if _key(o) in verbatim]
        strangers.update(o for o in lesson.objectives if _key(o) not in verbatim)
        claims.append(tuple(dict.fromkeys(known)))
    claimed = {o for claim in claims for o in claim}
    uncovered = tuple(o for o in dict.fromkeys(objectives) if o not in claimed)
    titles = [lesson.title for lesson in lessons]
    repeated = sorted({t for t in titles if titles.count(t) > 1})
    problems = _soft_problems(strangers, [objectives.index(o) + 1 for o in uncovered], repeated)
    if problems and not final:
        hint = "Requested objectives no lesson teaches yet: " + json.dumps(uncovered, ensure_ascii=False)
        raise Malformed("; ".join(problems), hint if uncovered else "")
    return Outline(reply, tuple(_numbered(titles)), tuple(claims), uncovered)


def _soft_problems(strangers: set[str], uncovered: Sequence[int], repeated: Sequence[str]) -> list[str]:
    problems = []
    if strangers:
        problems.append(
            f"{len(strangers)} lesson objective(s) are not copied verbatim from the requested objectives"
        )
    if uncovered:
        listed = ", ".join(f"#{number}" for number in uncovered)
        problems.append(f"requested objective(s) {listed} are taught by no lesson")
    if repeated:
        problems.append(f"{len(repeated)} lesson title(s) are used more than once; titles must be unique")
    return problems


def _numbered(titles: Sequence[str]) -> list[str]:
    """Titles with repeats numbered ("X", "X (2)"), compared without case or spacing differences."""
    seen: dict[str, int] = {}
    out = []
    for title in titles:
        count = seen.get(_key(title), 0) + 1
        seen[_key(title)] = count
        out.append(title if count == 1 else f"{title} ({count})")
    return out
