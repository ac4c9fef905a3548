"""``schema`` and idempotent ``enqueue`` as an operator runs them."""

from __future__ import annotations

import json

import jsonschema
import pytest

from jobs.models import parse_request
from tests.conftest import clean_env, run_cli
from worker.errors import RequestInvalid

GOOD = {"topic": "Linear algebra", "level": "advanced", "duration_weeks": 6, "hours_per_week": 3,
        "objectives": ["Diagonalize a matrix"], "language": "pt-BR"}
BAD = [
    {"level": "beginner"},                        # topic missing
    {"topic": "Linear algebra", "colour": "red"},  # unknown field
    {"topic": "Linear algebra", "level": "expert"},
    {"topic": "Linear algebra", "duration_weeks": 53},
    {"topic": "Linear algebra", "hours_per_week": "5"},
    {"topic": "Linear algebra", "objectives": ["x" * 301]},
    {"topic": "Linear algebra", "language": "english please"},
]


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    # An unreachable REDIS_URL: the command must not connect at all.
    result = run_cli("schema", env=clean_env(REDIS_URL="redis://127.0.0.1:1/0"))
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


def test_schema_is_a_valid_json_schema(schema: dict[str, object]) -> None:
    """schema prints a draft 2020-12 JSON Schema, without needing Redis."""
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_accepts_a_good_request(schema: dict[str, object]) -> None:
    """A request the job accepts passes the schema."""
    parse_request(GOOD)
    jsonschema.Draft202012Validator(schema).validate(GOOD)


@pytest.mark.parametrize("request_body", BAD)
def test_schema_rejects_what_the_job_rejects(schema: dict[str, object], request_body: dict[str, object]) -> None:
    """Each request the job refuses is refused by the schema too."""
    with pytest.raises(RequestInvalid):
        parse_request(request_body)
    assert not jsonschema.Draft202012Validator(schema).is_valid(request_body)


def test_schema_compact_is_one_line() -> None:
    """--compact prints the same schema on one line."""
    result = run_cli("schema", "--compact", env=clean_env())
    assert result.returncode == 0 and result.stdout.count("\n") == 1
    assert json.loads(result.stdout)["title"] == "CurriculumRequest"


def test_enqueue_twice_prints_the_same_id(redis_url: str) -> None:
    """The same request enqueued twice prints the first job's id; --no-dedupe makes a new job."""
    env = clean_env(REDIS_URL=redis_url)
    first = run_cli("enqueue", "--file", "-", "--json", env=env, input=json.dumps(GOOD))
    second = run_cli("enqueue", "--file", "-", "--json", env=env, input=json.dumps(GOOD))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    plain = run_cli("enqueue", "--file", "-", env=env, input=json.dumps(GOOD))
    assert plain.stdout.strip() == json.loads(first.stdout)["job_id"]
    fresh = run_cli("enqueue", "--file", "-", "--no-dedupe", env=env, input=json.dumps(GOOD))
    assert fresh.returncode == 0 and fresh.stdout.strip() != plain.stdout.strip()


def test_enqueue_of_a_finished_request_reports_it_finished(redis_url: str) -> None:
    """After the job finished, enqueueing the same request again prints its id, status finished."""
    env = clean_env(REDIS_URL=redis_url)
    first = json.loads(run_cli("enqueue", "--topic", "Set theory", "--json", env=env).stdout)
    assert run_cli("run", "--burst", env=env).returncode == 0
    again = json.loads(run_cli("enqueue", "--topic", "Set theory", "--json", env=env).stdout)
    assert again == {"job_id": first["job_id"], "status": "finished"}


def test_schema_needs_no_valid_configuration() -> None:
    """`schema` works even where the environment is broken: it reads no settings."""
    result = run_cli("schema", "--compact", env=clean_env(REDIS_MAX_RETRIES="not-a-number"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["type"] == "object"
