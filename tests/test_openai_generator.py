"""The model path against a real local chat-completions server (tests/llm_server.py): what we ask,
the design the model chooses, the writing calls, long courses and the per-job budgets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings

from jobs.design import design_limits
from jobs.generators.call_budget import BudgetExceeded
from jobs.generators.prompts import WRITING_SYSTEM
from jobs.models import LESSON_KINDS, CurriculumRequest, parse_request
from tests.llm_replies import good_reply
from tests.llm_server import LLMServer
from tests.openai_support import (
    API_KEY,
    config,
    generate,
    generate_with,
    lessons,
    request,
    tasks,
    writing_bodies,
)
from tests.strategies import valid_requests
from tests.test_curriculum_quality import REQUESTS as QUALITY_REQUESTS
from worker.errors import PermanentJobError, TransientJobError


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer(slow_s=5.0) as srv:
        yield srv


@pytest.fixture
def llm(server: LLMServer) -> LLMServer:
    server.reset()
    return server


def assert_strict(schema: dict[str, Any]) -> None:
    if schema.get("type") == "object":
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(schema["properties"])
        for sub in schema["properties"].values():
            assert_strict(sub)
    if schema.get("type") == "array":
        assert_strict(schema["items"])


# --- what the service asks for ---------------------------------------------------------------------


def test_good_replies_give_a_valid_course_with_sources_usage_and_progress(llm: LLMServer) -> None:
    """A short course: one design call, one writing call per module; lessons say the model wrote them and
    usage is the sum of the provider's own usage fields."""
    req = request(objectives=["Write SELECT queries", "Join two tables"])
    events: list[tuple[str, int, int]] = []
    cfg = config(llm)
    from jobs.generators import build_generator

    result = build_generator(cfg).generate(req, lambda s, d, t: events.append((s, d, t)))
    assert llm.names()[0] == "course_outline"
    assert llm.requests == 1 + len(result.modules)
    assert all(x.source == "model" and not x.fallback for x in lessons(result))
    assert result.usage.model_calls == llm.requests
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (
        llm.usage["prompt_tokens"], llm.usage["completion_tokens"])
    assert events[-1] == ("lessons", len(lessons(result)), len(lessons(result)))
    assert all(a == f"Bearer {API_KEY}" for a in llm.authorizations)


def test_every_request_carries_a_strict_schema_that_accepts_the_replies(llm: LLMServer) -> None:
    """Design schemas are named *outline*, writing ones *lesson*; all are strict, fix counts where they are
    fixed, give each lesson a kind enum of the contract's kinds, and accept the server's good replies."""
    generate(config(llm), request(weeks=12, hours=5, objectives=["Write SELECT queries", "Join two tables"]))
    names = llm.names()
    assert names[0] == "course_outline_modules"
    assert {n for n in names[1:] if "outline" in n} == {"module_outline"}
    assert all("lesson" in n and "outline" not in n for n in names if n == "module_lessons")
    for body in llm.bodies:
        fmt = body["response_format"]
        schema = fmt["json_schema"]["schema"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        jsonschema.Draft202012Validator.check_schema(schema)
        assert_strict(schema)
        jsonschema.validate(good_reply(json.loads(body["messages"][-1]["content"])), schema)
        lessons_schema = schema["properties"].get("lessons")
        if lessons_schema is not None:
            assert lessons_schema["minItems"] == lessons_schema["maxItems"]
    design = llm.bodies[1]["response_format"]["json_schema"]["schema"]
    assert design["properties"]["lessons"]["items"]["properties"]["kind"]["enum"] == list(LESSON_KINDS)


def test_the_model_chooses_the_shape_within_the_limits(llm: LLMServer) -> None:
    """A skill course the model makes mostly practice stays mostly practice; every module still ends in an
    assessment and the minutes keep the budget."""
    req = request(weeks=3, hours=6, topic="Watercolor painting")
    original = good_reply

    def practice_heavy(task: dict[str, Any]) -> dict[str, Any]:
        reply = original(task)
        for module in reply.get("modules", []):
            for n, lesson in enumerate(module.get("lessons", [])):
                lesson["kind"] = "core" if n == 0 else "practice"
        return reply

    llm.design_hook = practice_heavy
    result = generate(config(llm), req)
    kinds = [x.kind for x in lessons(result)]
    assert kinds.count("practice") >= 0.6 * len(kinds)
    assert all(m.lessons[-1].kind == "assessment" for m in result.modules)


def test_the_design_task_gives_the_hard_limits(llm: LLMServer) -> None:
    """The design task names weeks, hours, lesson minutes by level, the lesson kinds and the objectives."""
    req = request(weeks=3, hours=6, level="advanced", objectives=["Tune a slow query"])
    generate(config(llm), req)
    task = tasks(llm, "design_course")[0]
    limits = design_limits(req)
    assert (task["weeks"], task["hours_per_week"], task["lesson_minutes"]) == (3, 6, [15, 150])
    assert set(task["kinds"]) == set(LESSON_KINDS) and task["objectives"] == ["Tune a slow query"]
    assert task["lessons_in_all"] == [limits.min_lessons, limits.max_lessons]


# --- writing ----------------------------------------------------------------------------------------


def test_writing_prompts_share_their_beginning_and_measure_it(llm: LLMServer) -> None:
    """Every writing prompt of a course begins with the same instructions and outline (>= 1,024 tokens as
    characters / 4 for a 12-week course), then names its module; the outline lists every lesson."""
    req = request(weeks=12, hours=5, objectives=["Write SELECT queries", "Join two tables"])
    result, generator = generate_with(config(llm), req)
    bodies = writing_bodies(llm)
    assert len(bodies) == len(result.modules) > 1
    prefixes = {json.dumps(b["messages"][:2]) for b in bodies}
    assert len(prefixes) == 1
    shared = "".join(m["content"] for m in bodies[0]["messages"][:2])
    assert shared == generator.last_shared_prefix and len(shared) / 4 >= 1024
    assert all(x.id in shared and x.title in shared for x in lessons(result))
    assert "verbatim" not in WRITING_SYSTEM


def test_each_lesson_brief_knows_its_place(llm: LLMServer) -> None:
    """Briefs carry the week, 'practice k of n on X', what assessments and reviews cover, and a capstone
    step's milestone and the objectives it combines."""
    req = request(weeks=12, hours=5, objectives=["Write SELECT queries", "Join two tables"])
    result = generate(config(llm), req)
    briefs = {b["id"]: b for t in tasks(llm, "write_module") for b in t["lessons"]}
    by_id = {x.id: x for x in lessons(result)}
    assert set(briefs) == set(by_id)
    weeks = {i: w.week for w in result.schedule for i in w.lesson_ids}
    assert all(b["week"] == weeks[i] for i, b in briefs.items())
    practice = [b for b in briefs.values() if b.get("place", "").startswith("practice 2 of")]
    assert practice and all("on Write SELECT queries" in b["place"] or "on Join two tables" in b["place"]
                            for b in practice)
    assert all(b["covers"] for b in briefs.values() if b["kind"] in ("assessment", "review"))
    projects = [b for b in briefs.values() if b["kind"] == "project"]
    assert projects and all(b["milestone"].startswith("step ") and b["combines"] for b in projects)


# --- long courses and call counts ------------------------------------------------------------------


def test_a_year_at_20_hours_takes_at_most_60_calls(llm: LLMServer) -> None:
    """52 weeks x 20 h: the design is split (module list, then each module) and the course is delivered in
    at most 60 calls, no reply cut off at max_tokens."""
    req = request(weeks=52, hours=20)
    generate(config(llm, concurrency=8), req)
    assert llm.requests <= 60
    assert llm.truncated == 0


def test_a_year_at_40_hours_is_delivered(llm: LLMServer) -> None:
    """52 weeks x 40 h (the outline that was cut at 16,384 tokens) is delivered whole."""
    req = request(weeks=52, hours=40, objectives=["Write SELECT queries"])
    result = generate(config(llm, concurrency=8), req)
    assert len(lessons(result)) >= design_limits(req).min_lessons
    assert llm.truncated == 0 and result.usage.model_calls == llm.requests


def test_a_long_course_designed_in_too_few_modules_is_still_delivered(llm: LLMServer) -> None:
    """A model that lists 2 modules for a year at 40 h (over 1,000 lessons): the largest modules are split
    ("continued") until each can be designed and written in one reply; delivered, nothing cut off."""
    original = good_reply

    def two_modules(task: dict[str, Any]) -> dict[str, Any]:
        reply = original(task)
        if task.get("task") == "design_modules":
            reply["modules"] = reply["modules"][:2]
        return reply

    llm.design_hook = two_modules
    result = generate(config(llm, concurrency=8), request(weeks=52, hours=40))
    assert any(m.title.endswith("(continued)") for m in result.modules)
    assert all(len(m.lessons) <= 60 for m in result.modules) and llm.truncated == 0


# --- budgets ----------------------------------------------------------------------------------------


def test_the_call_cap_fails_the_job_naming_the_variable(llm: LLMServer) -> None:
    """Past OPENAI_MAX_CALLS_PER_JOB the job fails permanently, saying so, and makes no further call."""
    with pytest.raises(BudgetExceeded) as info:
        generate(config(llm, max_calls_per_job=3), request(weeks=12, hours=5))
    assert "OPENAI_MAX_CALLS_PER_JOB" in str(info.value) and isinstance(info.value, PermanentJobError)
    assert llm.requests == 3


def test_the_token_cap_fails_the_job_naming_the_variable(llm: LLMServer) -> None:
    """Past OPENAI_MAX_TOKENS_PER_JOB (provider-reported tokens) the job fails permanently, saying so."""
    with pytest.raises(BudgetExceeded) as info:
        generate(config(llm, max_tokens_per_job=2000), request(weeks=12, hours=5))
    assert "OPENAI_MAX_TOKENS_PER_JOB" in str(info.value)
    assert llm.requests < 5


def test_the_timeout_bounds_the_whole_call_not_one_read(llm: LLMServer) -> None:
    """A reply dripping 20 bytes/s (minutes for the whole body) is cut at OPENAI_TIMEOUT: transient, 'timed out'."""
    llm.default = "drip"
    started = time.monotonic()
    with pytest.raises(TransientJobError) as info:
        generate(config(llm, request_timeout_s=0.5, call_retries=0), request())
    assert "timed out" in str(info.value)
    assert time.monotonic() - started < 30  # the body alone would take minutes


def test_a_job_stops_asking_once_the_quarter_rule_cannot_hold(llm: LLMServer) -> None:
    """Writing replies that are always malformed: the job fails once more than 25 % fell back, without
    asking for the remaining modules."""
    req = request(weeks=12, hours=5)
    llm.queue("good", *["good"] * 20)  # the design calls
    llm.module_quirks = {n: "bad_schema" for n in range(1, 40)}
    with pytest.raises(PermanentJobError) as info:
        generate(config(llm, concurrency=1), req)
    assert "more than 25%" in str(info.value)
    written = {t["module"] for t in tasks(llm, "write_module")}
    modules = len(tasks(llm, "design_module"))
    assert len(written) < modules


# --- any request --------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=valid_requests())
def test_every_valid_request_gives_a_valid_course_via_the_model(server: LLMServer, req: CurriculumRequest) -> None:
    """For any valid request the model path delivers a course that keeps every invariant."""
    server.reset()
    generate(config(server, concurrency=8), req)


@pytest.mark.parametrize("index", range(len(QUALITY_REQUESTS)))
def test_the_quality_suite_requests_via_the_model(llm: LLMServer, index: int) -> None:
    """Each request of the offline quality suite, via the model path, is delivered with no fallback."""
    req = parse_request(QUALITY_REQUESTS[index])
    result = generate(config(llm, concurrency=8), req)
    assert not any(x.fallback for x in lessons(result))
