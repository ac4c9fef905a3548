"""Quality of offline curricula: properties a course designer checks, asserted on every result.

The requests vary level, length (1-52 weeks), weekly hours (1-40), objectives (0-20, blank and
repeated ones included) and language (topics in Spanish, German and Japanese). Each test is one
property checked on every request; the numbers in the checks come from the contract, not from
the planner's own constants.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from hypothesis import given, settings

from jobs.coverage import untraceable_claims
from jobs.generators.offline import OfflineGenerator
from jobs.invariants import check_invariants
from jobs.models import Curriculum, CurriculumRequest, Lesson, parse_request
from tests.strategies import valid_requests

SQL = ["Filter rows with WHERE", "Join two tables", "Aggregate rows with GROUP BY", "Write correlated subqueries"]
MANY = [f"Explain idea number {i} of the course" for i in range(1, 21)]

REQUESTS: list[dict[str, Any]] = [
    {"topic": "SQL for analysts", "level": "intermediate", "duration_weeks": 4, "hours_per_week": 5,
     "objectives": SQL},
    {"topic": "Spanish for travellers", "duration_weeks": 8, "hours_per_week": 3, "language": "es"},
    {"topic": "Bases de datos relacionales", "level": "intermediate", "duration_weeks": 6, "hours_per_week": 4,
     "language": "es", "objectives": ["Agregar datos con GROUP BY", "Unir tablas con JOIN",
                                      "Filtrar filas con WHERE"]},
    {"topic": "Quantum field theory", "level": "advanced", "duration_weeks": 12, "hours_per_week": 10,
     "objectives": ["Derive the Feynman rules for scalar fields", "Renormalise phi-four theory at one loop",
                    "Compute tree-level QED cross sections"]},
    {"topic": "Intro to SQL", "duration_weeks": 1, "hours_per_week": 1, "objectives": MANY},
    {"topic": "Category theory", "level": "advanced", "duration_weeks": 1, "hours_per_week": 1},
    {"topic": "Distributed systems", "level": "advanced", "duration_weeks": 52, "hours_per_week": 40,
     "objectives": MANY},
    {"topic": "Knitting", "duration_weeks": 52, "hours_per_week": 40},
    {"topic": "Python basics", "duration_weeks": 3, "hours_per_week": 2,
     "objectives": ["Use variables and types", "Write a for loop"]},
    {"topic": "Data visualisation", "level": "intermediate", "duration_weeks": 26, "hours_per_week": 7.5,
     "objectives": MANY[:10]},
    {"topic": "Compiler construction", "level": "advanced", "duration_weeks": 2, "hours_per_week": 40,
     "objectives": ["Write a lexer", "Write a recursive-descent parser", "Build an AST", "Type-check programs",
                    "Generate stack-machine code"]},
    {"topic": "Watercolour painting", "duration_weeks": 16, "hours_per_week": 1.3,
     "objectives": ["Mix a limited palette"]},
    {"topic": "Grundlagen der Thermodynamik", "level": "intermediate", "duration_weeks": 10, "hours_per_week": 6,
     "language": "de", "objectives": ["Den ersten Hauptsatz anwenden", "Entropieänderungen berechnen",
                                      "Kreisprozesse analysieren", "Zustandsgleichungen nutzen",
                                      "Wärmeübertragung abschätzen", "Phasenübergänge beschreiben"]},
    {"topic": "日本語の敬語", "duration_weeks": 5, "hours_per_week": 4, "language": "ja",
     "objectives": ["敬語の種類を説明する", "丁寧語で自己紹介する", "尊敬語と謙譲語を使い分ける"]},
    {"topic": "Machine learning systems", "level": "advanced", "duration_weeks": 8, "hours_per_week": 20,
     "objectives": MANY},
    {"topic": "Project management", "level": "intermediate", "duration_weeks": 40, "hours_per_week": 2},
    {"topic": "Bird watching", "duration_weeks": 4, "hours_per_week": 3,
     "objectives": ["Identify ten garden birds", "", "Identify ten garden birds", "Keep a field notebook"]},
    {"topic": "Music theory", "level": "advanced", "duration_weeks": 6, "hours_per_week": 6,
     "objectives": ["Analyse four-part harmony", "Voice-lead secondary dominants"]},
]

LESSON_CAP = {"beginner": 90, "intermediate": 120, "advanced": 150}


@functools.cache
def _generate(index: int) -> tuple[CurriculumRequest, Curriculum]:
    req = parse_request(REQUESTS[index])
    return req, OfflineGenerator().generate(req, lambda *a: None)


def results() -> list[tuple[CurriculumRequest, Curriculum]]:
    return [_generate(i) for i in range(len(REQUESTS))]


def lessons(curriculum: Curriculum) -> list[Lesson]:
    return [lesson for module in curriculum.modules for lesson in module.lessons]


def share(curriculum: Curriculum, kind: str) -> float:
    return sum(x.minutes for x in lessons(curriculum) if x.kind == kind) / curriculum.total_minutes


def test_requests_cover_the_ranges() -> None:
    """The suite spans every level, 1 and 52 weeks, 1 and 40 hours, 0 and 20 objectives, non-English."""
    reqs = [req for req, _ in results()]
    assert len(reqs) >= 16
    assert {r.level for r in reqs} == {"beginner", "intermediate", "advanced"}
    assert {1, 52} <= {r.duration_weeks for r in reqs} and {1.0, 40.0} <= {r.hours_per_week for r in reqs}
    assert {0, 20} <= {len(r.objectives) for r in reqs} and {"es", "de", "ja"} <= {r.language for r in reqs}


def test_contract_invariants_hold() -> None:
    """Every result passes check_invariants (schedule, budget, shape rules, coverage consistency)."""
    for req, result in results():
        check_invariants(result, req)


def test_titles_are_unique() -> None:
    """No two lessons (and no two modules) of a curriculum share a title, ignoring case."""
    for _, result in results():
        titles = [x.title.casefold() for x in lessons(result)]
        assert len(set(titles)) == len(titles), result.topic
        modules = [m.title.casefold() for m in result.modules]
        assert len(set(modules)) == len(modules), result.topic


def test_lesson_minutes_within_bounds() -> None:
    """Every lesson lasts 15 minutes to 90 / 120 / 150 (beginner / intermediate / advanced)."""
    for req, result in results():
        assert all(15 <= x.minutes <= LESSON_CAP[req.level] for x in lessons(result)), result.topic


def test_kind_shares_and_order() -> None:
    """Foundations <= 10 % of advanced courses, projects <= 30 %, a core lesson before any project."""
    for req, result in results():
        kinds = [x.kind for x in lessons(result)]
        if req.level == "advanced":
            assert share(result, "foundation") <= 0.10, result.topic
        assert share(result, "project") <= 0.30, result.topic
        assert "core" in kinds, result.topic
        if "project" in kinds:
            assert kinds.index("core") < kinds.index("project"), result.topic


def test_foundations_shrink_with_level() -> None:
    """For the same budget, beginners get a larger share of foundations than advanced learners."""
    base = {"topic": "Statistics", "duration_weeks": 10, "hours_per_week": 6}
    shares = []
    for level in ("beginner", "intermediate", "advanced"):
        result = OfflineGenerator().generate(parse_request({**base, "level": level}), lambda *a: None)
        shares.append(share(result, "foundation"))
    assert shares[0] > shares[1] > shares[2]


def test_every_module_ends_with_a_timed_assessment_of_its_objectives() -> None:
    """Each module's last lesson is an assessment with minutes, naming the objectives its lessons teach."""
    for _, result in results():
        for module in result.modules:
            last = module.lessons[-1]
            assert last.kind == "assessment" and last.minutes > 0, (result.topic, module.title)
            taught = {o for x in module.lessons for o in x.objectives}
            assert all(o in last.summary for o in taught), (result.topic, module.title)
            assert module.assessment.description == last.summary


def test_project_lessons_scope_build_present() -> None:
    """A capstone starts by scoping, ends by presenting; no later lesson goes back to scoping."""
    for _, result in results():
        project = [x.title.casefold() for x in lessons(result) if x.kind == "project"]
        if project:
            assert "scope" in project[0] and "present" in project[-1], result.topic
            assert not any("scope" in t for t in project[1:]), result.topic


def test_long_courses_have_reviews() -> None:
    """Courses of 8 weeks or more have review lessons; each review sits right before an assessment."""
    for req, result in results():
        kinds = [x.kind for x in lessons(result)]
        assert ("review" in kinds) == (req.duration_weeks >= 8), result.topic
        assert all(kinds[i + 1] == "assessment" for i, k in enumerate(kinds) if k == "review")


def test_claimed_objectives_are_named_by_the_lessons_claiming_them() -> None:
    """A lesson claiming an objective names it (title or summary), and coverage lists exactly those lessons."""
    for _, result in results():
        assert untraceable_claims(result) == [], result.topic
        for entry in result.objectives_coverage:
            claimants = [x for x in lessons(result) if entry.objective in x.objectives]
            assert entry.lesson_ids == [x.id for x in claimants], result.topic
            for lesson in claimants:
                text = f"{lesson.title} {lesson.summary}".casefold()
                assert entry.objective.casefold() in text, (result.topic, lesson.id)


def test_each_objective_is_taught_then_practised_or_reported_uncovered() -> None:
    """Every requested objective has a core lesson followed by a practice lesson, or is listed uncovered."""
    for req, result in results():
        for objective in {o for o in req.objectives if o.strip()}:
            kinds = [x.kind for x in lessons(result) if objective in x.objectives]
            if objective in result.uncovered_objectives:
                assert kinds == [], (result.topic, objective)
            else:
                assert kinds[0] == "core" and "practice" in kinds, (result.topic, objective)


def test_taught_objectives_get_a_fair_share_of_the_lessons() -> None:
    """No taught objective gets more than twice (plus one) the lessons of another: two objectives in
    three modules must not mean one of them fills two modules."""
    for req, result in [*results(), _balance_case()]:
        taught = [len(e.lesson_ids) for e in result.objectives_coverage if e.lesson_ids]
        if taught:
            assert max(taught) <= 2 * min(taught) + 1, (req.topic, taught)


def _balance_case() -> tuple[CurriculumRequest, Curriculum]:
    """The README's example request: two objectives over three teaching modules' worth of lessons."""
    req = parse_request({"topic": "Python for data analysis", "duration_weeks": 4, "hours_per_week": 5,
                         "objectives": ["clean messy CSV data with pandas", "plot trends with matplotlib"]})
    return req, OfflineGenerator().generate(req, lambda *_: None)


def test_objectives_that_cannot_fit_are_listed_and_warned() -> None:
    """20 objectives in 1 week x 1 hour: most are uncovered, with a warning; the fitting ones are taught."""
    _, result = _generate(4)
    covered = [e.objective for e in result.objectives_coverage if e.lesson_ids]
    assert covered and result.uncovered_objectives
    assert sorted(covered + result.uncovered_objectives) == sorted(MANY)
    assert any("uncovered_objectives" in w for w in result.warnings)
    for _, other in results():
        if other.uncovered_objectives:
            assert any(re.search(r"\bnot taught\b", w) for w in other.warnings), other.topic


def test_summaries_are_distinct() -> None:
    """No two lessons of a curriculum share a summary."""
    for _, result in results():
        summaries = [x.summary for x in lessons(result)]
        assert len(set(summaries)) == len(summaries), result.topic


def test_activities_fit_the_kind() -> None:
    """Practice lessons have the learner do exercises on the objective; assessments test each objective."""
    for _, result in results():
        for module in result.modules:
            for lesson in module.lessons:
                joined = " ".join(lesson.activities)
                if lesson.kind == "practice" and lesson.objectives:
                    doing = r"\b(Work|Do|Apply|Find|Set|Run|Paint|Play|Train|Cook)\b"
                    assert lesson.objectives[0] in joined and re.search(doing, joined)
                if lesson.kind == "assessment" and module.objectives and lesson.minutes:
                    taught = list(dict.fromkeys(o for x in module.lessons for o in x.objectives))[:4]
                    assert all(o in joined for o in taught), (result.topic, lesson.id)


def test_offline_says_it_is_a_template_and_english_only() -> None:
    """Every offline result warns that it is template text; non-English requests also get a language warning."""
    for req, result in results():
        assert any("template" in w for w in result.warnings)
        assert any("English only" in w for w in result.warnings) == (req.language != "en")


def _text(result: Curriculum) -> set[str]:
    return {value.replace(result.topic, "X") for x in lessons(result) for value in (x.title, x.summary)}


def test_different_courses_are_not_one_template_with_the_topic_swapped() -> None:
    """A 4-week SQL course and an 8-week Spanish course share almost no lesson text, topic swapped out."""
    sql, spanish = _text(_generate(0)[1]), _text(_generate(1)[1])
    assert len(sql & spanish) <= 0.1 * min(len(sql), len(spanish))


def test_offline_is_deterministic() -> None:
    """The same request gives the same curriculum (generated_at aside)."""
    req = parse_request(REQUESTS[3])
    first = OfflineGenerator().generate(req, lambda *a: None)
    assert first.model_dump(exclude={"generated_at"}) == _generate(3)[1].model_dump(exclude={"generated_at"})


@settings(max_examples=120, deadline=None)
@given(req=valid_requests())
def test_every_valid_request_meets_every_property(req: CurriculumRequest) -> None:
    """For any valid request the offline result keeps the invariants and the quality properties above."""
    result = OfflineGenerator().generate(req, lambda *a: None)
    check_invariants(result, req)
    assert untraceable_claims(result) == []
    all_lessons = lessons(result)
    assert len({x.summary for x in all_lessons}) == len(all_lessons)
    assert all(15 <= x.minutes <= LESSON_CAP[req.level] for x in all_lessons)
    requested = [o for o in dict.fromkeys(req.objectives) if o.strip()]
    taught = [o for o in requested if any(o in x.objectives for x in all_lessons)]
    assert taught + result.uncovered_objectives == requested
