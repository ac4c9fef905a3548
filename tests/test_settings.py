"""Settings: defaults match docs/interface.md, every bad value is reported together, secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import EXIT_USAGE, ConfigError
from worker.settings import Secret, Settings, redact_url


def test_defaults_match_the_contract() -> None:
    """An empty environment gives exactly the contract's defaults."""
    s = Settings.from_env({})
    assert s.redis_url.reveal() == "redis://localhost:6379/0"
    assert (s.redis_tls, s.redis_tls_ca_file, s.redis_tls_verify) == (False, None, True)
    assert (s.redis_max_retries, s.redis_retry_delay_ms, s.redis_retry_max_delay_ms) == (3, 1000, 5000)
    assert s.redis_connect_timeout_s == 10
    assert s.worker_queues == ("curriculum_generation",)
    assert (s.worker_shutdown_timeout_s, s.worker_heartbeat_interval_s, s.worker_stall_timeout_s) == (25, 10, 60)
    assert (s.job_max_stalls, s.job_timeout_s, s.job_max_retries) == (1, 900, 3)
    assert s.curriculum_generator == "offline"
    assert s.llm_concurrency == 8
    assert (s.log_level, s.log_format) == ("INFO", "text")
    assert s.sentry_dsn is None


def test_generator_defaults_to_openai_with_a_key_and_json_logs_on_render() -> None:
    """OPENAI_API_KEY switches the default generator; RENDER switches the default log format."""
    s = Settings.from_env({"OPENAI_API_KEY": "sk-test-123456", "RENDER": "true"})
    assert s.curriculum_generator == "openai"
    assert s.log_format == "json"


def test_every_bad_value_is_named_in_one_error() -> None:
    """Five bad variables produce one ConfigError naming all five, with the usage exit code."""
    env = {
        "REDIS_URL": "http://example.com",
        "REDIS_MAX_RETRIES": "three",
        "REDIS_TLS_VERIFY": "maybe",
        "WORKER_QUEUES": "a,,b",
        "LLM_CONCURRENCY": "0",
    }
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    for name in env:
        assert name in message
    assert len(caught.value.problems) == 5
    assert caught.value.exit_code == EXIT_USAGE


def test_cross_field_problems_are_reported() -> None:
    """A max delay below the base delay, and openai without a key, are configuration errors."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_RETRY_DELAY": "2000", "REDIS_RETRY_MAX_DELAY": "100",
                           "CURRICULUM_GENERATOR": "openai"})
    assert {p.split(":")[0] for p in caught.value.problems} == {"REDIS_RETRY_MAX_DELAY", "OPENAI_API_KEY"}


def test_missing_ca_file_is_named(tmp_path: Path) -> None:
    """REDIS_TLS_CA_FILE must point at a file."""
    with pytest.raises(ConfigError, match="REDIS_TLS_CA_FILE"):
        Settings.from_env({"REDIS_TLS_CA_FILE": str(tmp_path / "missing.pem")})


def test_tls_options_in_the_url_are_refused() -> None:
    """ssl_cert_reqs in the URL would silently turn verification off; only REDIS_TLS_VERIFY may."""
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_env({"REDIS_URL": "rediss://:pw@host:6379/0?ssl_cert_reqs=none"})


def test_secrets_never_print() -> None:
    """Passwords, API keys and DSNs show as *** in repr, str and describe()."""
    s = Settings.from_env({"REDIS_URL": "rediss://user:hunter2pw@red-x.example:6379/0",
                           "OPENAI_API_KEY": "sk-live-abcdef", "SENTRY_DSN": "https://k3y@o1.ingest/1"})
    shown = repr(s) + str(s.describe())
    for secret in ("hunter2pw", "sk-live-abcdef", "k3y@"):
        assert secret not in shown
    assert s.describe()["redis_url"] == "rediss://user:***@red-x.example:6379/0"
    assert str(Secret("x")) == "***"


def test_bad_redis_url_error_does_not_echo_the_password() -> None:
    """A malformed URL is reported without its value, since it may hold a password."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_URL": "redis://:s3cretpw@host:notaport/0"})
    assert "s3cretpw" not in str(caught.value)


def test_redact_url_keeps_host_and_user() -> None:
    """redact_url hides only the password."""
    assert redact_url("redis://default:pw@10.0.0.1:6380/2") == "redis://default:***@10.0.0.1:6380/2"
    assert redact_url("redis://localhost:6379/0") == "redis://localhost:6379/0"


def test_concurrency_and_global_llm_limit_defaults_and_bounds() -> None:
    """WORKER_CONCURRENCY defaults to 1 (max 32); LLM_GLOBAL_CONCURRENCY unset means no limit; bad values are named."""
    defaults = Settings.from_env({})
    assert (defaults.worker_concurrency, defaults.llm_global_concurrency, defaults.llm_global_lease_s) == (1, None, 30)
    tuned = Settings.from_env({"WORKER_CONCURRENCY": "10", "LLM_GLOBAL_CONCURRENCY": "16", "LLM_GLOBAL_LEASE": "5"})
    assert (tuned.worker_concurrency, tuned.llm_global_concurrency, tuned.llm_global_lease_s) == (10, 16, 5)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"WORKER_CONCURRENCY": "33", "LLM_GLOBAL_CONCURRENCY": "0", "LLM_GLOBAL_LEASE": "1"})
    for name in ("WORKER_CONCURRENCY", "LLM_GLOBAL_CONCURRENCY", "LLM_GLOBAL_LEASE"):
        assert name in str(caught.value)


def test_model_call_settings_have_sane_defaults_and_reach_the_generator() -> None:
    """OPENAI_TIMEOUT, OPENAI_MAX_TOKENS, temperature, seed and per-call retries default sanely and are passed on."""
    from worker.jobconfig import generator_config

    s = Settings.from_env({})
    assert (s.openai_timeout_s, s.openai_max_tokens, s.openai_temperature, s.openai_seed) == (60, 4096, 0.4, 42)
    assert (s.openai_max_retries, s.openai_retry_max_wait_s) == (4, 30)
    env = {"OPENAI_TIMEOUT": "12.5", "OPENAI_MAX_TOKENS": "2000", "OPENAI_TEMPERATURE": "0",
           "OPENAI_SEED": "7", "OPENAI_MAX_RETRIES": "1", "OPENAI_RETRY_MAX_WAIT": "3"}
    config = generator_config(Settings.from_env(env))
    assert (config.request_timeout_s, config.max_tokens, config.temperature, config.seed) == (12.5, 2000, 0, 7)
    assert (config.call_retries, config.retry_max_wait_s) == (1, 3)


def test_bad_model_call_settings_are_named_together() -> None:
    """Every bad OPENAI_* call setting is reported in one ConfigError."""
    env = {"OPENAI_TIMEOUT": "0", "OPENAI_MAX_TOKENS": "lots", "OPENAI_TEMPERATURE": "3",
           "OPENAI_SEED": "-1", "OPENAI_MAX_RETRIES": "99", "OPENAI_RETRY_MAX_WAIT": "nan"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert {p.split(":")[0] for p in caught.value.problems} == set(env)
