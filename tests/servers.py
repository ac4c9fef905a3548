"""Real redis-server processes for tests: plain, TLS (trustme certificates) and killable ones.

``TEST_REDIS_SERVER`` names another server binary for the plain servers, e.g. Valkey 8's
``valkey-server`` (``make test-valkey``). The TLS servers stay on ``redis-server``: the Valkey
binary that a registry package ships is built without TLS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import redis

#: The binary of the plain (non-TLS) servers.
SERVER_BINARY = os.environ.get("TEST_REDIS_SERVER") or "redis-server"


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """One redis-server on a free port; ``restart()`` keeps the port and (with AOF) the data."""

    password: str | None = None
    tls: bool = False
    appendonly: bool = False
    tls_dir: Path | None = None
    #: TLS only: clients must show a certificate signed by the CA (tls-auth-clients yes).
    auth_clients: bool = False
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cw-redis-")))
    process: subprocess.Popen[bytes] | None = None
    #: Every server this session created, for ``remove_all`` (which conftest calls at session end).
    created: ClassVar[list[RedisServer]] = []

    def __post_init__(self) -> None:
        RedisServer.created.append(self)

    @classmethod
    def remove_all(cls) -> None:
        """Stop every server still running and delete every working directory (logs, AOF files)."""
        for server in cls.created:
            with contextlib.suppress(Exception):
                server.stop(kill=True)
            shutil.rmtree(server.workdir, ignore_errors=True)
        cls.created.clear()

    def command(self) -> list[str]:
        binary = "redis-server" if self.tls else SERVER_BINARY
        cmd = [binary, "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", "",
               "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
               "--logfile", str(self.workdir / "redis.log")]
        if self.password:
            cmd += ["--requirepass", self.password]
        if self.tls:
            assert self.tls_dir is not None
            cmd += ["--port", "0", "--tls-port", str(self.port),
                    "--tls-cert-file", str(self.tls_dir / "server.pem"),
                    "--tls-key-file", str(self.tls_dir / "server.key"),
                    "--tls-ca-cert-file", str(self.tls_dir / "ca.pem"),
                    "--tls-auth-clients", "yes" if self.auth_clients else "no"]
        else:
            cmd += ["--port", str(self.port)]
        return cmd

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._answers():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start: {self.log_tail()}")

    def _answers(self) -> bool:
        if self.tls:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return True
            return False
        client = self.client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()  # an unclosed client is a ResourceWarning (an error) at the next gc

    def client(self) -> redis.Redis:
        assert not self.tls, "use a TLS-configured client for the TLS server"
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}localhost:{self.port}/0"

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self) -> str:
        log = self.workdir / "redis.log"
        return log.read_text()[-2000:] if log.exists() else "(no log)"
