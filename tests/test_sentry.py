"""Sentry: refused and killed jobs reach a (local, real HTTP) Sentry endpoint; the DSN key never logs."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, run_cli

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
    import json

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
