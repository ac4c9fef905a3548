"""Hostile jobs, issue 10 #1: callbacks and webhooks a job names are vetted like its function.

Jobs are written with plain rq, as another service (or an attacker with Redis access) would, and
run by a real worker process in burst mode.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import redis
from rq import Callback, Queue
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.webhook import Webhook

from tests.conftest import clean_env, failure, run_cli
from worker.vetting import CALLBACK_ATTRIBUTES, callback_names

QUEUE = "curriculum_generation"
ZEN = "Beautiful is better than ugly"


def queue(conn: redis.Redis) -> Queue:
    return Queue(QUEUE, connection=conn, serializer=JSONSerializer)


def run_burst(redis_url: str, **env: str) -> tuple[str, str]:
    """(stdout, stderr) of one burst run; the run itself must succeed."""
    result = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", **env), timeout=90)
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def assert_refused(conn: redis.Redis, job: Job, logs: str, words: str) -> None:
    job = Job.fetch(job.id, connection=conn, serializer=JSONSerializer)
    assert job.get_status() == "failed"
    assert words in failure(job), failure(job)
    assert job.ended_at is not None, "a refused job records when it ended"
    assert '"event": "job.refused"' in logs
    assert '"event": "job.started"' not in logs, "refused before a work horse was forked"


class HttpSink:
    """A TCP listener that records request lines; answers 200, or never answers when ``hang``."""

    def __init__(self, hang: bool) -> None:
        self.hang = hang
        self.requests: list[str] = []
        self.closed_by_client = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            data = client.recv(65536)
            self.requests.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
            if not self.hang:
                client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                client.close()
                continue
            self._held.append(client)
            client.settimeout(120)
            try:
                if client.recv(1) == b"":
                    self.closed_by_client.set()
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for client in self._held:
            client.close()


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    server = HttpSink(hang=False)
    yield server
    server.close()


@pytest.fixture
def hanging_sink() -> Iterator[HttpSink]:
    server = HttpSink(hang=True)
    yield server
    server.close()


def test_rq_keeps_callbacks_where_vetting_reads_them(conn: redis.Redis) -> None:
    """Pin: a job fetched back from Redis holds its three callback names in the attributes vetting reads."""
    job = queue(conn).enqueue("jobs.diagnostics.canary", 0, on_success=Callback("a.s"),
                              on_failure=Callback("b.f"), on_stopped=Callback("c.t"))
    fetched = Job.fetch(job.id, connection=conn, serializer=JSONSerializer)
    assert len(CALLBACK_ATTRIBUTES) == 3
    assert callback_names(fetched) == ["a.s", "b.f", "c.t"]


def test_success_callback_module_is_never_imported(conn: redis.Redis, redis_url: str) -> None:
    """on_success=Callback("this.s"): refused before any fork; the module `this` is never imported."""
    job = queue(conn).enqueue("jobs.diagnostics.canary", 0, on_success=Callback("this.s"))
    stdout, logs = run_burst(redis_url)
    assert ZEN not in stdout and ZEN not in logs, "importing `this` prints the Zen of Python"
    assert_refused(conn, job, logs, "callback 'this.s' is not a registered callback")


def test_failure_callback_builtin_is_never_called(conn: redis.Redis, redis_url: str) -> None:
    """on_failure=Callback("builtins.print") on a job that would fail: refused, print never called."""
    job = queue(conn).enqueue("jobs.diagnostics.canary", "not a number", on_failure=Callback("builtins.print"))
    stdout, logs = run_burst(redis_url)
    assert job.id not in stdout, "print(job, ...) would have written the job to stdout"
    assert_refused(conn, job, logs, "'builtins.print' is not a registered callback")


def test_stopped_callback_is_refused(conn: redis.Redis, redis_url: str) -> None:
    """on_stopped=Callback("this.s") alone is enough to refuse a job naming a registered function."""
    job = queue(conn).enqueue("jobs.diagnostics.canary", 0, on_stopped=Callback("this.s"))
    stdout, logs = run_burst(redis_url)
    assert ZEN not in stdout
    assert_refused(conn, job, logs, "callback 'this.s'")


def test_webhook_to_a_host_not_allowed_is_refused_and_never_sent(conn: redis.Redis, redis_url: str,
                                                                 sink: HttpSink) -> None:
    """A webhook whose host is not in WORKER_WEBHOOK_HOSTS: refused, and no request reaches it."""
    hook = Webhook(f"http://localhost:{sink.port}/steal", "finished", method="POST",
                   headers={"Authorization": "Bearer enqueuer-token"})
    job = queue(conn).enqueue("jobs.diagnostics.canary", 0, webhooks=[hook])
    _, logs = run_burst(redis_url, WORKER_WEBHOOK_HOSTS="example.org")
    assert sink.requests == []
    assert_refused(conn, job, logs, "webhook host 'localhost' is not in WORKER_WEBHOOK_HOSTS")


def test_allowed_webhook_is_sent(conn: redis.Redis, redis_url: str, sink: HttpSink) -> None:
    """A webhook to an allowed host is delivered once the job has finished."""
    job = queue(conn).enqueue("jobs.diagnostics.canary", 0,
                              webhooks=[Webhook(f"http://127.0.0.1:{sink.port}/done", "finished", method="POST")])
    run_burst(redis_url, WORKER_WEBHOOK_HOSTS="127.0.0.1")
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() == "finished"
    assert sink.requests == ["POST /done HTTP/1.1"]


def test_allowed_webhook_that_never_answers_is_given_up(conn: redis.Redis, redis_url: str,
                                                        hanging_sink: HttpSink) -> None:
    """An allowed webhook asking for a 600 s timeout to a server that never answers: the worker hangs
    up after its own short bound, so the burst run (limit 90 s) ends with the job finished."""
    hook = Webhook(f"http://127.0.0.1:{hanging_sink.port}/slow", "finished", timeout=600)
    job = queue(conn).enqueue("jobs.diagnostics.canary", 0, webhooks=[hook])
    run_burst(redis_url, WORKER_WEBHOOK_HOSTS="127.0.0.1")
    assert hanging_sink.requests == ["GET /slow HTTP/1.1"]
    assert hanging_sink.closed_by_client.wait(timeout=5), "the worker hung up on the webhook"
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() == "finished"


def test_webhook_hosts_setting_rejects_urls() -> None:
    """WORKER_WEBHOOK_HOSTS takes bare host names; a URL is a configuration error naming the variable."""
    from worker.errors import ConfigError
    from worker.settings import Settings

    assert Settings.from_env({"WORKER_WEBHOOK_HOSTS": "Hooks.Example.org, b.example"}).worker_webhook_hosts == (
        "hooks.example.org", "b.example")
    with pytest.raises(ConfigError, match="WORKER_WEBHOOK_HOSTS"):
        Settings.from_env({"WORKER_WEBHOOK_HOSTS": "https://hooks.example.org/x"})
