"""The published request schema rejects exactly what the worker rejects (issue 13/14).

Three checks: the schema committed for clients is the ``schema`` command's output; the shared
request vectors (tests/vectors/requests.json, also run by the TypeScript client against ajv) give
the same verdict and field names; and generated requests, valid and not, get the same verdict
from ``parse_request`` and from ``jsonschema``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.models import parse_request, request_json_schema
from jobs.request_rules import WHITESPACE
from tests.conftest import clean_env, run_cli
from tests.wire_vectors import load
from worker.errors import RequestInvalid

COMMITTED = Path(__file__).parent.parent / "clients" / "typescript" / "schema" / "curriculum-request.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(request_json_schema())


def worker_verdict(request: object) -> list[str]:
    """The fields ``parse_request`` names (sorted, without duplicates); [] when it accepts."""
    try:
        parse_request(request)
    except RequestInvalid as exc:
        return sorted({problem.split(": ", 1)[0] for problem in exc.problems})
    return []


def test_committed_schema_is_the_commands_output() -> None:
    """clients/typescript/schema/ holds byte for byte what `curriculum-worker schema` prints."""
    result = run_cli("schema", env=clean_env(REDIS_URL="redis://127.0.0.1:1/0"))
    assert result.returncode == 0, result.stderr
    assert COMMITTED.read_text(encoding="utf-8") == result.stdout, (
        "regenerate it: .venv/bin/python -m worker schema > clients/typescript/schema/curriculum-request.schema.json")


@pytest.mark.parametrize("vector", load("requests.json")["vectors"], ids=lambda v: v["name"])
def test_request_vectors(vector: dict[str, Any]) -> None:
    """The worker names exactly the vector's fields, and the schema accepts exactly the valid ones."""
    assert worker_verdict(vector["request"]) == vector["invalid_fields"]
    assert VALIDATOR.is_valid(vector["request"]) == (not vector["invalid_fields"])


_chars = st.characters(codec="utf-8", categories=["L", "N", "P", "Zs", "Cc"])
_tricky = st.sampled_from([*WHITESPACE, "\ufeff", "\u200b", "\ud800", "\udfff", "\U0001f9f6", "\u00e9"])
_text = st.lists(st.one_of(_chars, _tricky), max_size=8).map("".join)
_padding = st.lists(st.sampled_from([*WHITESPACE, "\ufeff", "\u200b"]), max_size=3).map("".join)
_strings = st.one_of(
    _text,
    st.builds(lambda pad1, core, pad2: pad1 + core + pad2, _padding, st.text(_chars, min_size=1, max_size=4), _padding),
    st.sampled_from([2, 3, 199, 200, 201, 299, 300, 301]).map(lambda n: "x" * n),
)
_objective_lists = st.lists(_strings, min_size=1, max_size=2)
_numbers = st.one_of(
    st.integers(-3, 60), st.floats(-3, 60, allow_nan=False), st.integers(-3, 60).map(float),
    st.sampled_from([True, False, 1e300, -0.0, 2**60, 0.5, 39.999, 40.0001]),
)
_anything = st.one_of(st.none(), st.booleans(), _numbers, _strings, st.lists(_strings, max_size=2))
_good: dict[str, st.SearchStrategy[Any]] = {
    "topic": st.sampled_from(["Knitting", "a b", " Linear algebra "]),
    "level": st.sampled_from(["beginner", "intermediate", "advanced"]),
    "duration_weeks": st.integers(1, 52),
    "hours_per_week": st.floats(1, 40),
    "objectives": st.lists(st.sampled_from(["", "Cast on", " purl "]), max_size=3),
    "language": st.sampled_from(["en", "pt-BR", "zh-Hant"]),
}
_wild: dict[str, st.SearchStrategy[Any]] = {
    "topic": st.one_of(_strings, _strings, _strings, _anything),
    "level": st.one_of(st.sampled_from(["Beginner", "", "expert"]), _anything),
    "duration_weeks": st.one_of(_numbers, _anything),
    "hours_per_week": st.one_of(_numbers, _anything),
    "objectives": st.one_of(
        _objective_lists, _objective_lists, st.integers(19, 21).map(lambda n: ["o"] * n), st.lists(_anything),
        _anything),
    "language": st.one_of(st.sampled_from(["en\n", "\nen", "e", "english", "en-", "x-abc", "EN-us"]), _strings),
    "colour": _anything,
}


@st.composite
def requests(draw: st.DrawFn) -> object:
    """A valid request with up to two fields made wild (one bad field must not hide behind another)."""
    if draw(st.integers(0, 30)) == 0:
        return draw(_anything)  # not an object at all
    request = {name: draw(_good[name]) for name in draw(st.lists(st.sampled_from(sorted(_good)), unique=True))}
    request.setdefault("topic", "Knitting")
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(sorted(_wild)))
        request[name] = draw(_wild[name])
    if draw(st.integers(0, 20)) == 0:
        del request["topic"]
    return request


@settings(max_examples=1500, deadline=None)
@given(request=requests())
def test_schema_and_worker_agree(request: object) -> None:
    """Any JSON-representable request (no NaN, which JSON lacks) is valid for both or for neither."""
    assert VALIDATOR.is_valid(request) == (worker_verdict(request) == [])
