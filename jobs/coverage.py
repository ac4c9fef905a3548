"""Which lessons teach which requested objective, and whether those claims can be trusted.

Learners and teachers read ``objectives_coverage``; a claim there must point at a lesson that
really teaches the objective. Claims are made per lesson by the plan (``Lesson.objectives``) and
derived from those here, never by searching module text for matching words (that is how
"Agregar datos con GROUP BY" once matched a foundations module on "datos").

Two checks, for any generator:
- ``coverage_problems``: the claims are consistent (every claimed objective was requested, every
  claim is listed, every listed lesson claims it, nothing uncovered is claimed, nothing fitting
  is silently dropped).
- ``untraceable_claims``: a claiming lesson's title or summary names the objective's key terms.
  Offline text always does (``share=1``); a model that paraphrases can be held to a lower share
  and re-asked or replaced by template text when it misses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from jobs.models import Curriculum, CurriculumRequest, Lesson, Module, ObjectiveCoverage

_STOPWORDS = frozenset(
    [
        "the", "and", "for", "with", "from", "into", "that", "this", "these", "those", "what", "when", "where",
        "which", "while", "how", "why", "who", "are", "was", "were", "can", "could", "should", "would", "will",
        "able", "use", "using", "used", "understand", "learn", "learning", "know", "about", "your", "their", "our",
        "its", "them", "they", "you", "write", "build", "make", "basic", "basics", "basically", "introduction",
        "intro", "des", "les", "une", "pour", "avec", "dans", "sur", "est", "und", "der", "die", "das", "den", "mit",
        "von", "ein", "eine", "für", "con", "los", "las", "del", "para", "por", "una", "que", "como", "sus", "uso",
        "usar"
    ]
)


def key_terms(text: str) -> set[str]:
    """Lower-cased content words of at least three characters (Unicode aware), stop words dropped."""
    return {w for w in re.findall(r"\w+", text.casefold()) if len(w) >= 3 and w not in _STOPWORDS}


def _stem(word: str) -> str:
    """A crude stem, so "joining" names "join" and "tables" names "table" in a model's wording."""
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]


def teaches(objective: str, text: str, share: float = 1.0) -> bool:
    """Whether ``text`` names at least ``share`` of the objective's key terms (all of its text when
    it has none, e.g. "C++" or a two-letter word)."""
    terms = {_stem(t) for t in key_terms(objective)}
    if not terms:
        return " ".join(objective.casefold().split()) in " ".join(text.casefold().split())
    named = {_stem(t) for t in key_terms(text)}
    return len(terms & named) >= math.ceil(share * len(terms))


def coverage_entries(objectives: Sequence[str], modules: Sequence[Module]) -> list[ObjectiveCoverage]:
    """One entry per requested objective (request order): the lessons claiming it and their modules."""
    entries = []
    for objective in objectives:
        lesson_ids, titles = [], []
        for module in modules:
            ids = [lesson.id for lesson in module.lessons if objective in lesson.objectives]
            lesson_ids += ids
            if ids:
                titles.append(module.title)
        entries.append(ObjectiveCoverage(objective=objective, lesson_ids=lesson_ids, modules=titles))
    return entries


def _claims(curriculum: Curriculum) -> dict[str, list[tuple[Module, Lesson]]]:
    claims: dict[str, list[tuple[Module, Lesson]]] = {}
    for module in curriculum.modules:
        for lesson in module.lessons:
            for objective in lesson.objectives:
                claims.setdefault(objective, []).append((module, lesson))
    return claims


def coverage_problems(curriculum: Curriculum, request: CurriculumRequest | None = None) -> list[str]:
    """Inconsistent coverage claims (empty when every claim is listed and every listing is claimed)."""
    problems = []
    claims = _claims(curriculum)
    entries = {e.objective: e for e in curriculum.objectives_coverage}
    for objective, claimed in claims.items():
        entry = entries.get(objective)
        if entry is None:
            problems.append("a lesson claims an objective that objectives_coverage does not list")
            continue
        if entry.lesson_ids != [lesson.id for _, lesson in claimed]:
            problems.append("objectives_coverage lesson_ids differ from the lessons claiming the objective")
        if entry.modules != list(dict.fromkeys(module.title for module, _ in claimed)):
            problems.append("objectives_coverage modules differ from the modules of the claiming lessons")
        if objective in curriculum.uncovered_objectives:
            problems.append("an objective is both taught and listed as uncovered")
    for entry in curriculum.objectives_coverage:
        if entry.objective not in claims and (entry.lesson_ids or entry.modules):
            problems.append("objectives_coverage lists lessons for an objective no lesson claims")
    if request is not None:
        problems += _request_problems(curriculum, request, claims)
    return problems


def _request_problems(
    curriculum: Curriculum, request: CurriculumRequest, claims: dict[str, list[tuple[Module, Lesson]]]
) -> list[str]:
    problems = []
    requested = [o for o in request.objectives if o.strip()]
    if [e.objective for e in curriculum.objectives_coverage] != list(request.objectives):
        problems.append("objectives_coverage does not list the requested objectives")
    if not set(claims) <= set(requested):
        problems.append("a lesson claims an objective that was not requested")
    missing = [o for o in dict.fromkeys(requested) if o not in claims]
    if missing != list(curriculum.uncovered_objectives):
        problems.append("uncovered_objectives is not exactly the requested objectives no lesson teaches")
    if curriculum.uncovered_objectives and not curriculum.warnings:
        problems.append("objectives are uncovered without a warning")
    return problems


def untraceable_claims(curriculum: Curriculum, share: float = 1.0) -> list[str]:
    """Lessons whose title and summary do not name (``share`` of) the key terms of an objective they
    claim to teach, as ``"<lesson id>: <objective>"``."""
    return [
        f"{lesson.id}: {objective}"
        for module in curriculum.modules
        for lesson in module.lessons
        for objective in lesson.objectives
        if not teaches(objective, f"{lesson.title}\n{lesson.summary}", share)
    ]
