"""Planning invariants and the offline generator."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings

from jobs.generators import GeneratorConfig, build_generator
from jobs.invariants import CurriculumInvariantError, check_invariants, invariant_problems
from jobs.models import Curriculum, CurriculumRequest, parse_request
from jobs.planner import PROFILES, plan
from tests.strategies import valid_requests

OFFLINE = GeneratorConfig(name="offline")


def offline(data: Mapping[str, object]) -> tuple[CurriculumRequest, Curriculum]:
    req = parse_request(data)
    return req, build_generator(OFFLINE).generate(req, lambda *a: None)


@settings(max_examples=150, deadline=None)
@given(req=valid_requests())
def test_every_valid_request_gives_a_valid_offline_curriculum(req: CurriculumRequest) -> None:
    """For any valid request the offline curriculum keeps every contract invariant."""
    result = build_generator(OFFLINE).generate(req, lambda *a: None)
    check_invariants(result, req)
    assert len(result.schedule) == req.duration_weeks
    cap = PROFILES[req.level].max_lesson_minutes
    assert all(15 <= lesson.minutes <= cap for m in result.modules for lesson in m.lessons)
    assert all(w.lesson_ids for w in result.schedule)


def test_extremes_fit_the_budget() -> None:
    """1 week x 1 hour, 52 x 40 and 1.3 hours per week all land within 80-100 % and the weekly cap."""
    for data, cap in [
        ({"topic": "Knitting", "duration_weeks": 1, "hours_per_week": 1}, 60),
        ({"topic": "Knitting", "duration_weeks": 52, "hours_per_week": 40, "level": "advanced"}, 2400),
        ({"topic": "Knitting", "duration_weeks": 3, "hours_per_week": 1.3}, 78),
    ]:
        req, result = offline(data)
        check_invariants(result, req)
        assert all(w.minutes <= cap for w in result.schedule)
        available = cap * req.duration_weeks
        assert 0.8 * available <= result.total_minutes <= available


def test_level_changes_pace_and_depth() -> None:
    """Advanced plans use longer lessons than beginner plans for the same budget; assessments differ."""
    base = {"topic": "Statistics", "duration_weeks": 6, "hours_per_week": 6}
    beginner = plan(parse_request({**base, "level": "beginner"}))
    advanced = plan(parse_request({**base, "level": "advanced"}))
    assert len(advanced.lessons) < len(beginner.lessons)
    assert max(ls.minutes for ls in advanced.lessons) > max(ls.minutes for ls in beginner.lessons)
    _, b = offline({**base, "level": "beginner"})
    _, a = offline({**base, "level": "advanced"})
    assert b.modules[0].assessment.kind != a.modules[0].assessment.kind


def test_offline_is_deterministic() -> None:
    """The same request yields an identical curriculum apart from generated_at."""
    data = {
        "topic": "Music theory",
        "objectives": ["read sheet music", "chord progressions"],
        "level": "advanced",
    }
    _, first = offline(data)
    _, second = offline(data)
    assert first.model_dump(exclude={"generated_at"}) == second.model_dump(exclude={"generated_at"})


def test_offline_is_objective_driven_and_progresses() -> None:
    """Each objective gets a core then a practice lesson naming it; foundations first, capstone last."""
    objectives = ["Write unit tests with pytest", "Use list comprehensions"]
    _, result = offline({"topic": "Python programming", "objectives": objectives, "duration_weeks": 6})
    lessons = [lesson for m in result.modules for lesson in m.lessons]
    assert result.modules[0].title == "Foundations of Python programming"
    assert result.modules[-1].title == "Guided project"
    for objective in objectives:
        kinds = [lesson.kind for lesson in lessons if objective in lesson.objectives]
        assert kinds[0] == "core" and "practice" in kinds
        assert all(objective in lesson.summary for lesson in lessons if objective in lesson.objectives)
    coverage = {c.objective: c.lesson_ids for c in result.objectives_coverage}
    assert coverage["Use list comprehensions"] == [
        lesson.id for lesson in lessons if "Use list comprehensions" in lesson.objectives
    ]
    assert result.uncovered_objectives == []


def test_check_invariants_lists_broken_rules() -> None:
    """check_invariants raises a permanent error listing each broken invariant."""
    req, result = offline({"topic": "Chess openings", "duration_weeks": 2})
    broken = result.model_copy(deep=True)
    broken.schedule[0].lesson_ids.append(broken.schedule[1].lesson_ids[0])
    broken.schedule = broken.schedule[:1]
    broken.total_minutes += 1
    problems = invariant_problems(broken, req)
    assert any("schedule has 1 weeks" in p for p in problems)
    assert any("total_minutes is not the sum" in p for p in problems)
    try:
        check_invariants(broken, req)
    except CurriculumInvariantError as exc:
        assert exc.problems == tuple(problems)
    else:
        raise AssertionError("check_invariants accepted a broken curriculum")
