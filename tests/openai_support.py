"""Shared pieces of the model-path tests: a config for the local server, requests, and the checks
every delivered curriculum must pass."""

from __future__ import annotations

import itertools
import json
import traceback
from typing import Any

from jobs.generators import GeneratorConfig, build_generator
from jobs.generators.openai_generator import OpenAIGenerator
from jobs.invariants import check_invariants
from jobs.models import Curriculum, CurriculumRequest, Lesson, parse_request
from tests.llm_server import LLMServer, task_of

API_KEY = "sk-test-SECRET-0123456789abcdef"
_models = itertools.count()


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
        "max_tokens": 4096,
        "retry_base_s": 0.01,
        "retry_max_wait_s": 2.0,
    }
    values.update(overrides)
    return GeneratorConfig(**values)  # type: ignore[arg-type]


def request(weeks: int = 2, hours: float = 4, topic: str = "SQL for analysts", **fields: Any) -> CurriculumRequest:
    return parse_request({"topic": topic, "duration_weeks": weeks, "hours_per_week": hours, **fields})


def lessons(result: Curriculum) -> list[Lesson]:
    return [lesson for module in result.modules for lesson in module.lessons]


def assert_delivered(result: Curriculum, req: CurriculumRequest) -> None:
    """The contract's invariants and what a learner must be able to trust in a delivered course."""
    check_invariants(result, req)
    all_lessons = lessons(result)
    assert len({x.summary for x in all_lessons}) == len(all_lessons), "every lesson has its own text"
    assert all(x.source == ("template" if x.fallback else "model") for x in all_lessons)
    assert not any(x.fallback for x in all_lessons) or any("fallback" in w for w in result.warnings)
    requested = [o for o in dict.fromkeys(req.objectives) if o.strip()]
    taught = [o for o in requested if any(o in x.objectives for x in all_lessons)]
    assert taught + result.uncovered_objectives == requested


def generate(cfg: GeneratorConfig, req: CurriculumRequest) -> Curriculum:
    result = build_generator(cfg).generate(req, lambda *a: None)
    assert_delivered(result, req)
    return result


def generate_with(cfg: GeneratorConfig, req: CurriculumRequest) -> tuple[Curriculum, OpenAIGenerator]:
    generator = OpenAIGenerator(cfg)
    result = generator.generate(req, lambda *a: None)
    assert_delivered(result, req)
    return result, generator


def tasks(llm: LLMServer, kind: str | None = None) -> list[dict[str, Any]]:
    found = [task_of(b) for b in llm.bodies]
    return [t for t in found if kind is None or t.get("task") == kind]


def writing_bodies(llm: LLMServer) -> list[dict[str, Any]]:
    return [b for b in llm.bodies if task_of(b).get("task") == "write_module"]


def reasks(llm: LLMServer) -> list[str]:
    """The text of every re-ask message the generator sent."""
    return [b["messages"][-1]["content"] for b in llm.bodies
            if b["messages"][-1]["role"] == "user" and not _is_json(b["messages"][-1]["content"])]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
