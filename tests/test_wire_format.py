"""docs/wire-format.md holds: a job written with raw Redis commands as documented is run by a real
worker and read back as documented, and the canonical form matches the shared vectors.

Nothing here goes through rq or worker.client on the writing or reading side, so an rq upgrade that
changes the job hash, the queue keys or the results stream fails these tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from jobs.canonical import canonical_json
from tests.conftest import clean_env, run_cli
from tests.wire_vectors import expected, load
from worker.client import enqueue_curriculum, job_status

QUEUE_KEY = "rq:queue:curriculum_generation"


def write_job(conn: redis.Redis, func: str, args: list[Any]) -> str:
    """Section 3 of the doc, field for field."""
    job_id = uuid.uuid4().hex
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload = zlib.compress(json.dumps([func, None, args, {}]).encode("utf-8"))
    with conn.pipeline(transaction=True) as pipe:
        pipe.hset(f"rq:job:{job_id}", mapping={
            "status": "queued", "origin": "curriculum_generation", "data": payload,
            "created_at": now, "enqueued_at": now, "timeout": 900, "result_ttl": 86400, "failure_ttl": 604800,
        })
        pipe.rpush(QUEUE_KEY, job_id)
        pipe.sadd("rq:queues", QUEUE_KEY)
        pipe.execute()
    return job_id


def read_job(conn: redis.Redis, job_id: str) -> dict[str, Any]:
    """Section 4 of the doc: status, progress, latest result entry decoded."""
    status, meta = conn.hmget(f"rq:job:{job_id}", "status", "meta")
    entries = conn.xrevrange(f"rq:results:{job_id}", "+", "-", count=1)
    fields = entries[0][1] if entries else {}
    value, exc = fields.get(b"return_value"), fields.get(b"exc_string")
    return {
        "status": status.decode() if status else None,
        "progress": json.loads(meta)["progress"] if meta else None,
        "type": int(fields[b"type"]) if fields else None,
        "result": json.loads(base64.b64decode(value).decode("utf-8")) if value else None,
        "traceback": zlib.decompress(base64.b64decode(exc)).decode("utf-8") if exc else None,
    }


def run_burst(redis_url: str) -> None:
    result = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, CURRICULUM_GENERATOR="offline"), timeout=90)
    assert result.returncode == 0, result.stderr


def test_a_job_written_as_documented_runs_and_reads_back(conn: redis.Redis, redis_url: str) -> None:
    """A curriculum job written with raw commands runs; status, progress and result read as documented."""
    request = {"topic": "Knitting", "level": "beginner", "duration_weeks": 2, "hours_per_week": 3,
               "objectives": ["Cast on"], "language": "en"}
    job_id = write_job(conn, "jobs.curriculum.generate_curriculum", [request])
    run_burst(redis_url)
    seen = read_job(conn, job_id)
    assert (seen["status"], seen["type"], seen["traceback"]) == ("finished", 1, None)
    assert seen["result"]["topic"] == "Knitting" and len(seen["result"]["schedule"]) == 2
    progress = seen["progress"]
    assert set(progress) == {"stage", "done", "total"} and progress["done"] == progress["total"] > 0
    assert 0 < conn.ttl(f"rq:job:{job_id}") <= 86400
    status = job_status(conn, job_id)  # and rq itself reads it the same way
    assert (status["status"], status["result"], status["progress"]) == ("finished", seen["result"], progress)


def test_a_failed_job_reads_back_with_its_reason(conn: redis.Redis, redis_url: str) -> None:
    """A refused job's latest result is type 2, and the traceback's last line is the reason."""
    job_id = write_job(conn, "os.getcwd", [])
    run_burst(redis_url)
    seen = read_job(conn, job_id)
    assert (seen["status"], seen["type"], seen["result"]) == ("failed", 2, None)
    reason = [line for line in seen["traceback"].splitlines() if line.strip()][-1]
    assert "not a registered job function" in reason
    assert job_status(conn, job_id)["error"] == reason


def test_the_documented_key_is_the_python_clients_key(conn: redis.Redis) -> None:
    """The doc's worked example: canonical text and key, computed by hand, are what the client stores."""
    canonical = ('{"prompt_version":"curriculum-v1","request":{"duration_weeks":4,"hours_per_week":5,'
                 '"language":"en","level":"beginner","objectives":[],"topic":"Knitting"}}')
    key = "curriculum:idempotency:" + hashlib.sha256(canonical.encode()).hexdigest()
    job_id, _ = enqueue_curriculum(conn, {"topic": " Knitting ", "hours_per_week": 5.0})
    assert conn.get(key) == job_id.encode()
    assert 0 < conn.ttl(key) <= 86400
    assert key == load("canonical.json")["vectors"][0]["key"]


@pytest.mark.parametrize("vector", load("canonical.json")["vectors"], ids=lambda v: v["name"])
def test_canonical_vectors(vector: dict[str, Any]) -> None:
    """Normalized form, canonical text, digest and key are the vector's (the TypeScript tests check the same)."""
    assert expected(vector["request"]) == {k: vector[k] for k in ("normalized", "canonical", "digest", "key")}


@pytest.mark.parametrize("vector", load("numbers.json")["vectors"], ids=lambda v: v["literal"])
def test_number_vectors(vector: dict[str, str]) -> None:
    """Numbers are written as ECMAScript's Number.prototype.toString writes the double they denote."""
    assert canonical_json(json.loads(vector["literal"], parse_int=float)) == vector["canonical"]


def test_canonical_refuses_what_other_languages_cannot_reproduce() -> None:
    """NaN, unpaired surrogates and integers beyond 2**53 have no shared canonical form."""
    for value in (float("nan"), "a\ud800", 2**53, {"k": float("inf")}):
        with pytest.raises(ValueError):
            canonical_json(value)
