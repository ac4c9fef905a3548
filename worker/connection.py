"""The one factory for Redis clients, and the start-up connect loop.

``build_redis`` is the only place TLS, timeouts and retries are set. Every option goes into the
connection pool's kwargs, because RQ rebuilds clients in child processes from those kwargs.

Three retry layers exist in this service and each is defined once: the start-up connect loop here,
per-command retries (redis-py ``Retry`` below), and per-job retries (``worker.retries``). The
start-up loop pings with per-command retries switched off, so the two layers never multiply.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from redis.backoff import AbstractBackoff, EqualJitterBackoff, NoBackoff
from redis.retry import Retry

from worker.errors import RedisUnavailable
from worker.settings import Settings

logger = logging.getLogger(__name__)

CLIENT_NAME = "curriculum-worker"
RETRYABLE_ERRORS = (redis.ConnectionError, redis.TimeoutError)


@dataclass(frozen=True)
class Endpoint:
    """Where we connect, in words safe to print: no password."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def effective_url(settings: Settings) -> str:
    """The URL to dial: ``REDIS_TLS=true`` upgrades ``redis://`` to ``rediss://``.

    Rewriting the scheme (rather than passing ``ssl=True``) keeps one switch for TLS, and redis-py
    rejects ``ssl=True`` alongside a ``rediss://`` URL.
    """
    url = settings.redis_url.reveal()
    if settings.redis_tls and url.startswith("redis://"):
        return "rediss://" + url[len("redis://") :]
    return url


def endpoint(settings: Settings) -> Endpoint:
    parts = urlsplit(effective_url(settings))
    return Endpoint(parts.scheme, parts.hostname or "localhost", parts.port or 6379)


def backoff_policy(settings: Settings) -> AbstractBackoff:
    """Capped exponential backoff with equal jitter: never shorter than half the step, never past the cap."""
    return EqualJitterBackoff(
        cap=settings.redis_retry_max_delay_ms / 1000, base=settings.redis_retry_delay_ms / 1000
    )


def command_retry(settings: Settings) -> Retry:
    return Retry(backoff_policy(settings), settings.redis_max_retries, RETRYABLE_ERRORS)


def _tls_kwargs(settings: Settings) -> dict[str, object]:
    return {**_verification_kwargs(settings), **_client_certificate_kwargs(settings)}


def _client_certificate_kwargs(settings: Settings) -> dict[str, object]:
    """For servers that require clients to show a certificate (``tls-auth-clients yes``)."""
    if settings.redis_tls_cert_file is None:
        return {}
    kwargs: dict[str, object] = {"ssl_certfile": str(settings.redis_tls_cert_file)}
    if settings.redis_tls_key_file is not None:
        kwargs["ssl_keyfile"] = str(settings.redis_tls_key_file)
    return kwargs


def _verification_kwargs(settings: Settings) -> dict[str, object]:
    if not settings.redis_tls_verify:
        # Only for servers with self-signed certificates (e.g. Heroku Redis); `run` logs a warning.
        return {"ssl_cert_reqs": "none", "ssl_check_hostname": False}
    kwargs: dict[str, object] = {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_min_version": ssl.TLSVersion.TLSv1_2,
    }
    if settings.redis_tls_ca_file is not None:
        kwargs["ssl_ca_certs"] = str(settings.redis_tls_ca_file)
    return kwargs


def build_redis(settings: Settings) -> redis.Redis:
    """A client configured from settings. It does not connect until first used."""
    kwargs: dict[str, object] = {
        "socket_connect_timeout": settings.redis_connect_timeout_s,
        "socket_timeout": settings.redis_connect_timeout_s,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry": command_retry(settings),
        "client_name": CLIENT_NAME,
    }
    if endpoint(settings).scheme == "rediss":
        kwargs.update(_tls_kwargs(settings))
    return redis.Redis.from_url(effective_url(settings), **kwargs)


class Reconnect:
    """The reconnect policy, shared by start-up and the worker's idle loop.

    ``REDIS_MAX_RETRIES`` waits with the settings' backoff, each logged as ``redis.retrying``; then,
    or at once for errors waiting cannot fix (TLS, auth), ``RedisUnavailable`` naming the fix.
    """

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep,
                 max_retries: int | None = None) -> None:
        self.settings = settings
        self.sleep = sleep
        self.backoff = backoff_policy(settings)
        self.where = endpoint(settings)
        self.failures = 0
        self.max_retries = settings.redis_max_retries if max_retries is None else max_retries

    def diagnose(self, exc: BaseException) -> Diagnosis:
        """``diagnose``, plus one plain-text PING when a TLS connection timed out: a plain Redis
        port answers nothing to a TLS hello, which would otherwise look like a firewall."""
        diagnosis = diagnose(exc, self.where)
        if self.where.scheme == "rediss" and diagnosis.reason == "timed out" and speaks_plain_redis(
                self.where, self.settings.redis_connect_timeout_s):
            return Diagnosis("the server speaks plain Redis on this port, not TLS",
                             "Use a redis:// URL (and no REDIS_TLS=true), or the server's TLS port.", False,
                             self.where)
        return diagnosis

    def give_up(self, exc: BaseException) -> RedisUnavailable:
        """Log ``redis.unavailable`` and return the error to raise (exit code 3)."""
        diagnosis = self.diagnose(exc)
        logger.error("redis.unavailable %s", diagnosis.message,
                     extra={"event": "redis.unavailable", "endpoint": str(self.where), "retries": self.failures})
        return RedisUnavailable(diagnosis.message)

    def wait_or_give_up(self, exc: BaseException) -> None:
        diagnosis = self.diagnose(exc)
        limit = self.max_retries
        if not diagnosis.transient or self.failures >= limit:
            raise self.give_up(exc) from exc
        delay = self.backoff.compute(self.failures)
        self.failures += 1
        logger.warning("redis.retrying %s: %s; attempt %d of %d in %.2fs", self.where, diagnosis.reason,
                       self.failures, limit, delay,
                       extra={"event": "redis.retrying", "endpoint": str(self.where), "attempt": self.failures,
                              "max_retries": limit, "delay_s": round(delay, 3)})
        self.sleep(delay)

    def succeeded(self) -> int:
        """Reset after a success; returns how many failures came before it."""
        failures, self.failures = self.failures, 0
        return failures


def _client_name_denied(client: redis.Redis, exc: redis.RedisError) -> bool:
    """An ACL that denies CLIENT SETNAME (``-client|setname``) must not make every command exit 3:
    the name only labels our connections in CLIENT LIST. Go on without it (once, with a warning);
    work horses and RQ's scheduler build their clients from the same pool options."""
    options = client.connection_pool.connection_kwargs
    if not isinstance(exc, redis.exceptions.NoPermissionError) or "setname" not in str(exc).lower():
        return False
    if not options.get("client_name"):
        return False
    options["client_name"] = None
    client.connection_pool.reset()  # the pool's existing connection would send the name again
    logger.warning("redis.client_name_denied: CLIENT SETNAME is denied by the server's ACL; connecting unnamed",
                   extra={"event": "redis.client_name_denied"})
    return True


def connect(settings: Settings, sleep: Callable[[float], None] = time.sleep, *,
            retries: int | None = None) -> redis.Redis:
    """Build a client and PING until it answers, or raise RedisUnavailable with a likely fix.

    The PING runs with per-command retries off, so start-up waits follow ``Reconnect`` alone.
    ``retries`` overrides REDIS_MAX_RETRIES (a health probe makes one attempt: ``retries=0``).
    """
    where = endpoint(settings)
    if where.scheme == "rediss" and not settings.redis_tls_verify:
        logger.warning(
            "redis.tls_unverified REDIS_TLS_VERIFY=false: the certificate of %s is NOT verified; "
            "anyone on the network path can impersonate the server. Prefer REDIS_TLS_CA_FILE.",
            where,
            extra={"event": "redis.tls_unverified", "endpoint": str(where)},
        )
    client = build_redis(settings)
    client.set_retry(Retry(NoBackoff(), 0, RETRYABLE_ERRORS))
    reconnect = Reconnect(settings, sleep, max_retries=retries)
    try:
        while True:
            try:
                client.ping()
                return client
            except redis.RedisError as exc:
                if _client_name_denied(client, exc):
                    continue
                try:
                    reconnect.wait_or_give_up(exc)
                except RedisUnavailable:
                    client.close()
                    raise
    finally:
        client.set_retry(command_retry(settings))


@dataclass(frozen=True)
class Diagnosis:
    reason: str
    hint: str
    transient: bool
    where: Endpoint

    @property
    def message(self) -> str:
        return f"cannot use Redis at {self.where} ({self.where.scheme}): {self.reason}. {self.hint}"


def diagnose(exc: BaseException, where: Endpoint) -> Diagnosis:
    """Turn a redis-py error into a reason an operator can act on."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, redis.AuthenticationError) or "wrongpass" in lowered or "noauth" in lowered:
        return Diagnosis("authentication failed", "Check the password in REDIS_URL.", False, where)
    if "certificate verify failed" in lowered or isinstance(exc.__cause__, ssl.SSLCertVerificationError):
        return Diagnosis(
            "TLS certificate verification failed",
            "Set REDIS_TLS_CA_FILE to the CA bundle that signed the server's certificate "
            "(or, for a self-signed certificate you accept, REDIS_TLS_VERIFY=false).",
            False,
            where,
        )
    client_certificate = _client_certificate_diagnosis(lowered, where)
    if client_certificate is not None:
        return client_certificate
    if "ssl" in lowered or "tls" in lowered or "wrong version number" in lowered:
        return Diagnosis(f"TLS handshake failed ({_short(text)})",
                         "Check that the server speaks TLS on this port and the scheme is right.",
                         False, where)
    if where.scheme == "redis" and ("reset by peer" in lowered or "closed by server" in lowered):
        return Diagnosis("connection reset during the handshake",
                         "The server probably expects TLS: use a rediss:// URL (or REDIS_TLS=true).",
                         True, where)
    if isinstance(exc, redis.TimeoutError) or "timed out" in lowered:
        return Diagnosis("timed out", "Check host, port and firewall, or raise REDIS_CONNECT_TIMEOUT.",
                         True, where)
    if "refused" in lowered:
        return Diagnosis("connection refused", "Is Redis running and listening on this host and port?",
                         True, where)
    if isinstance(exc, redis.ConnectionError):
        return Diagnosis(f"connection failed ({_short(text)})", "Check REDIS_URL.", True, where)
    return Diagnosis(f"Redis error ({_short(text)})", "Check REDIS_URL and the server's logs.", False, where)


def _client_certificate_diagnosis(lowered: str, where: Endpoint) -> Diagnosis | None:
    """Mutual TLS: the server wanted a client certificate, or did not accept ours."""
    if "certificate required" in lowered:
        return Diagnosis("the server requires a client certificate",
                         "Set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE to the certificate and key it accepts.",
                         False, where)
    if "unknown ca" in lowered or "bad certificate" in lowered:
        return Diagnosis("the server rejected our client certificate",
                         "REDIS_TLS_CERT_FILE must be signed by a CA the server trusts (tls-ca-cert-file).",
                         False, where)
    if "eof occurred in violation of protocol" in lowered or "unexpected eof" in lowered:
        # A server refusing a client's certificate (or its absence) often just hangs up, with no alert.
        return Diagnosis("the server closed the connection during the TLS handshake",
                         "If it requires client certificates, set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE "
                         "to a certificate signed by a CA it trusts.", False, where)
    return None


def answers_quickly(client: redis.Redis, timeout_s: float = 1.0) -> bool:
    """One PING on a fresh connection with a short timeout and no retries (the client's own may be
    stuck in a command or its retries): whether Redis is there at all."""
    kwargs = dict(client.connection_pool.connection_kwargs)
    kwargs.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0))
    probe = client.connection_pool.connection_class(**kwargs)
    try:
        probe.send_command("PING")
        return bool(probe.read_response())
    except (redis.RedisError, OSError):
        return False
    finally:
        probe.disconnect()


def speaks_plain_redis(where: Endpoint, timeout_s: float) -> bool:
    """Whether ``where`` answers a plain-text PING in RESP (``+PONG``, ``-NOAUTH``...)."""
    try:
        with socket.create_connection((where.host, where.port), timeout=min(timeout_s, 5.0)) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply[:1] in (b"+", b"-") and reply.endswith(b"\r\n")


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
