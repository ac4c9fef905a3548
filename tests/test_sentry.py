"""Sentry: refused and killed jobs reach a (local, real HTTP) Sentry endpoint; the DSN key never logs."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, run_cli
from tests.llm_server import LLMServer
from tests.workers import WorkerProcess

SENTRY_KEY = "0123456789abcdef0123456789abcdef"


class _Ingest(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sentry() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_refused_job_is_reported_to_sentry(sentry: ThreadingHTTPServer, conn: redis.Redis, redis_url: str) -> None:
    """A refused job sends a Sentry event tagged with the job; the DSN's key is not in the logs."""
    job = Queue("curriculum_generation", connection=conn, serializer=JSONSerializer).enqueue("os.system", "true")
    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{sentry.server_address[1]}/1"
    result = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, SENTRY_DSN=dsn,
                                                     RENDER_GIT_COMMIT="abc123", LOG_FORMAT="json"))
    assert result.returncode == 0, result.stderr
    bodies = b"\n".join(sentry.received).decode()  # type: ignore[attr-defined]
    assert "job.refused" in bodies
    assert job.id in bodies
    assert "abc123" in bodies, "release comes from RENDER_GIT_COMMIT"
    assert SENTRY_KEY not in result.stderr + result.stdout


def test_job_exception_reaches_sentry_without_the_request(sentry: ThreadingHTTPServer, conn: redis.Redis,
                                                         redis_url: str) -> None:
    """A failing job is reported, but its arguments (user data) are not sent."""
    marker = "private-objective-7f3e"
    job = Queue("curriculum_generation", connection=conn, serializer=JSONSerializer).enqueue(
        "jobs.curriculum.generate_curriculum", {"topic": "Go", "objectives": [marker], "level": "expert"})
    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{sentry.server_address[1]}/1"
    result = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, SENTRY_DSN=dsn))
    assert result.returncode == 0, result.stderr
    bodies = b"\n".join(sentry.received).decode()  # type: ignore[attr-defined]
    assert "RequestInvalid" in bodies and job.id in bodies
    assert marker not in bodies


def _events(server: ThreadingHTTPServer) -> list[dict[str, object]]:
    """The event items of every envelope the ingest endpoint received (not sessions, not logs)."""
    found = []
    for body in server.received:  # type: ignore[attr-defined]
        lines = body.decode().splitlines()
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                found.append(json.loads(payload))
    return found


def test_a_failed_job_is_one_sentry_event(sentry: ThreadingHTTPServer, conn: redis.Redis, redis_url: str) -> None:
    """A job that fails for good sends exactly one event, tagged, not a second one from its log line."""
    job = Queue("curriculum_generation", connection=conn, serializer=JSONSerializer).enqueue(
        "jobs.curriculum.generate_curriculum", {"topic": "x"})
    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{sentry.server_address[1]}/1"
    result = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, SENTRY_DSN=dsn))
    assert result.returncode == 0, result.stderr
    assert "job.failed" in result.stderr, "the failure was logged at ERROR"
    events = _events(sentry)
    assert len(events) == 1, [e.get("logger") or e.get("message") for e in events]
    assert events[0]["tags"]["job_id"] == job.id  # type: ignore[index]


def test_stalls_of_different_workers_share_one_fingerprint(sentry: ThreadingHTTPServer, conn: redis.Redis) -> None:
    """Two stalls of one queue and function, found by different workers, group into one Sentry issue."""
    import sentry_sdk

    from worker import reporting
    from worker.settings import Settings

    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{sentry.server_address[1]}/1"
    queue = Queue("curriculum_generation", connection=conn, serializer=JSONSerializer)
    jobs = [queue.enqueue("jobs.diagnostics.canary", 0), queue.enqueue("jobs.diagnostics.canary", 0)]
    assert reporting.init_sentry(Settings.from_env({"SENTRY_DSN": dsn}), environ={})
    try:
        for job, worker in zip(jobs, ("host-a.1.aa", "host-b.2.bb"), strict=True):
            reporting.capture_event("job.stalled", job, f"worker {worker} went silent")
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: off again for the rest of the session
        reporting._enabled = False
    prints = [tuple(e["fingerprint"]) for e in _events(sentry)]  # type: ignore[arg-type]
    assert len(prints) == 2 and prints[0] == prints[1]
    assert prints[0] == ("job.stalled", "curriculum_generation", "jobs.diagnostics.canary")


def test_each_supervised_child_reports_to_sentry(sentry: ThreadingHTTPServer, conn: redis.Redis,
                                                 redis_url: str) -> None:
    """run --concurrency 2: refused jobs taken by either child reach Sentry before the child exits."""
    queue = Queue("curriculum_generation", connection=conn, serializer=JSONSerializer)
    jobs = [queue.enqueue("os.system", "true") for _ in range(4)]
    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{sentry.server_address[1]}/1"
    result = run_cli("run", "--burst", "--concurrency", "2",
                     env=clean_env(REDIS_URL=redis_url, SENTRY_DSN=dsn, LOG_FORMAT="json"))
    assert result.returncode == 0, result.stderr
    bodies = b"\n".join(sentry.received).decode()  # type: ignore[attr-defined]
    assert all(job.id in bodies for job in jobs)
    assert result.stderr.count('"event": "sentry.enabled"') == 2, "one Sentry client per child"
    assert SENTRY_KEY not in result.stderr + result.stdout


def _wait_for_events(server: ThreadingHTTPServer, count: int, timeout: float = 30) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_events(server)) < count:
        time.sleep(0.05)
    return _events(server)


def test_a_retried_job_is_one_event_with_its_attempts_as_breadcrumbs(
        sentry: ThreadingHTTPServer, conn: redis.Redis, redis_url: str, workers: list[WorkerProcess]) -> None:
    """Model API down for all 3 attempts: exactly one (tagged) event, the 2 retried attempts as its
    breadcrumbs, and nothing from an SDK integration nobody chose (the OpenAI one sent one per call)."""
    with LLMServer() as llm:
        llm.default = "500"
        job = Queue("curriculum_generation", connection=conn, serializer=JSONSerializer).enqueue(
            "jobs.curriculum.generate_curriculum", {"topic": "Sentry incidents"})
        dsn = f"http://{SENTRY_KEY}@127.0.0.1:{sentry.server_address[1]}/1"
        worker = WorkerProcess(clean_env(
            REDIS_URL=redis_url, SENTRY_DSN=dsn, LOG_FORMAT="json", CURRICULUM_GENERATOR="openai",
            OPENAI_API_KEY="sk-sentry-test", OPENAI_BASE_URL=llm.base_url, OPENAI_MAX_RETRIES="0",
            JOB_MAX_RETRIES="2", JOB_RETRY_DELAY="1", WORKER_HEARTBEAT_INTERVAL="1", WORKER_STALL_TIMEOUT="3"))
        workers.append(worker)
        worker.wait_for("job.failed", timeout=60, job_id=job.id, will_retry=False)
        assert llm.requests >= 3, "three attempts reached the model API"
        _wait_for_events(sentry, 1)
        worker.terminate()
        worker.wait(timeout=30)
    events = _events(sentry)
    assert len(events) == 1, [(e.get("logger"), e.get("tags")) for e in events]
    event = events[0]
    assert event["tags"]["job_id"] == job.id  # type: ignore[index]
    assert event["tags"]["attempts"] == "3"  # type: ignore[index]
    crumbs = [c for c in event["breadcrumbs"]["values"] if c.get("category") == "job.retried"]  # type: ignore[index]
    assert [c["data"]["attempt"] for c in crumbs] == [1, 2]
    assert all("HTTP 500" in c["message"] for c in crumbs), crumbs
    assert "sk-sentry-test" not in json.dumps(event)


def test_a_malformed_dsn_is_a_settings_error(redis_url: str) -> None:
    """SENTRY_DSN without a key or project: exit 2 naming SENTRY_DSN, no traceback, the value not echoed."""
    for dsn in ("https://o1.ingest.sentry.io/42", f"https://{SENTRY_KEY}@o1.ingest.sentry.io/", "not a dsn"):
        result = run_cli("stats", env=clean_env(REDIS_URL=redis_url, SENTRY_DSN=dsn))
        assert result.returncode == 2, (dsn, result.stderr)
        assert result.stderr.startswith("error: invalid configuration: SENTRY_DSN: malformed Sentry DSN (")
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert SENTRY_KEY not in result.stderr and "o1.ingest" not in result.stderr


def test_doctor_checks_the_dsn(sentry: ThreadingHTTPServer, redis_url: str) -> None:
    """doctor says where Sentry events go (project and host, never the key), or that Sentry is off."""
    dsn = f"http://{SENTRY_KEY}@127.0.0.1:{sentry.server_address[1]}/7"
    result = run_cli("doctor", env=clean_env(REDIS_URL=redis_url, SENTRY_DSN=dsn))
    assert "sentry: on, project 7 at 127.0.0.1" in result.stdout, result.stdout + result.stderr
    assert SENTRY_KEY not in result.stdout + result.stderr
    off = run_cli("doctor", env=clean_env(REDIS_URL=redis_url))
    assert "sentry: off" in off.stdout
