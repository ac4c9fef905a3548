"""The openai generator against a real local chat-completions server (tests/llm_server.py)."""

from __future__ import annotations

import email.utils
import itertools
import json
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs.cache import Cache
from jobs.coverage import untraceable_claims
from jobs.generators import GeneratorConfig, build_generator
from jobs.generators.chat import ChatClient, ModelRefused, ReplyTruncated
from jobs.generators.outline_check import TRACE_SHARE
from jobs.generators.provider_errors import retry_after_s
from jobs.generators.provider_memo import ProviderMemo
from jobs.generators.replies import lesson_schema
from jobs.invariants import check_invariants
from jobs.models import Curriculum, CurriculumRequest, Lesson, parse_request
from jobs.planner import plan
from tests.conftest import clean_env, failure, run_cli
from tests.llm_server import LLMServer, lesson_reply, outline_reply
from tests.strategies import valid_requests
from tests.test_curriculum_quality import REQUESTS as QUALITY_REQUESTS
from worker.errors import PermanentJobError, TransientJobError

API_KEY = "sk-test-SECRET-0123456789abcdef"
LESSON_TASK = {"lesson_id": "m1-l1", "lesson_title": "Ownership", "level": "beginner", "kind": "core",
               "must_teach": []}
_models = itertools.count()


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
        # A model name per config: what a provider accepts is remembered per process and model.
        "model": f"test-model-{next(_models)}",
        "concurrency": 4,
        "request_timeout_s": 5.0,
        "max_malformed_retries": 2,
        "max_tokens": 1000,
        "retry_base_s": 0.01,
        "retry_max_wait_s": 2.0,
    }
    values.update(overrides)
    return GeneratorConfig(**values)  # type: ignore[arg-type]


def request_with_lessons(count: int, **fields: Any) -> CurriculumRequest:
    """A request whose plan has exactly ``count`` lessons."""
    for weeks in range(1, 53):
        for hours in range(1, 41):
            req = parse_request({"topic": "Rust ownership", "duration_weeks": weeks, "hours_per_week": hours,
                                 **fields})
            if len(plan(req).lessons) == count:
                return req
    raise AssertionError(f"no request yields {count} lessons")


def generate(cfg: GeneratorConfig, req: CurriculumRequest) -> Curriculum:
    result = build_generator(cfg).generate(req, lambda *a: None)
    assert_quality(result, req)
    return result


def lessons(result: Curriculum) -> list[Lesson]:
    return [lesson for module in result.modules for lesson in module.lessons]


def assert_quality(result: Curriculum, req: CurriculumRequest) -> None:
    """The contract's invariants and the quality properties every delivered curriculum must have."""
    check_invariants(result, req)  # schedule, budget, kinds and shares, unique titles, coverage claims
    all_lessons = lessons(result)
    assert len({x.summary for x in all_lessons}) == len(all_lessons)
    assert untraceable_claims(result, TRACE_SHARE) == []
    requested = [o for o in dict.fromkeys(req.objectives) if o.strip()]
    taught = [o for o in requested if any(o in x.objectives for x in all_lessons)]
    assert taught + result.uncovered_objectives == requested
    assert [x.id for x in all_lessons if x.fallback] == [] or any("fallback" in w for w in result.warnings)


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def tasks(llm: LLMServer) -> list[dict[str, Any]]:
    return [json.loads(b["messages"][1]["content"]) for b in llm.bodies]


# --- what the service asks for ---------------------------------------------------------------------


def test_good_replies_give_a_valid_curriculum(llm: LLMServer) -> None:
    """Good model replies yield a curriculum that keeps every contract invariant and names the model."""
    req = parse_request(
        {"topic": "Rust ownership", "objectives": ["borrow checker rules"], "duration_weeks": 2}
    )
    events: list[tuple[str, int, int]] = []
    cfg = config(llm)
    result = build_generator(cfg).generate(req, lambda s, d, t: events.append((s, d, t)))
    check_invariants(result, req)
    lessons = len(plan(req).lessons)
    assert llm.requests == 1 + lessons
    assert result.generator.name == "openai" and result.generator.model == cfg.model
    assert result.modules[0].lessons[0].summary.startswith("About Rust ownership")
    assert events[-1] == ("lessons", lessons, lessons)
    assert [d for s, d, _ in events if s == "lessons"] == list(range(lessons + 1))
    assert all(a == f"Bearer {API_KEY}" for a in llm.authorizations)


def test_requests_carry_a_strict_schema_budget_seed_and_temperature(llm: LLMServer) -> None:
    """Every request asks for strict json_schema output (name says outline/lesson) with max_tokens and seed."""
    generate(config(llm, seed=7, temperature=0.3, max_tokens=900), request_with_lessons(3))
    names = []
    for body in llm.bodies:
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        names.append(fmt["json_schema"]["name"])
        assert (body["max_tokens"], body["seed"], body["temperature"]) == (900, 7, 0.3)
    assert "outline" in names[0] and all("lesson" in n for n in names[1:])


def test_the_schema_alone_describes_an_accepted_reply(llm: LLMServer) -> None:
    """The sent schemas are strict-mode valid, fix counts, and accept the replies the service accepts."""
    req = request_with_lessons(5, objectives=["Explain borrowing", "Use lifetimes"])
    generate(config(llm), req)
    outline_body, lesson_body = llm.bodies[0], llm.bodies[1]
    outline_task, lesson_task = tasks(llm)[0], tasks(llm)[1]
    for body, reply in ((outline_body, outline_reply(outline_task, "good")), (lesson_body, lesson_reply(lesson_task))):
        schema = body["response_format"]["json_schema"]["schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        assert_strict(schema)
        reply.pop("minutes", None)
        for module in reply.get("modules", {}).values():
            module.pop("extra_field_models_like_to_add")
        jsonschema.validate(reply, schema)
    modules = outline_body["response_format"]["json_schema"]["schema"]["properties"]["modules"]["properties"]
    counts = [(m["properties"]["lessons"]["minItems"], m["properties"]["lessons"]["maxItems"])
              for m in modules.values()]
    assert counts == [(len(m.lessons), len(m.lessons)) for m in plan(req).modules]
    claims = next(iter(modules.values()))["properties"]["lessons"]["items"]["properties"]["objectives"]
    assert claims["items"]["enum"] == ["Explain borrowing", "Use lifetimes"]


def assert_strict(schema: dict[str, Any]) -> None:
    if schema.get("type") == "object":
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(schema["properties"])
        for sub in schema["properties"].values():
            assert_strict(sub)
    if schema.get("type") == "array":
        assert_strict(schema["items"])


def test_lesson_prompts_carry_kind_objectives_and_neighbours(llm: LLMServer) -> None:
    """Each lesson task names its kind, the objectives it must teach, its module's objectives and its neighbours."""
    req = request_with_lessons(4, objectives=["Explain borrowing"])
    result = generate(config(llm, concurrency=1), req)
    titles = [lesson.title for module in result.modules for lesson in module.lessons]
    lessons = sorted((t for t in tasks(llm) if t["task"] == "lesson"), key=lambda t: titles.index(t["lesson_title"]))
    assert [t["lesson_title"] for t in lessons] == titles
    for i, task in enumerate(lessons):
        assert task["module_objectives"]
        assert task["previous_lesson"] == (titles[i - 1] if i else None)
        assert task["next_lesson"] == (titles[i + 1] if i + 1 < len(titles) else None)
    slots = {ls.id: ls for ls in plan(req).lessons}
    for task in lessons:
        slot = slots[task["lesson_id"]]
        assert (task["kind"], task["must_teach"]) == (slot.kind, list(slot.objectives))
        assert task["module_teaches"] == list(plan(req).modules[slot.module_index].objectives)
        assert (task["project_step"] is None) == (slot.kind != "project")
    assert sum("Explain borrowing" in t["must_teach"] for t in lessons) >= 2  # taught, then practised


# --- tolerant reading -------------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["fenced", "prose", "wrapped"])
def test_fenced_prose_and_wrapped_replies_are_read_without_reasking(llm: LLMServer, behaviour: str) -> None:
    """Replies in a markdown fence, with prose around them, or under one wrapping key are used as they are."""
    llm.default = behaviour
    req = request_with_lessons(3)
    result = generate(config(llm), req)
    assert llm.requests == 1 + 3
    assert all(lesson.summary.startswith("About") for m in result.modules for lesson in m.lessons)


def test_malformed_json_is_reasked_then_succeeds(llm: LLMServer) -> None:
    """A malformed outline reply is re-asked (with the problem named) and the job then succeeds."""
    llm.queue("malformed_json", "bad_schema")
    generate(config(llm), request_with_lessons(3))
    assert llm.requests == 3 + 3
    reask = llm.bodies[1]["messages"]
    assert reask[-1]["role"] == "user" and "invalid JSON" in reask[-1]["content"]


def test_wrong_outline_shape_counts_as_malformed(llm: LLMServer) -> None:
    """An outline with the wrong number of lessons is re-asked; planner numbers still hold."""
    llm.queue("wrong_shape")
    generate(config(llm), request_with_lessons(3))
    assert "lesson counts" in llm.bodies[1]["messages"][-1]["content"]


def test_duplicate_lesson_titles_are_reasked(llm: LLMServer) -> None:
    """An outline whose lessons share a title is re-asked; the delivered titles are unique."""
    llm.queue("duplicate_titles")
    result = generate(config(llm), request_with_lessons(4))
    assert "unique" in llm.bodies[1]["messages"][-1]["content"]
    titles = [lesson.title for m in result.modules for lesson in m.lessons]
    assert len(set(titles)) == len(titles)


def test_always_malformed_outline_fails_permanently_and_clearly(llm: LLMServer) -> None:
    """An outline that stays malformed fails with PermanentJobError naming the problem after 1+retries calls."""
    llm.default = "malformed_json"
    with pytest.raises(PermanentJobError) as info:
        generate(config(llm, max_malformed_retries=2), request_with_lessons(3))
    assert not isinstance(info.value, TransientJobError)
    assert "outline" in str(info.value) and "malformed after 3 attempt(s)" in str(info.value)
    assert "invalid JSON" in str(info.value)
    assert llm.requests == 3


# --- truncation and refusals ------------------------------------------------------------------------


def test_truncated_reply_is_asked_again_with_a_larger_budget(llm: LLMServer) -> None:
    """finish_reason length: the same question comes back with more max_tokens, and the course is delivered."""
    llm.min_max_tokens = 1500
    generate(config(llm, max_tokens=1000), request_with_lessons(3))
    budgets = [b["max_tokens"] for b in llm.bodies]
    assert budgets[:2] == [1000, 2000]
    assert llm.requests == 2 * (1 + 3)


def test_a_long_course_outline_starts_with_a_budget_that_fits(llm: LLMServer) -> None:
    """The outline of a course with many lessons is asked with more max_tokens than a lesson, within the cap."""
    req = request_with_lessons(40)
    generate(config(llm, max_tokens=1000), req)
    outline, lessons_asked = llm.bodies[0]["max_tokens"], {b["max_tokens"] for b in llm.bodies[1:]}
    assert 1000 < outline <= 4000 and lessons_asked == {1000}
    assert llm.requests == 1 + 40


def test_persistent_truncation_fails_saying_truncated(llm: LLMServer) -> None:
    """A reply cut off even at the largest budget fails permanently with 'truncated' in the error."""
    llm.default = "length"
    with pytest.raises(ReplyTruncated) as info:
        generate(config(llm, max_tokens=1000), request_with_lessons(3))
    assert "truncated" in str(info.value)
    assert [b["max_tokens"] for b in llm.bodies] == [1000, 2000, 4000]


@pytest.mark.parametrize("behaviour", ["refusal", "content_filter"])
def test_a_refusal_is_permanent_and_says_refused(llm: LLMServer, behaviour: str) -> None:
    """A refusal (message.refusal or finish_reason content_filter) fails permanently, saying the model refused."""
    llm.queue("good", behaviour)
    with pytest.raises(ModelRefused) as info:
        generate(config(llm, concurrency=1), request_with_lessons(3))
    assert isinstance(info.value, PermanentJobError) and "refused" in str(info.value)
    assert "empty" not in str(info.value)


# --- rate limits and server errors ----------------------------------------------------------------


@pytest.mark.parametrize("header", [{"Retry-After": "1"}, {"retry-after-ms": "400"}])
def test_429_waits_out_retry_after(llm: LLMServer, header: dict[str, str]) -> None:
    """After a 429 with Retry-After, no request reaches the server before the wait expires; the course is delivered."""
    llm.retry_headers = header
    llm.queue("429", "good", "429")  # the outline, then the first lesson
    generate(config(llm, concurrency=1), request_with_lessons(3))
    assert len(llm.waits) == 2 and all(asked > 0 for _, asked in llm.waits)
    assert llm.early == []
    assert llm.requests == 2 + 1 + 3


@pytest.mark.parametrize("behaviour", ["429", "500", "503"])
def test_rate_limits_and_server_errors_are_retried_per_call(llm: LLMServer, behaviour: str) -> None:
    """429 and 5xx on a call are retried by that call, with backoff, and the course is delivered."""
    llm.queue(behaviour, behaviour, "good", behaviour)
    generate(config(llm, concurrency=1, call_retries=3), request_with_lessons(3))
    assert llm.requests == 3 + 2 + 2  # outline: 2 failures; first lesson: 1 failure; 2 more lessons


@pytest.mark.parametrize("behaviour", ["429", "500"])
def test_spent_call_retries_make_the_job_transient(llm: LLMServer, behaviour: str) -> None:
    """When per-call retries are spent, 429 and 5xx become TransientJobError with our own message."""
    llm.default = behaviour
    with pytest.raises(TransientJobError) as info:
        generate(config(llm, call_retries=2), request_with_lessons(3))
    assert f"HTTP {behaviour}" in str(info.value)
    assert llm.requests == 3  # one call and two retries; the SDK itself does not retry


def test_a_retry_after_beyond_the_cap_is_left_to_the_job_layer(llm: LLMServer) -> None:
    """A 429 asking for longer than retry_max_wait_s is not waited out inside the job: transient at once."""
    llm.retry_headers = {"Retry-After": "120"}
    llm.default = "429"
    with pytest.raises(TransientJobError):
        generate(config(llm, retry_max_wait_s=5.0), request_with_lessons(3))
    assert llm.requests == 1


def test_retry_after_is_read_in_every_form_providers_send() -> None:
    """retry-after-ms wins over Retry-After; seconds and HTTP dates are read; junk and absence give None."""
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 3, usegmt=True)
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}, now) == 0.25
    assert retry_after_s({"retry-after": "2.5"}, now) == 2.5
    assert retry_after_s({"retry-after": date}, now) == 3
    assert retry_after_s({"retry-after": "soon"}, now) is None
    assert retry_after_s({}, now) is None
    assert retry_after_s({"retry-after": "-4"}, now) == 0


def test_timeout_is_transient(llm: LLMServer) -> None:
    """A reply slower than request_timeout_s becomes TransientJobError."""
    llm.default = "slow"
    with pytest.raises(TransientJobError) as info:
        generate(config(llm, request_timeout_s=0.2), request_with_lessons(3))
    assert "timed out" in str(info.value)


# --- structured-output fallbacks --------------------------------------------------------------------


def test_a_provider_without_json_schema_gets_json_object_and_it_is_remembered(llm: LLMServer) -> None:
    """json_schema rejected -> json_object; a second job with the same provider and model asks json_object at once."""
    llm.rejected_formats = {"json_schema"}
    cfg = config(llm)
    generate(cfg, request_with_lessons(3))
    assert llm.formats()[:2] == ["json_schema", "json_object"]
    assert llm.formats().count("json_schema") == 1
    llm.bodies.clear()
    generate(cfg, request_with_lessons(3))
    assert set(llm.formats()) == {"json_object"}


def test_the_format_learnt_survives_a_fresh_process_through_the_cache(llm: LLMServer, conn: redis.Redis) -> None:
    """A work horse that starts with an empty memory reads the provider's format from the llm cache."""
    llm.rejected_formats = {"json_schema"}
    cfg = config(llm)
    cache = Cache(conn, prefix=f"test-formats-{uuid.uuid4().hex}")
    question = [{"role": "user", "content": json.dumps({"task": "lesson", **LESSON_TASK})}]
    for _ in range(2):  # two "processes", each with its own memory
        with ChatClient(cfg, cache, memo=ProviderMemo()) as chat:
            chat.ask(question, "curriculum_lesson", lesson_schema(), "lesson m1-l1")
    assert llm.formats() == ["json_schema", "json_object", "json_object"]


def test_a_model_that_refuses_max_tokens_and_temperature_gets_what_it_takes(llm: LLMServer) -> None:
    """HTTP 400 naming max_tokens or temperature: the budget becomes max_completion_tokens, temperature is left out."""
    llm.rejected_params = {"max_tokens", "temperature"}
    generate(config(llm, max_tokens=900), request_with_lessons(3))
    assert llm.requests == 2 + 1 + 3
    last = llm.bodies[-1]
    assert last["max_completion_tokens"] == 900 and "max_tokens" not in last and "temperature" not in last
    assert last["seed"] == 42 and last["response_format"]["type"] == "json_schema"


def test_a_provider_without_structured_output_gets_plain_instructions(llm: LLMServer) -> None:
    """A provider that rejects json_schema and json_object is asked without response_format, and delivers."""
    llm.rejected_formats = {"json_schema", "json_object"}
    generate(config(llm), request_with_lessons(3))
    assert llm.formats()[:3] == ["json_schema", "json_object", "none"]
    assert llm.formats()[3:] == ["none"] * 3


# --- lessons that stay malformed --------------------------------------------------------------------


def test_one_lesson_always_malformed_is_filled_and_the_course_delivered(llm: LLMServer) -> None:
    """A lesson whose replies stay malformed gets template text, fallback: true and a warning."""
    req = request_with_lessons(8, objectives=["Explain borrowing"])
    bad = plan(req).lessons[3].id
    llm.bad_lessons = {bad}
    result = generate(config(llm), req)
    by_id = {lesson.id: lesson for lesson in lessons(result)}
    assert by_id[bad].fallback and not by_id[bad].summary.startswith("About")
    assert by_id[bad].source == "template"
    assert all(not x.fallback and x.summary.startswith("About") for i, x in by_id.items() if i != bad)
    assert all(x.source == "model" for i, x in by_id.items() if i != bad)
    assert any("fallback" in w for w in result.warnings)
    assert sum(1 for t in tasks(llm) if t.get("lesson_id") == bad) == 3


def test_a_lesson_that_never_names_its_objective_falls_back_to_text_that_does(llm: LLMServer) -> None:
    """A lesson whose title and summary never name its objective is re-asked, then filled from the template."""
    req = request_with_lessons(8, objectives=["Explain borrowing", "Use lifetimes"])
    vague = next(ls for ls in plan(req).lessons if ls.objectives)
    llm.vague_lessons = {vague.id}
    result = generate(config(llm), req)
    lesson = next(x for x in lessons(result) if x.id == vague.id)
    assert lesson.fallback and lesson.objectives == list(vague.objectives)
    reasks = [b["messages"][-1]["content"] for b in llm.bodies if len(b["messages"]) > 2]
    assert reasks and all("Quote verbatim" in r and vague.objectives[0] in r for r in reasks)


def test_paraphrased_objectives_in_the_outline_are_reasked(llm: LLMServer) -> None:
    """Outline objectives not copied verbatim are re-asked, naming what each lesson must list."""
    llm.queue("paraphrase")
    req = request_with_lessons(8, objectives=["Explain borrowing"])
    generate(config(llm), req)
    reask = llm.bodies[1]["messages"][-1]["content"]
    assert "verbatim" in reask and "Explain borrowing" in reask


def test_an_outline_that_keeps_paraphrasing_still_gives_honest_coverage(llm: LLMServer) -> None:
    """When the outline never lists objectives verbatim, claims stay the plan's and every claim is traceable."""
    llm.queue("paraphrase", "paraphrase", "paraphrase")
    req = request_with_lessons(8, objectives=["Explain borrowing", "Use lifetimes"])
    result = generate(config(llm), req)
    assert [e.lesson_ids for e in result.objectives_coverage] == [
        [ls.id for ls in plan(req).lessons if o in ls.objectives] for o in req.objectives
    ]


def test_fallback_text_in_another_language_is_said_to_be_english(llm: LLMServer) -> None:
    """A non-English course with a fallback lesson warns that the template text is English."""
    req = request_with_lessons(8, language="es")
    llm.bad_lessons = {plan(req).lessons[0].id}
    result = generate(config(llm), req)
    assert any("English" in w for w in result.warnings)


def test_more_than_a_quarter_malformed_fails_the_job(llm: LLMServer) -> None:
    """When more than a quarter of the lessons stay malformed the job fails permanently."""
    req = request_with_lessons(8)
    llm.bad_lessons = {ls.id for ls in plan(req).lessons[:3]}
    with pytest.raises(PermanentJobError) as info:
        generate(config(llm), req)
    assert "3 of 8 lessons" in str(info.value)


# --- secrets and concurrency --------------------------------------------------------------------------


def test_auth_failure_is_permanent_and_never_shows_the_key(llm: LLMServer) -> None:
    """HTTP 401 is permanent; the API key (echoed by the server) is absent from message and traceback."""
    llm.default = "401"
    with pytest.raises(PermanentJobError) as info:
        generate(config(llm), request_with_lessons(3))
    assert "HTTP 401" in str(info.value)
    assert API_KEY not in full_text(info.value)
    assert "SECRET" not in full_text(info.value)
    assert API_KEY not in repr(config(llm))


def test_errors_do_not_show_the_key_for_any_failure(llm: LLMServer) -> None:
    """No failure mode (429, 500, malformed, timeout, refusal) leaks the API key into the exception chain."""
    for behaviour in ("429", "500", "malformed_json", "slow", "refusal"):
        llm.reset()
        llm.default = behaviour
        with pytest.raises((TransientJobError, PermanentJobError)) as info:
            generate(config(llm, request_timeout_s=0.2, max_malformed_retries=0, call_retries=0),
                     request_with_lessons(3))
        assert API_KEY not in full_text(info.value), behaviour


@pytest.mark.parametrize("concurrency", [4, 1])
def test_lesson_calls_run_at_most_concurrency_at_once(llm: LLMServer, concurrency: int) -> None:
    """With 12 lessons the server sees exactly `concurrency` requests in flight at its peak."""
    llm.gate = concurrency
    generate(config(llm, concurrency=concurrency), request_with_lessons(12))
    assert llm.requests == 13
    assert llm.max_in_flight == concurrency


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=valid_requests())
def test_every_valid_request_gives_a_valid_curriculum_via_openai(
    server: LLMServer, req: CurriculumRequest
) -> None:
    """For any valid request, the openai generator's result keeps every contract invariant."""
    server.reset()
    generate(config(server, concurrency=8), req)
    assert server.requests == 1 + len(plan(req).lessons)


@pytest.mark.parametrize("index", range(len(QUALITY_REQUESTS)))
def test_the_quality_suite_requests_meet_every_property_via_openai(llm: LLMServer, index: int) -> None:
    """Each request of the offline quality suite, generated by the model path, meets the quality properties."""
    req = parse_request(QUALITY_REQUESTS[index])
    result = generate(config(llm, concurrency=8), req)
    assert not any(x.fallback for x in lessons(result))
    assert set(result.warnings) == set(plan(req).warnings)


# --- through a real worker ------------------------------------------------------------------------


def run_openai_burst(llm: LLMServer, redis_url: str, request: dict[str, Any]) -> tuple[Job, str]:
    job = Queue("curriculum_generation", connection=redis.Redis.from_url(redis_url), serializer=JSONSerializer
                ).enqueue("jobs.curriculum.generate_curriculum", request)
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=llm.base_url,
                    CURRICULUM_MODEL=f"worker-model-{next(_models)}", OPENAI_MAX_TOKENS="1000")
    result = run_cli("run", "--burst", env=env, timeout=90)
    assert result.returncode == 0, result.stderr
    return Job.fetch(job.id, connection=job.connection, serializer=JSONSerializer), result.stderr


def test_a_worker_delivers_despite_every_quirk_at_once(llm: LLMServer, redis_url: str) -> None:
    """A real worker job: no json_schema, a 429 with Retry-After, a fenced reply, a lesson always malformed."""
    request = {"topic": "Rust ownership", "duration_weeks": 2, "hours_per_week": 4,
               "objectives": ["Explain borrowing"]}
    bad = plan(parse_request(request)).lessons[2].id
    llm.rejected_formats, llm.retry_headers, llm.bad_lessons = {"json_schema"}, {"Retry-After": "1"}, {bad}
    llm.queue("good", "429", "fenced")
    job, logs = run_openai_burst(llm, redis_url, request)
    assert job.get_status() == "finished", failure(job)
    result = Curriculum.model_validate(job.return_value())
    assert_quality(result, parse_request(request))
    assert [x.id for x in lessons(result) if x.fallback] == [bad]
    assert llm.early == [] and len(llm.waits) == 1
    assert "Rust ownership" not in logs and "Explain borrowing" not in logs and API_KEY not in logs


def test_a_worker_fails_a_refused_job_once_saying_refused(llm: LLMServer, redis_url: str) -> None:
    """A refusal fails the job permanently (no job retry) with a reason that says the model refused."""
    llm.default = "refusal"
    job, _ = run_openai_burst(llm, redis_url, {"topic": "Rust ownership"})
    assert job.get_status() == "failed"
    assert "refused" in failure(job) and llm.requests == 1
