"""Client certificates: a redis-server that requires one (tls-auth-clients yes) works for doctor,
the probe and a real worker (its work horse and scheduler child included); without one, exit 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.conftest import clean_env, run_cli
from tests.servers import RedisServer
from worker.connection import build_redis
from worker.errors import ConfigError
from worker.jsonjob import JsonQueue
from worker.settings import Settings


def mtls_env(server: RedisServer, ca: Path, *, client_cert: bool = True, **extra: str) -> dict[str, str]:
    env = {"REDIS_URL": server.url, "REDIS_TLS_CA_FILE": str(ca / "ca.pem"), "REDIS_MAX_RETRIES": "0",
           "REDIS_CONNECT_TIMEOUT": "3", **extra}
    if client_cert:
        env.update(REDIS_TLS_CERT_FILE=str(ca / "client.pem"), REDIS_TLS_KEY_FILE=str(ca / "client.key"))
    return env


def client(server: RedisServer, ca: Path) -> redis.Redis:
    return build_redis(Settings.from_env(mtls_env(server, ca)))


def test_doctor_and_stats_use_the_client_certificate(mtls_server: RedisServer, tls_ca: Path) -> None:
    """doctor and stats --json connect to a server that requires a client certificate."""
    doctor = run_cli("doctor", env=clean_env(**mtls_env(mtls_server, tls_ca)))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "certificate verified" in doctor.stdout
    assert f"redis_tls_cert_file = {tls_ca / 'client.pem'}" in doctor.stdout
    stats = run_cli("stats", "--json", env=clean_env(**mtls_env(mtls_server, tls_ca)))
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["redis"]["tls"] is True


def test_a_worker_runs_jobs_over_mutual_tls(mtls_server: RedisServer, tls_ca: Path) -> None:
    """run --burst: the worker, its work horse and RQ's scheduler child all connect with the certificate."""
    conn = client(mtls_server, tls_ca)
    conn.flushall()
    job = JsonQueue("curriculum_generation", connection=conn).enqueue("jobs.curriculum.generate_curriculum",
                                                                      {"topic": "Mutual TLS"})
    result = run_cli("run", "--burst", env=clean_env(**mtls_env(mtls_server, tls_ca, LOG_FORMAT="json")))
    assert result.returncode == 0, result.stderr[-3000:]
    fetched = Job.fetch(job.id, connection=conn, serializer=JSONSerializer)
    assert fetched.get_status() == "finished"
    assert fetched.return_value()["topic"] == "Mutual TLS"
    conn.close()


def test_without_a_client_certificate_the_error_says_which_variables(mtls_server: RedisServer,
                                                                   tls_ca: Path) -> None:
    """No certificate for a server that requires one: exit 3 naming the two variables, not a TLS riddle."""
    result = run_cli("stats", env=clean_env(**mtls_env(mtls_server, tls_ca, client_cert=False)))
    assert result.returncode == 3, result.stderr
    # TLS 1.3: the server's "certificate required" alert, or (when it hangs up first) an EOF.
    assert "client certificate" in result.stderr, result.stderr
    assert "REDIS_TLS_CERT_FILE" in result.stderr and "REDIS_TLS_KEY_FILE" in result.stderr


def test_a_certificate_from_another_ca_is_rejected_by_name(mtls_server: RedisServer, tls_ca: Path,
                                                          tmp_path: Path) -> None:
    """A client certificate the server's CA did not sign: exit 3 saying the server rejected it."""
    import trustme

    stranger = trustme.CA().issue_cert("stranger")
    stranger.private_key_pem.write_to_path(str(tmp_path / "c.key"))
    stranger.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    env = mtls_env(mtls_server, tls_ca, client_cert=False, REDIS_TLS_CERT_FILE=str(tmp_path / "c.pem"),
                   REDIS_TLS_KEY_FILE=str(tmp_path / "c.key"))
    result = run_cli("stats", env=clean_env(**env))
    assert result.returncode == 3, result.stderr
    assert "client certificate" in result.stderr, result.stderr


@pytest.mark.parametrize(("env", "needle"), [
    ({"REDIS_TLS_KEY_FILE": "client.key"}, "REDIS_TLS_KEY_FILE: set without REDIS_TLS_CERT_FILE"),
    ({"REDIS_TLS_CERT_FILE": "client.pem"}, "REDIS_TLS_KEY_FILE: required with REDIS_TLS_CERT_FILE"),
    ({"REDIS_TLS_CERT_FILE": "client.key", "REDIS_TLS_KEY_FILE": "client.key"}, "holds no PEM certificate"),
    ({"REDIS_TLS_CERT_FILE": "client.pem", "REDIS_TLS_KEY_FILE": "ca.pem"}, "holds no PEM private key"),
])
def test_client_certificate_settings_are_checked_before_connecting(tls_ca: Path, env: dict[str, str],
                                                                   needle: str) -> None:
    """A key without its certificate, or files of the wrong kind: a settings error naming the variable."""
    environ = {"REDIS_URL": "rediss://localhost:1/0", **{k: str(tls_ca / v) for k, v in env.items()}}
    with pytest.raises(ConfigError, match=needle):
        Settings.from_env(environ)


def test_a_client_certificate_needs_tls(tls_ca: Path) -> None:
    """A client certificate with a plain redis:// URL is a settings error, not a silent no-op."""
    with pytest.raises(ConfigError, match="needs TLS"):
        Settings.from_env({"REDIS_URL": "redis://localhost:1/0", "REDIS_TLS_CERT_FILE": str(tls_ca / "client.pem"),
                           "REDIS_TLS_KEY_FILE": str(tls_ca / "client.key")})
