"""enqueue, status and failed as an operator uses them, against a real Redis and a real worker."""

from __future__ import annotations

import json

from tests.conftest import clean_env, run_cli
from worker import budget


def env_for(redis_url: str) -> dict[str, str]:
    return clean_env(REDIS_URL=redis_url)


def test_enqueue_then_status_reports_the_result(redis_url: str) -> None:
    """enqueue --json prints {job_id, status}; after a burst, status --json has the result and no error."""
    env = env_for(redis_url)
    request = json.dumps({"topic": "Organic chemistry", "level": "advanced", "duration_weeks": 2})
    enqueued = run_cli("enqueue", "--file", "-", "--json", env=env, input=request)
    assert enqueued.returncode == 0, enqueued.stderr
    body = json.loads(enqueued.stdout)
    assert set(body) == {"job_id", "status"} and body["status"] == "queued"

    assert run_cli("run", "--burst", env=env).returncode == 0
    status = run_cli("status", body["job_id"], "--json", env=env)
    assert status.returncode == 0, status.stderr
    outcome = json.loads(status.stdout)
    assert set(outcome) == {"job_id", "status", "progress", "result", "error"}
    assert outcome["status"] == "finished" and outcome["error"] is None
    assert outcome["result"]["level"] == "advanced"


def test_enqueue_wait_prints_the_result(redis_url: str) -> None:
    """enqueue --wait blocks until a worker finishes the job, then prints it."""
    import subprocess
    import sys

    env = env_for(redis_url)
    worker = subprocess.Popen([sys.executable, "-m", "worker", "run"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        waited = run_cli("enqueue", "--topic", "Music theory", "--wait", "--json", env=env, timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["result"]["topic"] == "Music theory"


def test_invalid_request_exits_2_naming_each_field(redis_url: str) -> None:
    """A bad request is refused before enqueueing: exit 2, every bad field named, nothing queued."""
    env = env_for(redis_url)
    bad = json.dumps({"topic": "x", "duration_weeks": 99, "colour": "red"})
    result = run_cli("enqueue", "--file", "-", env=env, input=bad)
    assert result.returncode == 2
    for field in ("topic", "duration_weeks", "colour"):
        assert field in result.stderr
    assert "red" not in result.stderr.replace("required", "")


def test_not_json_exits_2(redis_url: str) -> None:
    """A file that is not JSON is a bad request."""
    result = run_cli("enqueue", "--file", "-", env=env_for(redis_url), input="{topic: nope")
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr


def test_status_of_an_unknown_job_exits_2(redis_url: str) -> None:
    """An unknown job id is named in the error."""
    result = run_cli("status", "no-such-job", env=env_for(redis_url))
    assert result.returncode == 2
    assert "no-such-job" in result.stderr


def test_failed_lists_reasons_and_requeues(redis_url: str) -> None:
    """A failed job shows in `failed` with its reason; --requeue puts it back on its queue."""
    import redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    env = env_for(redis_url)
    conn = redis.Redis.from_url(redis_url)
    job = Queue("curriculum_generation", connection=conn, serializer=JSONSerializer).enqueue(
        "jobs.diagnostics.canary", -1)
    assert run_cli("run", "--burst", env=env).returncode == 0
    listed = run_cli("failed", "--json", env=env)
    entries = json.loads(listed.stdout)
    assert [e["job_id"] for e in entries] == [job.id]
    assert "sleep_s" in entries[0]["reason"]

    conn.hset(budget.budget_key(job.id), mapping={"retries": 3, "stalls": 2})
    requeued = run_cli("failed", "--requeue", job.id, env=env)
    assert requeued.returncode == 0, requeued.stderr
    assert conn.lrange("rq:queue:curriculum_generation", 0, -1) == [job.id.encode()]
    assert budget.counts(conn, job.id) == {"retries": 0, "stalls": 0}, "a requeued job starts over"
    missing = run_cli("failed", "--requeue", "ghost-id", env=env)
    assert missing.returncode == 2 and "ghost-id" in missing.stderr


def test_status_of_a_failed_job_exits_1_with_its_error(redis_url: str) -> None:
    """A failed job's status carries the reason, and the command exits 1."""
    import redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    env = env_for(redis_url)
    conn = redis.Redis.from_url(redis_url)
    job = Queue("curriculum_generation", connection=conn, serializer=JSONSerializer).enqueue(
        "jobs.diagnostics.canary", 999)
    assert run_cli("run", "--burst", env=env).returncode == 0
    result = run_cli("status", job.id, "--json", env=env)
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "failed" and "sleep_s" in outcome["error"] and outcome["result"] is None


def test_doctor_exits_1_when_redis_may_evict_jobs(redis_url: str) -> None:
    """An eviction policy other than noeviction is a hazard that loses jobs: doctor exits 1."""
    import redis

    conn = redis.Redis.from_url(redis_url)
    conn.config_set("maxmemory-policy", "allkeys-lru")
    try:
        result = run_cli("doctor", env=env_for(redis_url))
    finally:
        conn.config_set("maxmemory-policy", "noeviction")
    assert result.returncode == 1
    assert "maxmemory-policy is allkeys-lru" in result.stdout


def test_redis_lost_while_waiting_exits_3() -> None:
    """Redis going away during `enqueue --wait` is exit 3 naming the endpoint, not a traceback."""
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT
    from tests.servers import RedisServer

    server = RedisServer().start()
    env = clean_env(REDIS_URL=server.url, REDIS_MAX_RETRIES="1", REDIS_RETRY_DELAY="100",
                    REDIS_RETRY_MAX_DELAY="200")
    waiting = subprocess.Popen([sys.executable, "-m", "worker", "enqueue", "--topic", "Astronomy", "--wait"],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not server.client().llen("rq:queue:curriculum_generation") and time.monotonic() < deadline:
            time.sleep(0.05)
        server.stop(kill=True)
        _, stderr = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 3, stderr
    assert f"redis://localhost:{server.port}" in stderr
    assert "Traceback" not in stderr
