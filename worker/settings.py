"""Configuration, read once from the environment into one typed, frozen object.

Only the CLI entry point calls ``Settings.from_env``; everything else receives the object. Every bad
or missing value is collected and reported together in one ``ConfigError`` before anything connects,
so an operator fixes a deploy in one round instead of one variable at a time. Secrets are wrapped
in ``Secret`` so that printing the settings (``doctor``, logs, tracebacks) shows ``***``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from worker.envfile import typo_problems
from worker.errors import ConfigError
from worker.redaction import redact_urls

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
GENERATORS = ("offline", "openai")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
# Each concurrent job is a worker process plus its work horse (~20 MiB PSS busy, bench.concurrency):
# 32 fills a 1 GiB instance; beyond that, add instances rather than processes.
MAX_CONCURRENCY = 32


class Secret:
    """A string that never shows itself in ``repr``/``str``; call ``reveal()`` where it is needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (user name and host stay: they help debugging)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:***@{host}{port}"
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True)
class Settings:
    """Every variable of docs/interface.md's environment table, parsed and validated."""

    redis_url: Secret
    redis_tls: bool
    redis_tls_ca_file: Path | None
    redis_tls_verify: bool
    redis_max_retries: int
    redis_retry_delay_ms: int
    redis_retry_max_delay_ms: int
    redis_connect_timeout_s: float
    worker_queues: tuple[str, ...]
    worker_shutdown_timeout_s: float
    worker_heartbeat_interval_s: int
    worker_stall_timeout_s: int
    worker_concurrency: int
    job_max_stalls: int
    job_timeout_s: int
    job_max_retries: int
    job_retry_delay_s: int
    job_retry_max_delay_s: int
    job_failure_ttl_s: int
    curriculum_generator: str
    openai_api_key: Secret | None
    openai_base_url: str | None
    curriculum_model: str
    llm_concurrency: int
    llm_global_concurrency: int | None
    llm_global_lease_s: int
    llm_tokens_per_minute: int | None
    llm_requests_per_minute: int | None
    llm_budget: bool
    openai_timeout_s: float
    openai_max_tokens: int
    openai_temperature: float
    openai_seed: int
    openai_max_retries: int
    openai_retry_max_wait_s: float
    openai_max_calls_per_job: int
    openai_max_tokens_per_job: int
    log_level: str
    log_format: str
    sentry_dsn: Secret | None
    sentry_environment: str | None
    render: bool
    # Hostile jobs (issue 10): hosts a job's webhooks may call; the largest job a worker will read.
    worker_webhook_hosts: tuple[str, ...] = ()
    job_max_payload_bytes: int = 4 * 1024 * 1024
    worker_metrics: bool = True
    # A client certificate for servers that require one (redis-server tls-auth-clients yes).
    redis_tls_cert_file: Path | None = None
    redis_tls_key_file: Path | None = None
    # Instances running `run` (Render's numInstances): `stats --min-workers auto` expects
    # worker_instances x worker_concurrency live workers.
    worker_instances: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, allow_unknown: bool = True) -> Settings:
        """Parse ``environ`` (default ``os.environ``); raise one ConfigError listing every problem.

        ``allow_unknown=False`` (the CLI's default) adds a problem for each variable one typo away
        from a known name (``worker.envfile.typo_problems``)."""
        reader = _Reader(os.environ if environ is None else environ)
        settings = cls(**_parse_all(reader))
        reader.problems.extend(_cross_checks(settings))
        if not allow_unknown:
            reader.problems.extend(typo_problems(reader.environ, reader.names_read))
        if reader.problems:
            raise ConfigError(reader.problems)
        return settings

    @property
    def redis_url_redacted(self) -> str:
        return redact_url(self.redis_url.reveal())

    @property
    def uses_tls(self) -> bool:
        return self.redis_tls or urlsplit(self.redis_url.reveal()).scheme == "rediss"

    def describe(self) -> dict[str, str]:
        """Name → printable value, secrets hidden; for ``doctor`` and start-up logs."""
        shown: dict[str, str] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "redis_url":
                shown[field.name] = self.redis_url_redacted
            elif isinstance(value, str) and "://" in value:
                # Any URL setting (OPENAI_BASE_URL...) may carry credentials too.
                shown[field.name] = redact_urls(value)
            elif isinstance(value, tuple):
                shown[field.name] = ",".join(value)
            else:
                shown[field.name] = "" if value is None else str(value)
        return shown


def _parse_all(r: _Reader) -> dict[str, Any]:
    api_key = r.secret("OPENAI_API_KEY")
    is_render = bool(r.text("RENDER", ""))
    return {
        "redis_url": Secret(r.redis_url("REDIS_URL", "redis://localhost:6379/0")),
        "redis_tls": r.boolean("REDIS_TLS", False),
        "redis_tls_ca_file": r.pem_file("REDIS_TLS_CA_FILE"),
        "redis_tls_verify": r.boolean("REDIS_TLS_VERIFY", True),
        "redis_tls_cert_file": r.pem_file("REDIS_TLS_CERT_FILE"),
        "redis_tls_key_file": r.key_file("REDIS_TLS_KEY_FILE"),
        "redis_max_retries": r.integer("REDIS_MAX_RETRIES", 3, low=0, high=100),
        "redis_retry_delay_ms": r.integer("REDIS_RETRY_DELAY", 1000, low=1, high=600_000),
        "redis_retry_max_delay_ms": r.integer("REDIS_RETRY_MAX_DELAY", 5000, low=1, high=3_600_000),
        "redis_connect_timeout_s": r.number("REDIS_CONNECT_TIMEOUT", 10.0, low=0.1, high=300),
        "worker_queues": r.names("WORKER_QUEUES", "curriculum_generation"),
        "worker_shutdown_timeout_s": r.number("WORKER_SHUTDOWN_TIMEOUT", 25.0, low=0, high=3600),
        "worker_heartbeat_interval_s": r.integer("WORKER_HEARTBEAT_INTERVAL", 10, low=1, high=600),
        "worker_stall_timeout_s": r.integer("WORKER_STALL_TIMEOUT", 60, low=2, high=86_400),
        # Jobs at once per `run` process tree; each is a forked worker process (see worker.supervisor).
        "worker_concurrency": r.integer("WORKER_CONCURRENCY", 1, low=1, high=MAX_CONCURRENCY),
        "worker_instances": r.integer("WORKER_INSTANCES", 1, low=1, high=1000),
        "job_max_stalls": r.integer("JOB_MAX_STALLS", 1, low=0, high=100),
        "job_timeout_s": r.integer("JOB_TIMEOUT", 900, low=1, high=86_400),
        "job_max_retries": r.integer("JOB_MAX_RETRIES", 3, low=0, high=100),
        "job_retry_delay_s": r.integer("JOB_RETRY_DELAY", 10, low=1, high=3600),
        "job_retry_max_delay_s": r.integer("JOB_RETRY_MAX_DELAY", 300, low=1, high=86_400),
        "job_failure_ttl_s": r.integer("JOB_FAILURE_TTL", 7 * 86_400, low=60, high=365 * 86_400),
        "curriculum_generator": r.choice(
            "CURRICULUM_GENERATOR", "openai" if api_key else "offline", GENERATORS
        ),
        "openai_api_key": api_key,
        "openai_base_url": r.http_url("OPENAI_BASE_URL"),
        "curriculum_model": r.text("CURRICULUM_MODEL", "gpt-4o-mini"),
        "llm_concurrency": r.integer("LLM_CONCURRENCY", 8, low=1, high=64),
        "llm_global_concurrency": r.optional_integer("LLM_GLOBAL_CONCURRENCY", low=1, high=10_000),
        "llm_global_lease_s": r.integer("LLM_GLOBAL_LEASE", 30, low=2, high=600),
        # The shared provider budget (jobs.provider_budget): rates for providers that send no
        # x-ratelimit-* headers; LLM_BUDGET=false turns the budget off (for comparison runs).
        "llm_tokens_per_minute": r.optional_integer("LLM_TOKENS_PER_MINUTE", low=100, high=1_000_000_000),
        "llm_requests_per_minute": r.optional_integer("LLM_REQUESTS_PER_MINUTE", low=1, high=10_000_000),
        "llm_budget": r.boolean("LLM_BUDGET", True),
        "openai_timeout_s": r.number("OPENAI_TIMEOUT", 60.0, low=1, high=900),
        "openai_max_tokens": r.integer("OPENAI_MAX_TOKENS", 4096, low=256, high=262_144),
        "openai_temperature": r.number("OPENAI_TEMPERATURE", 0.4, low=0, high=2),
        "openai_seed": r.integer("OPENAI_SEED", 42, low=0, high=2**31 - 1),
        "openai_max_retries": r.integer("OPENAI_MAX_RETRIES", 4, low=0, high=20),
        "openai_retry_max_wait_s": r.number("OPENAI_RETRY_MAX_WAIT", 30.0, low=0, high=600),
        "openai_max_calls_per_job": r.integer("OPENAI_MAX_CALLS_PER_JOB", 200, low=1, high=100_000),
        "openai_max_tokens_per_job": r.integer("OPENAI_MAX_TOKENS_PER_JOB", 3_000_000, low=1000, high=10**9),
        "log_level": r.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
        "log_format": r.choice("LOG_FORMAT", "json" if is_render else "text", ("json", "text")),
        "sentry_dsn": r.sentry_dsn("SENTRY_DSN"),
        "sentry_environment": r.text("SENTRY_ENVIRONMENT", "") or None,
        "render": is_render,
        "worker_webhook_hosts": r.hosts("WORKER_WEBHOOK_HOSTS"),
        "job_max_payload_bytes": r.integer("JOB_MAX_PAYLOAD_BYTES", 4 * 1024 * 1024, low=1024, high=512 * 1024 * 1024),
        "worker_metrics": r.boolean("WORKER_METRICS", True),
    }


def known_variables() -> frozenset[str]:
    """Every variable ``Settings`` reads, found by reading them: the one list of known names, so a
    setting added to ``_parse_all`` is known to the CLI's misspelling check at once."""
    reader = _Reader({})
    _parse_all(reader)
    return frozenset(reader.names_read)


def _cross_checks(s: Settings) -> list[str]:
    problems = []
    if s.redis_retry_max_delay_ms < s.redis_retry_delay_ms:
        problems.append("REDIS_RETRY_MAX_DELAY: must not be below REDIS_RETRY_DELAY")
    if s.job_retry_max_delay_s < s.job_retry_delay_s:
        problems.append("JOB_RETRY_MAX_DELAY: must not be below JOB_RETRY_DELAY")
    if s.curriculum_generator == "openai" and s.openai_api_key is None:
        problems.append("OPENAI_API_KEY: required when CURRICULUM_GENERATOR=openai")
    if s.worker_stall_timeout_s <= s.worker_heartbeat_interval_s:
        problems.append("WORKER_STALL_TIMEOUT: must be longer than WORKER_HEARTBEAT_INTERVAL")
    return problems + _client_certificate_checks(s)


def _client_certificate_checks(s: Settings) -> list[str]:
    """Certificate and key come as a pair (or the certificate file holds the key too), over TLS."""
    cert, key = s.redis_tls_cert_file, s.redis_tls_key_file
    if cert is None and key is None:
        return []
    if cert is None:
        return ["REDIS_TLS_KEY_FILE: set without REDIS_TLS_CERT_FILE (the client certificate it belongs to)"]
    problems = []
    if key is None and not holds_private_key(cert):
        problems.append("REDIS_TLS_KEY_FILE: required with REDIS_TLS_CERT_FILE (its file holds no private key)")
    if not s.uses_tls:
        problems.append("REDIS_TLS_CERT_FILE: a client certificate needs TLS; use a rediss:// URL or REDIS_TLS=true")
    return problems


def holds_private_key(path: Path) -> bool:
    try:
        return b"PRIVATE KEY-----" in path.read_bytes()[:1_000_000]
    except OSError:
        return False


class _Reader:
    """Reads variables, recording a problem (and returning the default) for each bad one."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []
        self.names_read: set[str] = set()

    def _get(self, name: str) -> str | None:
        self.names_read.add(name)
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return None
        return raw.strip()

    def _parse(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self._get(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            self.problems.append(f"{name}: {exc}")
            return default

    def text(self, name: str, default: str) -> str:
        return self._parse(name, default, str)

    def secret(self, name: str) -> Secret | None:
        raw = self._get(name)
        return Secret(raw) if raw else None

    def boolean(self, name: str, default: bool) -> bool:
        def parse(raw: str) -> bool:
            word = raw.lower()
            if word in TRUE_WORDS or word in FALSE_WORDS:
                return word in TRUE_WORDS
            raise ValueError(f"expected true or false, got {raw!r}")

        return self._parse(name, default, parse)

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        def parse(raw: str) -> int:
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"expected a whole number, got {raw!r}") from None
            return _in_range(value, low, high)

        return self._parse(name, default, parse)

    def optional_integer(self, name: str, *, low: int, high: int) -> int | None:
        """A whole number, or None when the variable is unset (for limits: no limit)."""
        if self._get(name) is None:
            return None
        return self.integer(name, low, low=low, high=high)

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        def parse(raw: str) -> float:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"expected a number, got {raw!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"expected a finite number, got {raw!r}")
            return _in_range(value, low, high)

        return self._parse(name, default, parse)

    def choice(self, name: str, default: str, allowed: tuple[str, ...], *, upper: bool = False) -> str:
        def parse(raw: str) -> str:
            value = raw.upper() if upper else raw.lower()
            if value not in allowed:
                raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
            return value

        return self._parse(name, default, parse)

    def names(self, name: str, default: str) -> tuple[str, ...]:
        def parse(raw: str) -> tuple[str, ...]:
            items = tuple(item.strip() for item in raw.split(","))
            if any(not item for item in items):
                raise ValueError(f"empty queue name in {raw!r}")
            if len(set(items)) != len(items):
                raise ValueError(f"duplicate queue name in {raw!r}")
            return items

        return self._parse(name, parse(default), parse)

    def hosts(self, name: str) -> tuple[str, ...]:
        """Comma-separated host names, lower-cased; empty by default."""

        def parse(raw: str) -> tuple[str, ...]:
            items = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
            bad = [item for item in items if "/" in item or ":" in item or "@" in item]
            if bad:
                raise ValueError(f"expected bare host names (no scheme, port or path), got {bad[0]!r}")
            return items

        return self._parse(name, (), parse)

    def pem_file(self, name: str) -> Path | None:
        """A file of PEM certificates: anything else would fail later as a misleading TLS error."""

        def parse(raw: str) -> Path | None:
            path = Path(raw).expanduser()
            try:
                head = path.read_bytes()[:1_000_000]
            except OSError:
                raise ValueError(f"no readable file at {raw}") from None
            if b"-----BEGIN CERTIFICATE-----" not in head:
                raise ValueError(f"{raw} holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
                                 "convert a DER file with: openssl x509 -inform der -in FILE -out FILE.pem")
            return path

        return self._parse(name, None, parse)

    def sentry_dsn(self, name: str) -> Secret | None:
        """A DSN as Sentry shows it (``https://KEY@HOST/PROJECT_ID``); never echoed: the key is a secret."""

        def parse(raw: str) -> Secret | None:
            problem = dsn_problem(raw)
            if problem:
                raise ValueError(f"malformed Sentry DSN ({problem}); expected https://KEY@HOST/PROJECT_ID")
            return Secret(raw)

        return self._parse(name, None, parse)

    def key_file(self, name: str) -> Path | None:
        """A PEM private key without a passphrase (there is no variable for one)."""

        def parse(raw: str) -> Path | None:
            path = Path(raw).expanduser()
            try:
                head = path.read_bytes()[:1_000_000]
            except OSError:
                raise ValueError(f"no readable file at {raw}") from None
            if b"ENCRYPTED PRIVATE KEY-----" in head or b"Proc-Type: 4,ENCRYPTED" in head:
                raise ValueError(f"{raw} is encrypted; decrypt it (openssl pkey -in FILE -out FILE.key)")
            if b"PRIVATE KEY-----" not in head:
                raise ValueError(f"{raw} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
            return path

        return self._parse(name, None, parse)

    def http_url(self, name: str) -> str | None:
        def parse(raw: str) -> str | None:
            if urlsplit(raw).scheme not in ("http", "https") or not urlsplit(raw).hostname:
                raise ValueError("expected an http:// or https:// URL")
            return raw

        return self._parse(name, None, parse)

    def redis_url(self, name: str, default: str) -> str:
        def parse(raw: str) -> str:
            if "://" not in raw:
                # host:port without a scheme parses as a scheme named after the host: say the fix.
                fixed = redact_url(f"redis://{raw}")
                raise ValueError(f"no scheme; write it as {fixed} (or rediss:// for TLS)")
            try:
                parts = urlsplit(raw)
                parts.port  # noqa: B018 - raises ValueError on a malformed port
            except ValueError:
                # The URL may hold a password: describe the problem, never echo the value.
                raise ValueError("malformed URL (bad port?)") from None
            if parts.scheme not in ("redis", "rediss"):
                raise ValueError(f"scheme must be redis:// or rediss://, got {parts.scheme or 'none'!r}")
            if not parts.hostname:
                raise ValueError("URL has no host")
            if "ssl" in parts.query.lower():
                # redis-py lets URL options override ours: ?ssl_cert_reqs=none would switch
                # verification off without the start-up warning.
                raise ValueError("TLS options in the URL are not accepted; use REDIS_TLS_VERIFY / REDIS_TLS_CA_FILE")
            return raw

        return self._parse(name, default, parse)


def dsn_problem(raw: str) -> str | None:
    """What is wrong with a Sentry DSN, in words that do not repeat it; None when it looks right."""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "bad port"
    if parts.scheme not in ("http", "https"):
        return "scheme must be https:// or http://"
    if not parts.username:
        return "no public key before the @"
    if not parts.hostname:
        return "no host"
    if not parts.path.rstrip("/").rsplit("/", 1)[-1].isdigit():
        return "no numeric project id at the end of the path"
    return None


def _in_range(value: T, low: Any, high: Any) -> T:
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}, got {value}")
    return value
