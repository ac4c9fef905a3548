"""The Redis factory against real servers: verified TLS, auth, wrong scheme, unreachable ports."""

from __future__ import annotations

import re
from pathlib import Path

import trustme

from tests.conftest import TLS_PASSWORD, clean_env, run_cli
from tests.servers import RedisServer, free_port
from worker.connection import build_redis, diagnose, endpoint
from worker.settings import Settings

FAST_RETRIES = {"REDIS_MAX_RETRIES": "1", "REDIS_RETRY_DELAY": "50", "REDIS_RETRY_MAX_DELAY": "100",
                "REDIS_CONNECT_TIMEOUT": "2"}


def tls_env(server: RedisServer, ca: Path | None, **extra: str) -> dict[str, str]:
    env = clean_env(REDIS_URL=server.url, **FAST_RETRIES, **extra)
    if ca is not None:
        env["REDIS_TLS_CA_FILE"] = str(ca / "ca.pem")
    return env


def test_verified_tls_with_the_ca_file_works(tls_server: RedisServer, tls_ca: Path) -> None:
    """rediss:// with REDIS_TLS_CA_FILE connects, verifies the certificate and reports TLS facts."""
    result = run_cli("doctor", env=tls_env(tls_server, tls_ca))
    assert result.returncode == 0, result.stderr
    assert re.search(r"tls: TLSv1\.[23] \S+, certificate verified", result.stdout)
    assert "write/read/delete of a scratch key: ok" in result.stdout
    assert TLS_PASSWORD not in result.stdout + result.stderr


def test_tls_without_the_ca_fails_verification(tls_server: RedisServer) -> None:
    """Without the CA the self-made certificate is rejected: exit 3, naming the fix."""
    result = run_cli("doctor", env=tls_env(tls_server, None))
    assert result.returncode == 3
    assert "certificate verification failed" in result.stderr
    assert "REDIS_TLS_CA_FILE" in result.stderr
    assert f"rediss://localhost:{tls_server.port}" in result.stderr
    assert "redis.retrying" not in result.stderr, "a certificate failure is not worth retrying"
    assert TLS_PASSWORD not in result.stdout + result.stderr


def test_verify_false_accepts_self_signed_and_warns(tls_server: RedisServer) -> None:
    """REDIS_TLS_VERIFY=false connects without the CA and logs a warning saying so."""
    result = run_cli("doctor", env=tls_env(tls_server, None, REDIS_TLS_VERIFY="false"))
    assert result.returncode == 0, result.stderr
    assert "redis.tls_unverified" in result.stderr
    assert "certificate NOT VERIFIED" in result.stdout


def test_wrong_password_exits_3_without_printing_passwords(tls_server: RedisServer, tls_ca: Path) -> None:
    """A wrong password is an auth failure: exit 3; neither the wrong nor the right password is shown."""
    wrong = "not-the-pw-91c2"
    env = tls_env(tls_server, tls_ca)
    env["REDIS_URL"] = f"rediss://:{wrong}@localhost:{tls_server.port}/0"
    result = run_cli("doctor", env=env)
    assert result.returncode == 3
    assert "authentication failed" in result.stderr
    output = result.stdout + result.stderr
    assert wrong not in output
    assert TLS_PASSWORD not in output


def test_plain_scheme_on_a_tls_port_hints_rediss(tls_server: RedisServer) -> None:
    """redis:// aimed at a TLS port exits 3 and suggests rediss://."""
    env = clean_env(REDIS_URL=f"redis://:{TLS_PASSWORD}@localhost:{tls_server.port}/0", **FAST_RETRIES)
    result = run_cli("doctor", env=env)
    assert result.returncode == 3
    assert "rediss://" in result.stderr
    assert f"redis://localhost:{tls_server.port}" in result.stderr
    assert TLS_PASSWORD not in result.stdout + result.stderr


def test_unreachable_port_exits_3_after_the_configured_retries() -> None:
    """With REDIS_MAX_RETRIES=3 the CLI retries exactly three times, with growing capped delays."""
    port = free_port()
    env = clean_env(REDIS_URL=f"redis://:pw-unused-77@127.0.0.1:{port}/0", REDIS_MAX_RETRIES="3",
                    REDIS_RETRY_DELAY="100", REDIS_RETRY_MAX_DELAY="300", REDIS_CONNECT_TIMEOUT="1")
    result = run_cli("doctor", env=env, timeout=30)
    assert result.returncode == 3
    retries = re.findall(r"redis\.retrying .*attempt (\d) of 3 in ([\d.]+)s", result.stderr)
    assert [int(attempt) for attempt, _ in retries] == [1, 2, 3]
    delays = [float(delay) for _, delay in retries]
    # Equal jitter: each delay lies between half its step and the step; steps 100, 200, 300 (capped) ms.
    for delay, step in zip(delays, (0.1, 0.2, 0.3), strict=True):
        assert step / 2 <= delay <= step
    assert f"redis://127.0.0.1:{port}" in result.stderr and "connection refused" in result.stderr
    assert "pw-unused-77" not in result.stderr


def test_factory_sets_verification_timeouts_and_retries(tmp_path: Path) -> None:
    """build_redis puts TLS, timeouts and retries into the pool kwargs (where RQ's children read them)."""
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    settings = Settings.from_env({"REDIS_URL": "redis://h:6379/0", "REDIS_TLS": "true",
                                  "REDIS_TLS_CA_FILE": str(ca), "REDIS_CONNECT_TIMEOUT": "4"})
    kwargs = build_redis(settings).connection_pool.connection_kwargs
    assert endpoint(settings).scheme == "rediss"
    assert kwargs["ssl_cert_reqs"] == "required" and kwargs["ssl_check_hostname"] is True
    assert kwargs["ssl_ca_certs"] == str(ca)
    assert kwargs["socket_connect_timeout"] == 4
    assert kwargs["retry"].get_retries() == 3


def test_diagnose_classifies_common_failures() -> None:
    """Refused and timed-out connections are transient; auth is not."""
    import redis

    where = endpoint(Settings.from_env({}))
    assert diagnose(redis.ConnectionError("Error 111 connecting. Connection refused."), where).transient
    assert diagnose(redis.TimeoutError("Timeout connecting to server"), where).transient
    assert not diagnose(redis.AuthenticationError("invalid password"), where).transient


def test_the_suite_runs_against_the_server_it_names(redis_server: RedisServer) -> None:
    """Under TEST_REDIS_SERVER=.../valkey-server (make test-valkey) the servers really are Valkey 8;
    otherwise Redis: a fallback to the wrong binary would pass the whole suite unnoticed."""
    from tests.servers import SERVER_BINARY

    info = redis_server.client().info("server")
    if "valkey" in Path(SERVER_BINARY).name:
        assert info.get("server_name") == "valkey" and str(info["valkey_version"]).startswith("8."), info
    else:
        assert "valkey_version" not in info, info
