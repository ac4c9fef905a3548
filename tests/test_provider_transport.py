"""The provider transport (jobs/generators/chat.py) against the local model server: rate limits, server
errors, structured-output fallbacks, truncation, refusals, timeouts, secrets and concurrency."""

from __future__ import annotations

import email.utils
import json
import uuid
from collections.abc import Iterator

import pytest
import redis

from jobs.cache import Cache
from jobs.generators.chat import ChatClient, ModelRefused, ReplyTruncated
from jobs.generators.provider_memo import ProviderMemo
from jobs.generators.replies import module_lessons_schema
from jobs.ratelimit_headers import retry_after_s
from tests.llm_server import LLMServer
from tests.openai_support import API_KEY, config, full_text, generate, request
from worker.errors import PermanentJobError, TransientJobError

#: A short course: one design call, then one writing call (a single module).
CALLS = 2


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer(slow_s=5.0) as srv:
        yield srv


@pytest.fixture
def llm(server: LLMServer) -> LLMServer:
    server.reset()
    return server


def test_a_short_course_takes_a_design_and_a_writing_call(llm: LLMServer) -> None:
    """The courses below are one module: a design call and one writing call."""
    result = generate(config(llm), request())
    assert len(result.modules) == 1 and llm.requests == CALLS


# --- rate limits and server errors ----------------------------------------------------------------


@pytest.mark.parametrize("header", [{"Retry-After": "1"}, {"retry-after-ms": "400"}])
def test_429_waits_out_retry_after(llm: LLMServer, header: dict[str, str]) -> None:
    """After a 429 with Retry-After, no request reaches the server before the wait expires; delivered."""
    llm.retry_headers = header
    llm.queue("429", "good", "429")  # the design, then the writing call
    generate(config(llm, concurrency=1), request())
    assert len(llm.waits) == 2 and all(asked > 0 for _, asked in llm.waits)
    assert llm.early == []
    assert llm.requests == 2 + CALLS


@pytest.mark.parametrize("behaviour", ["429", "500", "503"])
def test_rate_limits_and_server_errors_are_retried_per_call(llm: LLMServer, behaviour: str) -> None:
    """429 and 5xx on a call are retried by that call, with backoff, and the course is delivered."""
    llm.queue(behaviour, behaviour, "good", behaviour)
    result = generate(config(llm, concurrency=1, call_retries=3), request())
    assert llm.requests == 3 + CALLS and result.usage.model_calls == llm.requests


@pytest.mark.parametrize("behaviour", ["429", "500"])
def test_spent_call_retries_make_the_job_transient(llm: LLMServer, behaviour: str) -> None:
    """When per-call retries are spent, 429 and 5xx become TransientJobError with our own message."""
    llm.default = behaviour
    with pytest.raises(TransientJobError) as info:
        generate(config(llm, call_retries=2), request())
    assert f"HTTP {behaviour}" in str(info.value)
    assert llm.requests == 3  # one call and two retries; the SDK itself does not retry


def test_a_retry_after_beyond_the_cap_is_left_to_the_job_layer(llm: LLMServer) -> None:
    """A 429 asking for longer than retry_max_wait_s is not waited out inside the job: transient at once."""
    llm.retry_headers = {"Retry-After": "120"}
    llm.default = "429"
    with pytest.raises(TransientJobError):
        generate(config(llm, retry_max_wait_s=5.0), request())
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


def test_a_slow_reply_times_out_as_transient(llm: LLMServer) -> None:
    """A reply slower than OPENAI_TIMEOUT becomes TransientJobError saying it timed out."""
    llm.default = "slow"
    with pytest.raises(TransientJobError) as info:
        generate(config(llm, request_timeout_s=0.2), request())
    assert "timed out" in str(info.value)


# --- structured-output fallbacks --------------------------------------------------------------------


def test_a_provider_without_json_schema_gets_json_object_and_it_is_remembered(llm: LLMServer) -> None:
    """json_schema rejected -> json_object; a second job with the same provider and model asks json_object at once."""
    llm.rejected_formats = {"json_schema"}
    cfg = config(llm)
    generate(cfg, request())
    assert llm.formats() == ["json_schema", "json_object", "json_object"]
    llm.bodies.clear()
    generate(cfg, request())
    assert set(llm.formats()) == {"json_object"}


def test_the_format_learnt_survives_a_fresh_process_through_the_cache(llm: LLMServer, conn: redis.Redis) -> None:
    """A work horse that starts with an empty memory reads the provider's format from the llm cache."""
    llm.rejected_formats = {"json_schema"}
    cfg = config(llm)
    cache = Cache(conn, prefix=f"test-formats-{uuid.uuid4().hex}")
    task = {"task": "write_module", "module": 1, "language": "en",
            "lessons": [{"id": "m1-l1", "title": "Ownership", "kind": "core", "week": 1}]}
    question = [{"role": "user", "content": json.dumps(task)}]
    for _ in range(2):  # two "processes", each with its own memory
        with ChatClient(cfg, cache, memo=ProviderMemo()) as chat:
            chat.ask(question, "module_lessons", module_lessons_schema(["m1-l1"]), "module 1")
    assert llm.formats() == ["json_schema", "json_object", "json_object"]


def test_a_model_that_refuses_max_tokens_and_temperature_gets_what_it_takes(llm: LLMServer) -> None:
    """HTTP 400 naming max_tokens or temperature: the budget becomes max_completion_tokens, temperature is left out."""
    llm.rejected_params = {"max_tokens", "temperature"}
    generate(config(llm), request())
    assert llm.requests == 2 + CALLS
    last = llm.bodies[-1]
    assert "max_completion_tokens" in last and "max_tokens" not in last and "temperature" not in last
    assert last["seed"] == 42 and last["response_format"]["type"] == "json_schema"


def test_a_provider_without_structured_output_gets_plain_instructions(llm: LLMServer) -> None:
    """A provider that rejects json_schema and json_object is asked without response_format, and delivers."""
    llm.rejected_formats = {"json_schema", "json_object"}
    generate(config(llm), request())
    assert llm.formats() == ["json_schema", "json_object", "none", "none"]


# --- truncation and refusals ------------------------------------------------------------------------


def test_a_truncated_reply_is_asked_again_with_a_larger_budget(llm: LLMServer) -> None:
    """finish_reason length: the same question comes back with more max_tokens, and the course is delivered."""
    llm.min_max_tokens = 3000  # above both calls' first budgets (sized for their replies), within the cap
    generate(config(llm, max_tokens=1000), request())
    budgets = [b["max_tokens"] for b in llm.bodies]
    assert budgets[0] < budgets[1] and budgets[1] >= 2000
    assert llm.truncated >= 1


def test_persistent_truncation_fails_saying_truncated(llm: LLMServer) -> None:
    """A reply cut off even at the largest budget fails permanently with 'truncated' in the error."""
    llm.default = "length"
    with pytest.raises(ReplyTruncated) as info:
        generate(config(llm, max_tokens=1000, max_malformed_retries=0), request())
    assert "truncated" in str(info.value)
    assert [b["max_tokens"] for b in llm.bodies][-1] == 4000


@pytest.mark.parametrize("behaviour", ["refusal", "content_filter"])
def test_a_refusal_is_permanent_and_says_refused(llm: LLMServer, behaviour: str) -> None:
    """A refusal (message.refusal or finish_reason content_filter) fails permanently, saying the model refused."""
    llm.queue("good", behaviour)
    with pytest.raises(ModelRefused) as info:
        generate(config(llm, concurrency=1), request())
    assert isinstance(info.value, PermanentJobError) and "refused" in str(info.value)


# --- secrets and concurrency --------------------------------------------------------------------------


def test_auth_failure_is_permanent_and_never_shows_the_key(llm: LLMServer) -> None:
    """HTTP 401 is permanent; the API key (echoed by the server) is absent from message and traceback."""
    llm.default = "401"
    with pytest.raises(PermanentJobError) as info:
        generate(config(llm), request())
    assert "HTTP 401" in str(info.value)
    assert API_KEY not in full_text(info.value) and "SECRET" not in full_text(info.value)
    assert API_KEY not in repr(config(llm))


def test_errors_do_not_show_the_key_for_any_failure(llm: LLMServer) -> None:
    """No failure mode (429, 500, malformed, timeout, refusal, broken reply) leaks the key into the exception chain."""
    for behaviour in ("429", "500", "malformed_json", "slow", "refusal", "html_200", "reset"):
        llm.reset()
        llm.default = behaviour
        with pytest.raises((TransientJobError, PermanentJobError)) as info:
            generate(config(llm, request_timeout_s=0.2, max_malformed_retries=0, call_retries=0), request())
        assert API_KEY not in full_text(info.value), behaviour


@pytest.mark.parametrize("concurrency", [4, 1])
def test_writing_calls_run_at_most_concurrency_at_once(llm: LLMServer, concurrency: int) -> None:
    """With many modules the server sees exactly `concurrency` writing requests in flight at its peak."""
    llm.gate = concurrency
    result = generate(config(llm, concurrency=concurrency), request(weeks=18, hours=20))
    assert len(result.modules) % 4 == 0 and len(result.modules) > concurrency  # full waves: nobody waits alone
    assert llm.max_in_flight == concurrency
