"""The planner's half of a model-designed course (jobs.fitting): whatever the model designs, the
course keeps the contract, keeps the model's shape where it can, and says what it repaired."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.design import Design, DesignedAssessment, DesignedLesson, DesignedModule, design_limits
from jobs.fitting import plan_from_design
from jobs.invariants import invariant_problems
from jobs.models import LESSON_KINDS, CurriculumRequest, GeneratorInfo, parse_request
from jobs.planner import LessonContent, ModuleContent, assemble
from jobs.proportions import split
from tests.strategies import valid_requests


def _assemble(req: CurriculumRequest, design: Design) -> tuple[list[str], list[str], object]:
    limits = design_limits(req)
    the_plan, fitted = plan_from_design(req, limits, design)
    contents = [
        ModuleContent(m.title, m.summary, m.objectives, _assessment(m),
                      tuple(LessonContent(ls.title or "", f"text of {ls.id}", ("do", "check")) for ls in slot.lessons))
        for m, slot in zip(fitted.modules, the_plan.modules, strict=True)
    ]
    result = assemble(req, the_plan, contents, GeneratorInfo(name="openai", model="m"))
    return invariant_problems(result, req), list(result.warnings), result


def _assessment(module: DesignedModule):  # type: ignore[no-untyped-def]
    from jobs.models import Assessment

    a = module.assessment
    return Assessment(title=a.title, kind=a.kind, description=a.description)


@st.composite
def designs(draw: st.DrawFn, objectives: tuple[str, ...]) -> Design:
    """Any design a model might send: any kinds, counts, rough minutes, titles (repeats too) and claims
    (requested, paraphrased or invented)."""
    claims = st.lists(st.sampled_from([*objectives, "something invented", *(o.upper() for o in objectives)]),
                      max_size=4) if objectives else st.just([])
    lesson = st.builds(
        DesignedLesson,
        title=st.sampled_from(["Introduction", "Practice", "Deep dive", "Workshop"]) | st.text(min_size=1, max_size=30),
        kind=st.sampled_from(LESSON_KINDS),
        objectives=claims.map(tuple),
        minutes=st.integers(5, 600),
    )
    module = st.builds(
        DesignedModule,
        title=st.text(min_size=1, max_size=20), summary=st.just("s"), objectives=st.just(("o",)),
        assessment=st.just(DesignedAssessment("Check", "quiz", "d")),
        lessons=st.lists(lesson, min_size=0, max_size=25).map(tuple),
    )
    return Design(tuple(draw(st.lists(module, min_size=1, max_size=30))))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), req=valid_requests())
def test_any_design_fits_the_contract(data: st.DataObject, req: CurriculumRequest) -> None:
    """Whatever the model designs, the fitted course keeps every invariant of the contract."""
    limits = design_limits(req)
    design = data.draw(designs(limits.objectives))
    problems, _, _ = _assemble(req, design)
    assert problems == []


def test_a_good_design_keeps_its_shape_and_gets_no_warning() -> None:
    """A design inside the limits keeps its kinds, titles and claims, and nothing is reported."""
    req = parse_request({"topic": "Watercolor", "duration_weeks": 2, "hours_per_week": 4,
                         "objectives": ["Mix colours", "Paint a wash"]})
    lessons = (DesignedLesson("Colour mixing basics", "core", ("Mix colours",), 45),
               DesignedLesson("Mixing session", "practice", ("Mix colours",), 60),
               DesignedLesson("Flat and graded washes", "core", ("Paint a wash",), 45),
               DesignedLesson("Wash session 1", "practice", ("Paint a wash",), 60),
               DesignedLesson("Wash session 2", "practice", ("Paint a wash",), 60))
    design = Design((DesignedModule("Colour and washes", "s", ("o",), DesignedAssessment("Paint test", "practical",
                                                                                              "d"), lessons),))
    problems, warnings, result = _assemble(req, design)
    assert problems == [] and warnings == []
    got = [(x.title, x.kind, tuple(x.objectives)) for x in result.modules[0].lessons]  # type: ignore[attr-defined]
    assert got[:-1] == [(x.title, x.kind, x.objectives) for x in lessons]
    assert got[-1] == ("Paint test", "assessment", ())


def test_rough_minutes_keep_their_proportions_within_a_week() -> None:
    """A 90-minute workshop beside a 45-minute lecture stays about twice as long after fitting."""
    assert split(150, [45, 90], 15, 120) == [50, 100]
    assert split(100, [45, 90, 45], 15, 90) == [25, 50, 25]
    fitted = split(1020, [30] * 11 + [600], 15, 90)
    assert sum(fitted) == 1020 and fitted[-1] == 90 and all(15 <= m <= 90 for m in fitted)


def test_claims_are_verbatim_requested_objectives_and_inventions_are_reported() -> None:
    """A paraphrased claim (case, spacing) maps to the requested text; an invented one is dropped with a warning."""
    req = parse_request({"topic": "SQL", "duration_weeks": 1, "hours_per_week": 4, "objectives": ["Join tables"]})
    lessons = (DesignedLesson("Joins", "core", ("  join TABLES ",), 45),
               DesignedLesson("Window functions", "core", ("Use window functions",), 45))
    design = Design((DesignedModule("SQL", "s", ("o",), DesignedAssessment("Quiz", "quiz", "d"), lessons),))
    problems, warnings, result = _assemble(req, design)
    assert problems == []
    assert result.modules[0].lessons[0].objectives == ["Join tables"]  # type: ignore[attr-defined]
    assert any("named no requested objective" in w for w in warnings)
