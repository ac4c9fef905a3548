"""The openai generator against a real local chat-completions server (tests/llm_server.py)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from jobs.generators import GeneratorConfig, build_generator
from jobs.invariants import check_invariants
from jobs.models import CurriculumRequest, parse_request
from jobs.planner import plan
from tests.llm_server import LLMServer
from tests.strategies import valid_requests
from worker.errors import PermanentJobError, TransientJobError

API_KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer(slow_s=5.0) as srv:
        yield srv


@pytest.fixture
def llm(server: LLMServer) -> LLMServer:
    server.reset()
    return server


def config(server: LLMServer, **overrides: object) -> GeneratorConfig:
    values: dict[str, object] = {
        "name": "openai",
        "api_key": API_KEY,
        "base_url": server.base_url,
        "model": "test-model",
        "concurrency": 4,
        "request_timeout_s": 5.0,
        "max_malformed_retries": 2,
    }
    values.update(overrides)
    return GeneratorConfig(**values)  # type: ignore[arg-type]


def request_with_lessons(count: int) -> CurriculumRequest:
    """A request whose plan has exactly ``count`` lessons (beginner, 1 week)."""
    for weeks in range(1, 53):
        for hours in range(1, 41):
            req = parse_request({"topic": "Rust ownership", "duration_weeks": weeks, "hours_per_week": hours})
            if len(plan(req).lessons) == count:
                return req
    raise AssertionError(f"no request yields {count} lessons")


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_good_replies_give_a_valid_curriculum(llm: LLMServer) -> None:
    """Good model replies yield a curriculum that keeps every contract invariant and names the model."""
    req = parse_request(
        {"topic": "Rust ownership", "objectives": ["borrow checker rules"], "duration_weeks": 2}
    )
    events: list[tuple[str, int, int]] = []
    result = build_generator(config(llm)).generate(req, lambda s, d, t: events.append((s, d, t)))
    check_invariants(result, req)
    lessons = len(plan(req).lessons)
    assert llm.requests == 1 + lessons
    assert result.generator.name == "openai" and result.generator.model == "test-model"
    assert result.modules[0].lessons[0].summary.startswith("About Rust ownership")
    assert events[-1] == ("lessons", lessons, lessons)
    assert [d for s, d, _ in events if s == "lessons"] == list(range(lessons + 1))
    assert all(a == f"Bearer {API_KEY}" for a in llm.authorizations)
    assert all(b["response_format"] == {"type": "json_object"} for b in llm.bodies)


def test_malformed_json_is_reasked_then_succeeds(llm: LLMServer) -> None:
    """A malformed outline reply is re-asked (with the problem named) and the job then succeeds."""
    llm.queue("malformed_json", "bad_schema")
    req = request_with_lessons(3)
    result = build_generator(config(llm)).generate(req, lambda *a: None)
    check_invariants(result, req)
    assert llm.requests == 3 + 3
    reask = llm.bodies[1]["messages"]
    assert reask[-1]["role"] == "user" and "invalid JSON" in reask[-1]["content"]


def test_wrong_outline_shape_counts_as_malformed(llm: LLMServer) -> None:
    """An outline with the wrong number of lessons is re-asked; planner numbers still hold."""
    llm.queue("wrong_shape")
    req = request_with_lessons(3)
    result = build_generator(config(llm)).generate(req, lambda *a: None)
    check_invariants(result, req)
    assert "lesson counts" in llm.bodies[1]["messages"][-1]["content"]


def test_always_malformed_fails_permanently_and_clearly(llm: LLMServer) -> None:
    """Replies that stay malformed fail with PermanentJobError naming the problem after 1+retries calls."""
    llm.default = "malformed_json"
    with pytest.raises(PermanentJobError) as info:
        build_generator(config(llm, max_malformed_retries=2)).generate(
            request_with_lessons(3), lambda *a: None
        )
    assert not isinstance(info.value, TransientJobError)
    assert "outline" in str(info.value) and "malformed after 3 attempt(s)" in str(info.value)
    assert "invalid JSON" in str(info.value)
    assert llm.requests == 3


@pytest.mark.parametrize("behaviour", ["429", "500"])
def test_rate_limit_and_server_errors_are_transient(llm: LLMServer, behaviour: str) -> None:
    """HTTP 429 and 5xx become TransientJobError with our own message; the SDK does not retry."""
    llm.default = behaviour
    with pytest.raises(TransientJobError) as info:
        build_generator(config(llm)).generate(request_with_lessons(3), lambda *a: None)
    assert f"HTTP {behaviour}" in str(info.value)
    assert llm.requests == 1  # max_retries=0: retrying is the job layer's business


def test_lesson_failure_mid_run_is_transient(llm: LLMServer) -> None:
    """A 500 on one lesson call fails the whole generation as transient."""
    llm.queue("good", "good", "500")
    with pytest.raises(TransientJobError):
        build_generator(config(llm, concurrency=1)).generate(request_with_lessons(4), lambda *a: None)


def test_timeout_is_transient(llm: LLMServer) -> None:
    """A reply slower than request_timeout_s becomes TransientJobError."""
    llm.default = "slow"
    with pytest.raises(TransientJobError) as info:
        build_generator(config(llm, request_timeout_s=0.2)).generate(request_with_lessons(3), lambda *a: None)
    assert "timed out" in str(info.value)


def test_auth_failure_is_permanent_and_never_shows_the_key(llm: LLMServer) -> None:
    """HTTP 401 is permanent; the API key (echoed by the server) is absent from message and traceback."""
    llm.default = "401"
    with pytest.raises(PermanentJobError) as info:
        build_generator(config(llm)).generate(request_with_lessons(3), lambda *a: None)
    assert "HTTP 401" in str(info.value)
    assert API_KEY not in full_text(info.value)
    assert "SECRET" not in full_text(info.value)
    assert API_KEY not in repr(config(llm))


def test_errors_do_not_show_the_key_for_any_failure(llm: LLMServer) -> None:
    """No failure mode (429, 500, malformed, timeout) leaks the API key into the exception chain."""
    for behaviour in ("429", "500", "malformed_json", "slow"):
        llm.reset()
        llm.default = behaviour
        with pytest.raises((TransientJobError, PermanentJobError)) as info:
            cfg = config(llm, request_timeout_s=0.2, max_malformed_retries=0)
            build_generator(cfg).generate(request_with_lessons(3), lambda *a: None)
        assert API_KEY not in full_text(info.value), behaviour


@pytest.mark.parametrize("concurrency", [4, 1])
def test_lesson_calls_run_at_most_concurrency_at_once(llm: LLMServer, concurrency: int) -> None:
    """With 12 lessons the server sees exactly `concurrency` requests in flight at its peak."""
    llm.gate = concurrency
    req = request_with_lessons(12)
    result = build_generator(config(llm, concurrency=concurrency)).generate(req, lambda *a: None)
    check_invariants(result, req)
    assert llm.requests == 13
    assert llm.max_in_flight == concurrency


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=valid_requests())
def test_every_valid_request_gives_a_valid_curriculum_via_openai(
    server: LLMServer, req: CurriculumRequest
) -> None:
    """For any valid request, the openai generator's result keeps every contract invariant."""
    server.reset()
    result = build_generator(config(server, concurrency=8)).generate(req, lambda *a: None)
    check_invariants(result, req)
    assert server.requests == 1 + len(plan(req).lessons)
