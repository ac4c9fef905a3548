"""The published result schema, push notifications while waiting, and descriptions without values.

``schema --result`` is what the TypeScript client's result type is generated from, so it must be
exactly the committed copy and must describe every real result; ``wait_for`` must learn of the end
from the job's channel, not from polling; no job enqueued here may carry request values in RQ's
``description`` (rq-dashboard shows it).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import redis

from jobs import notify
from tests.conftest import clean_env, run_cli
from tests.workers import WorkerProcess
from worker.cancel import cancel_job
from worker.client import DESCRIPTION, enqueue_curriculum, wait_for

COMMITTED = Path(__file__).parent.parent / "clients" / "typescript" / "schema" / "curriculum-result.schema.json"


def test_committed_result_schema_is_the_commands_output() -> None:
    """clients/typescript/schema/ holds byte for byte what `curriculum-worker schema --result` prints."""
    result = run_cli("schema", "--result", env=clean_env(REDIS_URL="redis://127.0.0.1:1/0"))
    assert result.returncode == 0, result.stderr
    assert COMMITTED.read_text(encoding="utf-8") == result.stdout, (
        "regenerate it: .venv/bin/python -m worker schema --result > "
        "clients/typescript/schema/curriculum-result.schema.json")


def test_result_schema_requires_every_field_and_forbids_others() -> None:
    """Every object in the result schema lists all its properties as required and allows no others."""
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    for model in [schema, *schema["$defs"].values()]:
        assert model["additionalProperties"] is False, model["title"]
        assert sorted(model["required"]) == sorted(model["properties"]), model["title"]


def test_real_results_match_the_schema_and_the_wait_is_pushed(redis_url: str, conn: redis.Redis,
                                                               workers: list[WorkerProcess]) -> None:
    """Results validate against the schema; a wait that began before any worker ran ends by push, not polling."""
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    requests = [{"topic": "Knitting"}, {"topic": "Sourdough", "duration_weeks": 2, "objectives": ["Keep a starter"]}]
    job_ids = [enqueue_curriculum(conn, request, dedupe=False)[0] for request in requests]
    outcomes: dict[str, dict[str, Any]] = {}
    seen: dict[str, list[dict[str, Any]]] = {job_id: [] for job_id in job_ids}

    def wait(job_id: str) -> None:
        # No deadline and one poll an hour: only the job's channel can end this wait within the test.
        outcomes[job_id] = wait_for(conn, job_id, poll_s=3600, on_progress=seen[job_id].append)

    waiters = [threading.Thread(target=wait, args=(job_id,), daemon=True) for job_id in job_ids]
    for waiter in waiters:
        waiter.start()
    worker = WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json"))
    workers.append(worker)
    for waiter in waiters:
        waiter.join(timeout=120)
        assert not waiter.is_alive(), f"no push ended the wait; log:\n{worker.text()[-2000:]}"
    for job_id in job_ids:
        assert outcomes[job_id]["status"] == "finished", worker.text()[-2000:]
        jsonschema.Draft202012Validator(schema).validate(outcomes[job_id]["result"])
        assert seen[job_id] and seen[job_id][-1]["done"] == seen[job_id][-1]["total"]


def test_messages_are_published_on_the_jobs_channel(redis_url: str, conn: redis.Redis,
                                                    workers: list[WorkerProcess]) -> None:
    """A subscriber to the job's channel gets progress messages and, last, one with the final status."""
    job_id, _ = enqueue_curriculum(conn, {"topic": "Knitting"})
    messages: list[dict[str, Any]] = []
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(notify.channel(job_id))

    def listen() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1)
            if message is not None:
                messages.append(json.loads(message["data"]))
                if messages[-1]["status"] == "finished":
                    return

    listener = threading.Thread(target=listen)
    listener.start()
    worker = WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json"))
    workers.append(worker)
    listener.join(timeout=90)
    pubsub.close()
    assert messages and messages[-1] == {"job_id": job_id, "status": "finished", "progress": None}
    progress = [m["progress"] for m in messages if m["progress"] is not None]
    assert progress[0]["stage"] == "starting" and len(progress) >= 2


def test_no_client_writes_request_values_into_the_description(redis_url: str, conn: redis.Redis) -> None:
    """Python's enqueue (and the CLI's) label the job without its arguments."""
    enqueue_curriculum(conn, {"topic": "Secret knitting project", "objectives": ["Private goal"]})
    cli = run_cli("enqueue", "--topic", "Another private topic", env=clean_env(REDIS_URL=redis_url))
    assert cli.returncode == 0, cli.stderr
    keys = [key for key in conn.scan_iter("rq:job:*")]
    assert len(keys) == 2
    for key in keys:
        description = conn.hget(key, "description")
        assert description is not None and description.decode() == DESCRIPTION
        assert "private" not in description.decode().lower() and "Secret" not in description.decode()
    assert DESCRIPTION == "jobs.curriculum.generate_curriculum(…)"


def test_a_redis_user_without_pubsub_still_waits_to_the_end(redis_url: str, conn: redis.Redis,
                                                           workers: list[WorkerProcess]) -> None:
    """An ACL user who may not SUBSCRIBE: wait_for falls back to polling and still returns the finished job."""
    conn.execute_command("ACL", "SETUSER", "nopubsub", "on", ">pw", "~*", "&*", "+@all", "-@pubsub")
    try:
        limited = redis.Redis.from_url(redis_url.replace("redis://", "redis://nopubsub:pw@"))
        job_id, _ = enqueue_curriculum(limited, {"topic": "Knitting"})
        workers.append(WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json")))
        assert wait_for(limited, job_id, timeout_s=120, poll_s=0.2)["status"] == "finished"
        limited.close()
    finally:
        conn.execute_command("ACL", "DELUSER", "nopubsub")


def test_a_wait_ends_by_push_when_its_queued_job_is_canceled(conn: redis.Redis) -> None:
    """cancel announces the end on the job's channel: a waiter polling once an hour returns "canceled"."""
    job_id, _ = enqueue_curriculum(conn, {"topic": "Knitting"})
    outcome: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: outcome.update(wait_for(conn, job_id, poll_s=3600)), daemon=True)
    waiter.start()
    deadline = time.monotonic() + 10
    while not conn.pubsub_numsub(notify.channel(job_id))[0][1] and time.monotonic() < deadline:
        time.sleep(0.01)  # the waiter has subscribed: from now on only a message can end it early
    assert cancel_job(conn, job_id) == ("canceled", "canceled")
    waiter.join(timeout=60)
    assert not waiter.is_alive(), "no push ended the wait"
    assert outcome["status"] == "canceled"
