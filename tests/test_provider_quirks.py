"""Every provider quirk we know of, each with the outcome a learner or operator wants (tests/llm_server.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs.generators import text_check
from jobs.models import Curriculum, parse_request
from tests.conftest import clean_env, failure, run_cli
from tests.llm_server import LLMServer
from tests.openai_support import API_KEY, assert_delivered, config, generate, lessons, reasks, request, tasks
from worker.errors import TransientJobError


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer(slow_s=5.0) as srv:
        yield srv


@pytest.fixture
def llm(server: LLMServer) -> LLMServer:
    server.reset()
    return server


def notes(llm: LLMServer) -> list[str]:
    """The notes of writing re-asks (tasks asked again for lessons whose text was unusable)."""
    return [t["note"] for t in tasks(llm, "write_module") if "note" in t]


# --- order and keys ---------------------------------------------------------------------------------


def test_modules_returned_keyed_in_another_order_are_read_by_key(llm: LLMServer) -> None:
    """A design whose modules come as {"m3": .., "m2": .., "m1": ..} is read in key order, not failed."""
    llm.queue("modules_shuffled")
    result = generate(config(llm), request(weeks=4, hours=6))
    assert [m.title for m in result.modules] == [f"SQL for analysts: module {n}" for n in
                                                 range(1, len(result.modules) + 1)]
    assert len(result.modules) > 1 and llm.requests == 1 + len(result.modules)


@pytest.mark.parametrize("behaviour", ["lessons_reversed", "lessons_keyed", "ids_dropped"])
def test_lessons_returned_in_another_order_land_on_their_own_slot(llm: LLMServer, behaviour: str) -> None:
    """Writing replies with lessons reversed, keyed by id, or reversed without ids but with their titles are
    realigned (by id, else by title): each text is its lesson's."""
    llm.default = behaviour
    result = generate(config(llm), request(weeks=2, hours=6))
    assert all(x.summary.startswith(x.title) for x in lessons(result))
    assert not any(x.fallback for x in lessons(result))


# --- re-asked once, then repaired or reported -------------------------------------------------------


def test_duplicate_titles_are_reasked_once(llm: LLMServer) -> None:
    """Every title 'Introduction': the design is re-asked once naming the problem; the course has no warning."""
    llm.queue("duplicate_titles")
    result = generate(config(llm), request())
    assert any("more than once" in r for r in reasks(llm))
    assert not any("repeated" in w for w in result.warnings)


def test_duplicate_titles_that_stay_are_told_apart_with_a_warning(llm: LLMServer) -> None:
    """Titles that stay 'Introduction' after the re-ask are made distinct and the result says so."""
    llm.default = "duplicate_titles"
    result = generate(config(llm), request())
    titles = [x.title for x in lessons(result) if x.kind != "assessment"]
    assert all(t.startswith("Introduction") for t in titles) and len(set(titles)) == len(titles)
    assert any("repeated lesson title" in w for w in result.warnings)
    assert llm.requests == 2 + len(result.modules)  # one re-ask, not more


def test_uncovered_objectives_are_reasked_then_placed_with_a_warning(llm: LLMServer) -> None:
    """A design that teaches no objective is re-asked once; if it still doesn't, the planner gives each
    objective to a lesson (whose writer is told to teach it) and warns."""
    llm.default = "uncovered"
    req = request(objectives=["Write SELECT queries", "Join two tables"])
    result = generate(config(llm), req)
    assert any("taught by no lesson" in r and "Join two tables" in r for r in reasks(llm))
    assert [e.lesson_ids != [] for e in result.objectives_coverage] == [True, True]
    assert any("given to a lesson by the planner" in w for w in result.warnings)
    briefs = [b for t in tasks(llm, "write_module") for b in t["lessons"]]
    assert {o for b in briefs for o in b["teaches"]} == {"Write SELECT queries", "Join two tables"}


@pytest.mark.parametrize("behaviour", ["identical", "echo_shape", "english"])
def test_unusable_text_once_is_reasked_and_delivered(llm: LLMServer, behaviour: str) -> None:
    """Identical, echoed-shape or wrong-language lesson text is asked again for those lessons; the good
    second reply is delivered with no fallback."""
    llm.queue("good", behaviour)  # the design, then the first writing call
    result = generate(config(llm), request(language="fr"))
    assert len(notes(llm)) == 1
    assert not any(x.fallback for x in lessons(result))


@pytest.mark.parametrize("behaviour", ["identical", "echo_shape", "english"])
def test_unusable_text_that_stays_falls_back_with_a_warning(llm: LLMServer, behaviour: str) -> None:
    """When one module's text stays unusable after its re-ask, its lessons become template text
    (fallback, source template) with a warning; the rest of the course is the model's."""
    req = request(weeks=8, hours=5, language="fr")
    llm.module_quirks = {2: behaviour}
    result = generate(config(llm), req)
    fallen = [x for x in lessons(result) if x.fallback]
    assert fallen and all(x.id.startswith("m2-") and x.source == "template" for x in fallen)
    assert any("fallback" in w for w in result.warnings) and any("English" in w for w in result.warnings)
    assert all(x.summary not in ("string (2-4 sentences)",) for x in lessons(result))
    assert len(notes(llm)) == 1


# --- broken transport, retried ---------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["html_200", "empty_choices", "reset"])
def test_broken_replies_are_retried_per_call(llm: LLMServer, behaviour: str) -> None:
    """A 200 with an HTML proxy page, a reply without choices, a connection reset mid-body: the call is
    retried and the course delivered."""
    llm.queue(behaviour, "good", behaviour)
    result = generate(config(llm, concurrency=1), request())
    assert llm.requests == 2 + 1 + len(result.modules)


@pytest.mark.parametrize("behaviour", ["html_200", "empty_choices", "reset"])
def test_broken_replies_that_persist_are_transient_and_say_what_happened(llm: LLMServer, behaviour: str) -> None:
    """When the retries are spent the job is transient (retried later), and a reset mid-body never claims
    that we could not connect."""
    llm.default = behaviour
    with pytest.raises(TransientJobError) as info:
        generate(config(llm, call_retries=2), request())
    assert llm.requests == 3
    assert "could not connect" not in str(info.value) and "broken reply" in str(info.value)


@pytest.mark.parametrize("behaviour", ["trailing_comma", "tool_calls", "fenced", "prose", "wrapped"])
def test_lenient_json_is_accepted_without_reasking(llm: LLMServer, behaviour: str) -> None:
    """Trailing commas, JSON in tool_calls, a markdown fence, prose around it, a wrapping key: read as is."""
    llm.default = behaviour
    result = generate(config(llm), request())
    assert llm.requests == 1 + len(result.modules)
    assert not any(x.fallback for x in lessons(result))


# --- through a real worker ------------------------------------------------------------------------


def run_openai_burst(llm: LLMServer, redis_url: str, request: dict[str, Any]) -> tuple[Job, str]:
    job = Queue("curriculum_generation", connection=redis.Redis.from_url(redis_url), serializer=JSONSerializer
                ).enqueue("jobs.curriculum.generate_curriculum", request)
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=llm.base_url,
                    CURRICULUM_MODEL=f"worker-model-{uuid.uuid4().hex[:8]}")
    result = run_cli("run", "--burst", env=env, timeout=90)
    assert result.returncode == 0, result.stderr
    return Job.fetch(job.id, connection=job.connection, serializer=JSONSerializer), result.stderr


def test_a_worker_delivers_despite_quirks_at_once(llm: LLMServer, redis_url: str) -> None:
    """A real worker job: no json_schema, a 429 with Retry-After, an HTML 200, trailing commas, one module's
    text always in the wrong language; delivered, with usage, and no request text or key in the logs."""
    request = {"topic": "Bases de données SQL", "duration_weeks": 8, "hours_per_week": 5, "language": "fr",
               "objectives": ["Écrire des requêtes SELECT"]}
    llm.rejected_formats, llm.retry_headers = {"json_schema"}, {"Retry-After": "1"}
    llm.module_quirks = {2: "english"}
    llm.queue("good", "429", "html_200", "trailing_comma")
    job, logs = run_openai_burst(llm, redis_url, request)
    assert job.get_status() == "finished", failure(job)
    result = Curriculum.model_validate(job.return_value())
    assert_delivered(result, parse_request(request))
    assert {x.id.split("-")[0] for x in lessons(result) if x.fallback} == {"m2"}
    assert result.usage.model_calls == llm.requests and llm.early == []
    assert "Bases de données" not in logs and "requêtes" not in logs and API_KEY not in logs


def test_a_worker_fails_a_job_past_its_call_cap_naming_the_variable(llm: LLMServer, redis_url: str) -> None:
    """OPENAI_MAX_CALLS_PER_JOB through the worker's settings: the job fails once, saying which limit."""
    job = Queue("curriculum_generation", connection=redis.Redis.from_url(redis_url), serializer=JSONSerializer
                ).enqueue("jobs.curriculum.generate_curriculum", {"topic": "SQL", "duration_weeks": 12})
    env = clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=llm.base_url,
                    OPENAI_MAX_CALLS_PER_JOB="2")
    assert run_cli("run", "--burst", env=env, timeout=90).returncode == 0
    job = Job.fetch(job.id, connection=job.connection, serializer=JSONSerializer)
    assert job.get_status() == "failed" and "OPENAI_MAX_CALLS_PER_JOB" in failure(job)
    assert llm.requests == 2


def test_english_courses_never_load_the_language_identifier(llm: LLMServer) -> None:
    """An English course is not judged for language, so its job never pays the identifier's load (87 MiB)."""
    text_check._identifier.cache_clear()
    generate(config(llm), request())
    assert text_check._identifier.cache_info().currsize == 0
    generate(config(llm), request(language="fr"))
    assert text_check._identifier.cache_info().currsize == 1
