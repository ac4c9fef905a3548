"""Offline is an honest draft: properties every offline curriculum keeps, over many generated requests.

Each rule of issue 18's "Offline is an honest draft" is one property, checked on requests from
``tests.strategies`` (any valid request) and on realistic ones (skills, sciences, languages, short
and year-long courses). The oracle is the text a learner or a course designer reads, not the
planner's internals.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.generators.offline import OfflineGenerator, focuses
from jobs.invariants import check_invariants
from jobs.minutes import shorter_assessments
from jobs.models import Curriculum, CurriculumRequest, Lesson, parse_request
from jobs.planner import plan
from tests.strategies import valid_requests

EXAMPLES = settings(max_examples=40, deadline=None)

TOPICS = ["Marathon training", "Watercolor painting", "Welding safety", "Quantum computing with Qiskit",
          "Français pour débutants", "Acoustic guitar", "Home bread baking", "Bayesian statistics",
          "First aid basics", "Software engineering", "Knitting", "Contract law", "Strength training"]
VERBS = ["Explain", "Use", "Build", "Compare", "Mix", "Run", "Paint", "Play", "Derive", "Cook", "Write", "Plan"]
NOUNS = ["a limited palette", "circuits", "hierarchical models", "open chords", "a long run", "a sourdough loaf",
         "the first law", "a wet-on-wet sky", "tempo runs", "unit tests", "a safety checklist", "a short dialogue"]

#: Words that promise material an offline draft does not have (allowed only in "To prepare:" items).
MATERIAL = re.compile(
    r"\b(solutions?|model answers?|answer key|worked examples?|sources?|reading list|handouts?|textbooks?"
    r"|rubrics?|checklists?|slides|videos?|self-check)\b",
    re.IGNORECASE,
)
FILLER = re.compile(r"\((?:round |part )?\d+\)|\bround \d+\b|\(part \d+\)", re.IGNORECASE)
DOUBLED = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)


@st.composite
def designer_requests(draw: st.DrawFn) -> CurriculumRequest:
    """Realistic requests: named skills and subjects, objectives as a learner would write them."""
    data: dict[str, Any] = {
        "topic": draw(st.sampled_from(TOPICS)),
        "level": draw(st.sampled_from(["beginner", "intermediate", "advanced"])),
        "duration_weeks": draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16, 26, 52])),
        "hours_per_week": draw(st.sampled_from([1, 1.5, 2, 3, 5, 8, 20, 40])),
        "language": draw(st.sampled_from(["en", "fr", "de"])),
    }
    pairs = st.tuples(st.sampled_from(VERBS), st.sampled_from(NOUNS)).map(" ".join)
    data["objectives"] = draw(st.lists(pairs, max_size=8, unique=True))
    return parse_request(data)


any_request = st.one_of(valid_requests(), designer_requests())


def generate(req: CurriculumRequest) -> Curriculum:
    result = OfflineGenerator().generate(req, lambda *_: None)
    check_invariants(result, req)
    return result


def lessons(result: Curriculum) -> list[Lesson]:
    return [lesson for module in result.modules for lesson in module.lessons]


def texts(result: Curriculum) -> list[str]:
    """Every title, summary and activity of the result."""
    out = [m.title for m in result.modules] + [m.summary for m in result.modules]
    for lesson in lessons(result):
        out += [lesson.title, lesson.summary, *lesson.activities]
    return out


def masked(req: CurriculumRequest, value: str) -> str:
    """``value`` with the request's own words (topic, objectives, their title labels) replaced by §,
    so that only the template's words are judged."""
    value = " ".join(value.split())
    for words in own_words(req.model_dump_json()):
        value = re.sub(rf"(?<!\w){re.escape(words)}(?!\w)", "§", value)
    return value


@functools.lru_cache(maxsize=8)
def own_words(request_json: str) -> tuple[str, ...]:
    req = CurriculumRequest.model_validate_json(request_json)
    mine = [req.topic, *req.objectives, *(f.label for f in focuses(req, plan(req)))]
    return tuple(sorted({" ".join(w.split()) for w in mine if w.strip()}, key=len, reverse=True))


@EXAMPLES
@given(req=any_request)
def test_every_lesson_is_template_text_and_costs_nothing(req: CurriculumRequest) -> None:
    """Offline lessons are source 'template', never fallback; usage is all zeros; the result says it is a draft."""
    result = generate(req)
    assert {(x.source, x.fallback) for x in lessons(result)} == {("template", False)}
    assert result.usage.model_dump() == {"model_calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    assert any("template draft" in w and "To prepare:" in w for w in result.warnings)


@EXAMPLES
@given(req=any_request)
def test_no_text_promises_material_that_does_not_exist(req: CurriculumRequest) -> None:
    """No title, summary or activity names solutions, model answers, sources or the like, except an
    activity that starts 'To prepare:' (material the course author still has to write)."""
    result = generate(req)
    for value in texts(result):
        if not value.startswith("To prepare:"):
            assert not MATERIAL.search(masked(req, value)), value
            assert "To prepare:" not in masked(req, value), value


@EXAMPLES
@given(req=any_request)
def test_no_activity_is_repeated_across_lessons(req: CurriculumRequest) -> None:
    """No activity text appears in two lessons of a course (nor twice in one)."""
    result = generate(req)
    seen: dict[str, str] = {}
    for lesson in lessons(result):
        for activity in lesson.activities:
            key = " ".join(activity.split()).casefold()
            assert key not in seen, (activity, seen.get(key), lesson.id)
            seen[key] = lesson.id


@EXAMPLES
@given(req=any_request)
def test_titles_are_short_unique_and_free_of_filler(req: CurriculumRequest) -> None:
    """Lesson and module titles are at most 90 characters, unique, with no "(round 2)" / "(part 3)" /
    "(2)" numbering and no doubled words ("on on", "Common mistakes: common mistakes")."""
    result = generate(req)
    for titles in ([x.title for x in lessons(result)], [m.title for m in result.modules]):
        assert len({" ".join(t.split()).casefold() for t in titles}) == len(titles)
        for title in titles:
            assert len(title) <= 90, title
            template = masked(req, title)
            assert not FILLER.search(template), title
            head, _, tail = template.partition(": ")
            assert head.casefold() != tail.casefold(), title


@EXAMPLES
@given(req=any_request)
def test_no_doubled_words_in_the_template_text(req: CurriculumRequest) -> None:
    """No word is written twice in a row by the template ("rely on on"), in any title, summary or activity."""
    result = generate(req)
    for value in texts(result):
        assert not DOUBLED.search(masked(req, value)), value


@EXAMPLES
@given(req=any_request)
def test_assessments_take_at_most_a_fifth_and_short_courses_have_one(req: CurriculumRequest) -> None:
    """Assessments take at most 20 % of the minutes (or are one 15-minute assessment, all a course under
    75 minutes can hold), and a course of 3 hours or less has exactly one assessment."""
    result = generate(req)
    tests = [x for x in lessons(result) if x.kind == "assessment"]
    minutes = sum(x.minutes for x in tests)
    assert minutes <= 0.2 * result.total_minutes or [x.minutes for x in tests] == [15], (minutes, result.total_minutes)
    if Decimal(repr(req.hours_per_week)) * req.duration_weeks <= 3:
        assert len(tests) == 1 and len(result.modules) == 1


@EXAMPLES
@given(req=any_request)
def test_coverage_lists_exactly_the_requested_objectives_and_none_are_invented(req: CurriculumRequest) -> None:
    """objectives_coverage lists the requested objectives in order; module and lesson objectives are
    requested ones only, so a course without objectives claims none."""
    result = generate(req)
    assert [e.objective for e in result.objectives_coverage] == list(req.objectives)
    requested = set(req.objectives)
    for module in result.modules:
        assert set(module.objectives) <= requested
        assert all(set(x.objectives) <= requested for x in module.lessons)


@EXAMPLES
@given(req=any_request)
def test_capstone_brings_in_every_taught_objective_in_order_without_wrapping(req: CurriculumRequest) -> None:
    """Project lessons list the objectives they bring in; together they reach every taught objective,
    each once and in request order; builds are numbered 1..n, a first version comes first and
    "test and fix" only last."""
    result = generate(req)
    project = [x for x in lessons(result) if x.kind == "project"]
    if not project:
        return
    taught = [e.objective for e in result.objectives_coverage if e.lesson_ids]
    brought = [o for x in project for o in x.objectives]
    assert brought == list(dict.fromkeys(taught)), (brought, taught)
    builds = project[1:-1]
    numbers = [int(m.group(1)) for x in builds if (m := re.search(r" build (\d+): ", x.title))]
    assert numbers == list(range(1, len(builds) + 1))
    assert "a first working version" in builds[0].title
    assert all("test and fix" not in x.title for x in builds[:-1])
    assert not any("first working version" in x.title for x in builds[1:])


@EXAMPLES
@given(req=designer_requests())
def test_skill_courses_practise_the_skill(req: CurriculumRequest) -> None:
    """Running, painting, an instrument, baking or strength training: practice lessons are sessions of
    the skill (a run, a painting session…) and outnumber the teaching lessons."""
    sessions = {"Marathon training": ("run", "Run"), "Watercolor painting": ("painting session", "Paint"),
                "Acoustic guitar": ("practice session", "Play"), "Home bread baking": ("kitchen session", "Cook"),
                "Knitting": ("hands-on session", "Work"), "Strength training": ("training session", "Train")}
    result = generate(req)
    if req.topic not in sessions:
        return
    session, verb = sessions[req.topic]
    practice = [x for x in lessons(result) if x.kind == "practice"]
    core = [x for x in lessons(result) if x.kind == "core"]
    assert len(practice) >= len(core)
    for lesson in practice:
        assert lesson.summary.startswith(f"This {session}: "), lesson.summary
        assert re.search(rf"\b{verb} for about \d+ minutes\b", " ".join(lesson.activities)), lesson.activities


def test_designer_requests_read_as_drafts() -> None:
    """The requests tried by hand: a marathon plan has runs, watercolour has painting sessions, a 2-hour
    welding-safety course spends under a fifth on its one assessment, a course without objectives
    says its sub-themes are generic, and a capstone milestone never wraps round."""
    marathon = generate(parse_request({"topic": "Marathon training", "duration_weeks": 16, "hours_per_week": 6}))
    runs = [x for x in lessons(marathon) if x.kind == "practice" and x.summary.startswith("This run: ")]
    assert len(runs) >= 40 and len(runs) > sum(1 for x in lessons(marathon) if x.kind == "core")
    assert any("generic sub-themes" in w for w in marathon.warnings)
    assert all(m.objectives == [] for m in marathon.modules)
    builds = [x for x in lessons(marathon) if x.kind == "project" and " build " in x.title]
    assert builds and all(x.title.startswith("Goal run build ") for x in builds)
    assert all(re.search(r"\brun for about \d+ minutes", " ".join(x.activities)) for x in builds[:-1])
    water = generate(parse_request({"topic": "Watercolor painting", "duration_weeks": 6, "hours_per_week": 3,
                                    "objectives": ["Mix a limited palette", "Paint a wet-on-wet sky"]}))
    assert any(x.summary.startswith("This painting session: ") for x in lessons(water))
    welding = generate(parse_request({"topic": "Welding safety", "duration_weeks": 1, "hours_per_week": 2}))
    tests = [x for x in lessons(welding) if x.kind == "assessment"]
    assert len(tests) == 1 and tests[0].minutes <= 0.2 * welding.total_minutes
    qiskit_objectives = ["Use Qiskit to build and run circuits", "Implement Grover's search"]
    qiskit = generate(parse_request({"topic": "Quantum computing with Qiskit", "level": "intermediate",
                                     "duration_weeks": 8, "hours_per_week": 5, "objectives": qiskit_objectives}))
    titles = [x.title for x in lessons(qiskit) if x.kind == "project"]
    assert titles and not any("(" in t for t in titles)
    first_use = min(i for i, x in enumerate(lessons(qiskit)) if "Use Qiskit to build and run circuits" in x.objectives)
    first_grover = min(i for i, x in enumerate(lessons(qiskit)) if "Implement Grover's search" in x.objectives)
    assert first_use < first_grover


@settings(max_examples=60, deadline=None)
@given(weeks=st.integers(1, 6), per_week=st.integers(2, 8), length=st.integers(15, 90),
       kinds=st.lists(st.sampled_from(["core", "practice", "project", "assessment"]), min_size=48, max_size=48))
def test_shorter_assessments_keep_every_total(weeks: int, per_week: int, length: int, kinds: list[Any]) -> None:
    """Cutting assessments never changes the course total, never pushes a week past its capacity
    nor a lesson past the cap, and never makes an assessment shorter than the shortest lesson."""
    slots = [(w + 1, length) for w in range(weeks) for _ in range(per_week)]
    kinds = kinds[: len(slots)]
    capacity = per_week * length + 9
    out = shorter_assessments(slots, kinds, 90, capacity, 15)
    assert sum(m for _, m in out) == sum(m for _, m in slots)
    assert [w for w, _ in out] == [w for w, _ in slots]
    for week in range(1, weeks + 1):
        assert sum(m for w, m in out if w == week) <= capacity
    assert all(m <= max(90, length) for _, m in out)
    assert all(m >= min(15, length) for (_, m), k in zip(out, kinds, strict=True) if k == "assessment")
