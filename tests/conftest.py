"""Shared fixtures: private redis-server instances (plain and TLS) and a clean environment."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
import trustme
from rq.job import Job

from tests.servers import SERVER_BINARY, RedisServer
from worker.envfile import read_dotenv

if TYPE_CHECKING:  # tests.workers imports this module
    from tests.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[1]
TLS_PASSWORD = "tls-secret-pw-4d1f"

# Variables the service reads; tests start from an environment without any of them.
_OURS = ("REDIS_", "WORKER_", "JOB_", "CURRICULUM_", "OPENAI_", "LLM_", "LOG_", "SENTRY_", "RENDER")


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without the service's variables, plus ``overrides``.

    The CLI reads a ``.env`` from its working directory (the repository, for tests) for variables
    the environment leaves unset; a developer's own ``.env`` must not leak into the tests, so
    every name it sets is set here, empty (which the settings read as unset).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(dict.fromkeys(read_dotenv(ROOT / ".env"), ""))
    env.update(overrides)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 60, input: str | bytes | None = None,
            cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``python -m worker`` as an operator would, capturing its output (bytes input: a binary stdin)."""
    if isinstance(input, bytes):
        done = subprocess.run([sys.executable, "-m", "worker", *args], env=env, capture_output=True,
                              timeout=timeout, cwd=cwd, input=input)
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(errors="replace"),
                                           done.stderr.decode(errors="replace"))
    return subprocess.run([sys.executable, "-m", "worker", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, input=input)


def pytest_configure(config: pytest.Config) -> None:
    """Fail in one line, before collecting anything, when the tests cannot start their Redis servers."""
    if shutil.which("redis-server") is None:
        raise pytest.UsageError("redis-server not found on PATH: the tests start their own Redis servers. "
                                "Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).")
    if shutil.which(SERVER_BINARY) is None:
        raise pytest.UsageError(f"TEST_REDIS_SERVER={SERVER_BINARY} is not an executable server binary")
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background by a non-interactive shell (`make test &`, nohup), which ignores
        # SIGINT and passes that on to every process it starts. The tests press Ctrl+C on the CLI
        # and on workers: with a handler here, their processes start with SIGINT at its default.
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _remove_servers_and_logs() -> Iterator[None]:
    """At the end of the session, interrupted or not: no redis-server or worker left, no temp file."""
    yield
    from tests.workers import WorkerProcess

    WorkerProcess.remove_all()
    RedisServer.remove_all()


@pytest.fixture(autouse=True)
def _signal_handlers_restored() -> Iterator[None]:
    """A worker run in-process (RQ's work()) installs its own SIGINT/SIGTERM handlers and leaves them:
    Ctrl+C must go on stopping the test run, not "warm shut down" a worker that is long gone."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def failure(job: Job) -> str:
    """The exception text RQ stored for a job's latest (failed) run, or ''."""
    result = job.latest_result()
    return (result.exc_string or "") if result is not None else ""


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts (append them); each still running is killed at the end."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A private, empty Redis for one test."""
    client = redis_server.client()
    client.flushall()
    yield redis_server.url
    client.close()


@pytest.fixture
def conn(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def tls_ca() -> Iterator[Path]:
    """A throwaway CA and server certificate; deleted at session end, even an interrupted one."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = Path(tempfile.mkdtemp(prefix="cw-tls-"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_pem.write_to_path(str(folder / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    # A client certificate from the same CA, for servers that require one (mtls_server).
    client = ca.issue_cert("curriculum-worker-client")
    client.private_key_pem.write_to_path(str(folder / "client.key"))
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def mtls_server(tls_ca: Path) -> Iterator[RedisServer]:
    """TLS that requires a client certificate signed by tls_ca (client.pem / client.key there)."""
    server = RedisServer(password=TLS_PASSWORD, tls=True, tls_dir=tls_ca, auth_clients=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_server(tls_ca: Path) -> Iterator[RedisServer]:
    server = RedisServer(password=TLS_PASSWORD, tls=True, tls_dir=tls_ca).start()
    yield server
    server.stop()
