"""Request parsing, the request JSON Schema and the result models."""

from __future__ import annotations

import math
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from jobs.generators.offline import OfflineGenerator
from jobs.models import LESSON_KINDS, Lesson, ObjectiveCoverage, Usage, parse_request, request_json_schema
from tests.strategies import valid_request_dicts
from worker.errors import PermanentJobError, RequestInvalid

MARKER = "zq-MARKER-value-9f3"

# field -> values that must be rejected (each carries MARKER when it is a string, to prove no echo)
INVALID: dict[str, list[Any]] = {
    "topic": [None, 42, "", "  ", " x ", MARKER * 20, ["Rust"]],
    "level": ["expert-" + MARKER, 1, None, "Beginner"],
    "duration_weeks": [0, 53, True, 4.5, "4", None, -1],
    "hours_per_week": [0.99, 40.01, math.nan, math.inf, -math.inf, True, "5", None],
    "objectives": ["learn " + MARKER, [MARKER * 40], [1], ["ok"] * 21, None],
    "language": ["english " + MARKER, "", 5],
}


def problems_of(data: object) -> tuple[str, ...]:
    with pytest.raises(RequestInvalid) as info:
        parse_request(data)
    assert isinstance(info.value, PermanentJobError)
    return info.value.problems


def test_defaults_are_applied() -> None:
    """A request with only a topic gets the contract's defaults."""
    req = parse_request({"topic": "  Rust  "})
    assert (req.topic, req.level, req.duration_weeks, req.hours_per_week, req.objectives, req.language) == (
        "Rust",
        "beginner",
        4,
        5.0,
        [],
        "en",
    )


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in INVALID.items() for v in values])
def test_invalid_field_is_named_without_its_value(field: str, value: Any) -> None:
    """Each invalid field is named in the problems, and its value never appears in the message."""
    problems = problems_of({"topic": "Rust", field: value})
    assert any(p.startswith(field) for p in problems), problems
    assert MARKER not in str(RequestInvalid(problems))
    assert all(field in p for p in problems)


def test_list_item_paths_and_unknown_fields() -> None:
    """Nested problems name the item path and unknown fields are reported as such."""
    problems = problems_of({"topic": "Rust", "objectives": ["a", "b", "c", "x" * 301], "colour": "red"})
    assert "objectives[3]: at most 300 characters" in problems
    assert "colour: unknown field" in problems


def test_missing_topic_and_non_object_input() -> None:
    """A missing topic is named, and a non-object request is rejected outright."""
    assert problems_of({}) == ("topic: is required",)
    data: object
    for data in (None, [], "topic", 3):
        assert problems_of(data) == ("request: must be a JSON object",)


def test_json_schema_agrees_with_the_parser() -> None:
    """The published JSON Schema accepts a full valid request and rejects unknown fields and bad values."""
    schema = request_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    good = {
        "topic": "Rust",
        "level": "advanced",
        "duration_weeks": 52,
        "hours_per_week": 1.3,
        "objectives": ["x"],
    }
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors({"topic": "Rust", "colour": "red"}))
    assert list(validator.iter_errors({"topic": "Rust", "duration_weeks": 53}))
    assert list(validator.iter_errors({"topic": "Rust", "duration_weeks": True}))
    assert schema["required"] == ["topic"] and schema["additionalProperties"] is False


@settings(max_examples=60, deadline=None)
@given(data=valid_request_dicts())
def test_every_valid_request_parses(data: dict[str, Any]) -> None:
    """Every request within the contract's limits is accepted."""
    parse_request(data)


@settings(max_examples=80, deadline=None)
@given(
    data=valid_request_dicts(),
    field=st.sampled_from(sorted(INVALID)),
    choice=st.integers(0, 100),
    extra=st.text(min_size=1, max_size=12).filter(lambda k: k not in INVALID and k not in ("topic", "level")),
    add_extra=st.booleans(),
)
def test_every_invalid_request_is_rejected_naming_its_fields(
    data: dict[str, Any], field: str, choice: int, extra: str, add_extra: bool
) -> None:
    """Breaking any field (and/or adding an unknown one) is rejected, naming exactly the broken fields."""
    data[field] = INVALID[field][choice % len(INVALID[field])]
    if add_extra:
        data[extra] = MARKER
    problems = problems_of(data)
    assert {p.split(":")[0].split("[")[0] for p in problems if not p.endswith("unknown field")} == {field}
    assert add_extra == any(p.endswith("unknown field") for p in problems)
    assert MARKER not in " ".join(problems)


# --- result models ---------------------------------------------------------------------------------

LESSON = {"id": "m1-l1", "title": "Join two tables: the key idea", "summary": "s", "minutes": 45,
          "activities": ["a"], "kind": "core", "source": "model"}


def test_lesson_kind_is_one_of_the_six() -> None:
    """A lesson's kind is required and must be one of the contract's six kinds."""
    assert LESSON_KINDS == ("foundation", "core", "practice", "project", "review", "assessment")
    for kind in LESSON_KINDS:
        Lesson.model_validate({**LESSON, "kind": kind})
    for bad in ({**LESSON, "kind": "lecture"}, {k: v for k, v in LESSON.items() if k != "kind"}):
        with pytest.raises(ValidationError):
            Lesson.model_validate(bad)


def test_new_result_fields_default_to_empty_and_not_fallback() -> None:
    """Lessons default to no objectives and fallback false; coverage entries need lesson_ids."""
    lesson = Lesson.model_validate(LESSON)
    assert lesson.objectives == [] and lesson.fallback is False
    assert ObjectiveCoverage.model_validate({"objective": "x", "lesson_ids": [], "modules": []}).lesson_ids == []
    with pytest.raises(ValidationError):
        ObjectiveCoverage.model_validate({"objective": "x", "modules": ["Module"]})


def test_curriculum_result_has_uncovered_and_warnings() -> None:
    """A generated curriculum serialises uncovered_objectives and warnings as top-level lists."""
    req = parse_request({"topic": "Rust", "objectives": ["Borrow values safely"]})
    data = OfflineGenerator().generate(req, lambda *a: None).model_dump(mode="json")
    assert data["uncovered_objectives"] == [] and isinstance(data["warnings"], list)
    entry = data["objectives_coverage"][0]
    assert set(entry) == {"objective", "lesson_ids", "modules"} and entry["lesson_ids"]
    lesson = data["modules"][0]["lessons"][0]
    fields = {"id", "title", "summary", "minutes", "activities", "kind", "objectives", "fallback", "source"}
    assert fields <= set(lesson)


def test_lesson_source_is_model_or_template() -> None:
    """A lesson's source is required and is either 'model' or 'template'."""
    for source in ("model", "template"):
        assert Lesson.model_validate({**LESSON, "source": source}).source == source
    for bad in ({**LESSON, "source": "human"}, {k: v for k, v in LESSON.items() if k != "source"}):
        with pytest.raises(ValidationError):
            Lesson.model_validate(bad)


def test_offline_result_is_template_text_with_zero_usage() -> None:
    """Offline lessons are source 'template', never fallback, and the result reports zero usage."""
    req = parse_request({"topic": "Rust", "objectives": ["Borrow values safely"]})
    data = OfflineGenerator().generate(req, lambda *a: None).model_dump(mode="json")
    lessons = [lesson for module in data["modules"] for lesson in module["lessons"]]
    assert {(lesson["source"], lesson["fallback"]) for lesson in lessons} == {("template", False)}
    assert data["usage"] == {"model_calls": 0, "prompt_tokens": 0, "completion_tokens": 0}


def test_usage_counts_cannot_be_negative() -> None:
    """Usage counts are whole numbers of at least zero."""
    assert Usage().model_dump() == {"model_calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    with pytest.raises(ValidationError):
        Usage.model_validate({"model_calls": -1})
