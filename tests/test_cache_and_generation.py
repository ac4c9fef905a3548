"""The Redis cache (real Redis, DB 15, random key prefix) and the generation entry point."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from jobs.cache import Cache, content_key
from jobs.generation import generate
from jobs.generators import GeneratorConfig, build_generator
from jobs.invariants import check_invariants
from jobs.models import Curriculum, parse_request
from tests.llm_server import LLMServer
from worker.errors import RequestInvalid

REQUEST = {"topic": "Rust ownership", "duration_weeks": 2, "objectives": ["borrow checker"]}


@pytest.fixture
def conn() -> Iterator[redis.Redis]:
    connection = redis.Redis(host="127.0.0.1", port=6379, db=15, socket_timeout=2)
    yield connection
    connection.close()


@pytest.fixture
def cache(conn: redis.Redis) -> Iterator[Cache]:
    prefix = f"test-curriculum-{uuid.uuid4().hex}"
    yield Cache(conn, prefix=prefix)
    for key in conn.scan_iter(match=f"{prefix}:*"):
        conn.delete(key)


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture
def dead_redis() -> Iterator[redis.Redis]:
    with socket.socket() as probe:  # a free port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=0.2,
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),  # fail fast; redis-py's default retries back off for seconds
    )
    yield connection
    connection.close()


def openai_config(server: LLMServer) -> GeneratorConfig:
    return GeneratorConfig(name="openai", api_key="sk-test", base_url=server.base_url, model="test-model")


def test_second_identical_request_makes_no_model_calls(
    llm: LLMServer, cache: Cache, conn: redis.Redis
) -> None:
    """With the llm cache, repeating a request makes zero model calls and yields the same content."""
    req = parse_request(REQUEST)
    generator = build_generator(openai_config(llm), cache)
    first = generator.generate(req, lambda *a: None)
    calls = llm.requests
    assert calls > 1
    second = build_generator(openai_config(llm), cache).generate(req, lambda *a: None)
    assert llm.requests == calls
    assert first.model_dump(exclude={"generated_at", "usage"}) == second.model_dump(exclude={"generated_at", "usage"})
    assert first.usage.model_calls == calls and second.usage.model_calls == 0  # usage is what this run cost
    ttl = conn.ttl(next(iter(conn.scan_iter(match=cache.redis_key("llm", "*")))))
    assert 3500 < int(ttl) <= 3600


def test_generate_uses_and_fills_the_content_cache(llm: LLMServer, cache: Cache, conn: redis.Redis) -> None:
    """generate() stores the finished curriculum for 24 h and serves the next identical request from it."""
    stages: list[str] = []
    first = generate(REQUEST, openai_config(llm), lambda s, d, t: stages.append(s), cache)
    key = content_key(parse_request(REQUEST), "openai", "test-model")
    assert cache.get_curriculum(key) == first
    assert 86000 < int(conn.ttl(cache.redis_key("content", key))) <= 86400
    calls = llm.requests
    second = generate(REQUEST, openai_config(llm), lambda s, d, t: stages.append(s), cache)
    assert second == first and llm.requests == calls
    assert stages[-1] == "cached"


def test_redis_outage_does_not_fail_the_job(
    llm: LLMServer, dead_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis unreachable the job still succeeds, and the outage is logged once per cache."""
    cache = Cache(dead_redis, prefix="test-curriculum-dead")
    with caplog.at_level(logging.WARNING, logger="jobs.cache"):
        result = generate(REQUEST, openai_config(llm), lambda *a: None, cache)
        check_invariants(Curriculum.model_validate(result), parse_request(REQUEST))
        cache.put_curriculum("k", {"a": 1})
        assert cache.get_curriculum("k") is None
    outages = [r for r in caplog.records if getattr(r, "event", None) == "cache.unavailable"]
    assert len(outages) == 1
    assert outages[0].namespace in ("llm", "content")  # type: ignore[attr-defined]


def test_generate_offline_without_cache_is_json_ready() -> None:
    """generate() with the offline generator returns a JSON-able dict that passes the invariants."""
    result = generate({"topic": "Bird watching"}, GeneratorConfig(), lambda *a: None, None)
    assert result["generator"] == {"name": "offline", "model": "offline-v3"}
    assert isinstance(result["generated_at"], str)
    check_invariants(Curriculum.model_validate(result), parse_request({"topic": "Bird watching"}))


def test_generate_rejects_invalid_requests_before_any_work(llm: LLMServer) -> None:
    """An invalid request raises RequestInvalid and never reaches the model."""
    with pytest.raises(RequestInvalid):
        generate({"topic": "Rust", "colour": "red"}, openai_config(llm), lambda *a: None, None)
    assert llm.requests == 0


def test_failing_progress_callback_does_not_fail_the_job() -> None:
    """A progress callback that raises is ignored (logged), the curriculum is still produced."""

    def broken(stage: str, done: int, total: int) -> None:
        raise RuntimeError("progress store down")

    result = generate({"topic": "Bird watching"}, GeneratorConfig(), broken, None)
    assert result["modules"]
