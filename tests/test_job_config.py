"""Jobs get their configuration from the worker, and the worker maps the domain's errors to exit codes."""

from __future__ import annotations

import dataclasses

import pytest

from jobs import context
from jobs.config import JobConfig
from jobs.errors import JobConfigInvalid, PermanentJobError, RequestInvalid, TransientJobError
from jobs.generators import GeneratorConfig
from worker.errors import EXIT_UNHEALTHY, EXIT_USAGE, ConfigError, exit_code
from worker.jobconfig import job_config
from worker.settings import Settings


def test_job_config_carries_the_settings_jobs_use() -> None:
    """JOB_TIMEOUT, LLM_GLOBAL_CONCURRENCY / LEASE and the generator settings reach the job's config."""
    settings = Settings.from_env({"JOB_TIMEOUT": "120", "LLM_GLOBAL_CONCURRENCY": "6", "LLM_GLOBAL_LEASE": "9",
                                  "LLM_CONCURRENCY": "3", "OPENAI_TIMEOUT": "7"})
    config = job_config(settings)
    assert (config.job_timeout_s, config.llm_global_concurrency, config.llm_global_lease_s) == (120, 6, 9)
    generator = config.generator
    assert (generator.name, generator.concurrency, generator.request_timeout_s) == ("offline", 3, 7)


def test_a_job_run_without_an_installed_config_fails_clearly() -> None:
    """With no configuration installed (a plain rq worker) a job fails permanently, saying how to run it."""
    context.install(None)
    with pytest.raises(JobConfigInvalid, match="curriculum-worker run") as caught:
        context.current_config()
    assert isinstance(caught.value, PermanentJobError)
    installed = JobConfig(generator=GeneratorConfig(), job_timeout_s=5)
    context.install(installed)
    try:
        assert context.current_config() is installed
    finally:
        context.install(None)


def test_domain_errors_map_to_the_contracts_exit_codes() -> None:
    """A bad request or job configuration exits 2; other job failures 1; the runtime's own errors keep theirs."""
    assert exit_code(RequestInvalid(["topic: is required"])) == EXIT_USAGE
    assert exit_code(JobConfigInvalid(["LLM_CONCURRENCY: must be at least 1"])) == EXIT_USAGE
    assert exit_code(TransientJobError("model API timed out")) == EXIT_UNHEALTHY
    assert exit_code(ConfigError(["REDIS_URL: invalid"])) == EXIT_USAGE


def test_an_unusable_generator_config_is_a_settings_error_naming_the_variable() -> None:
    """GeneratorConfig's own checks reach the worker as a ConfigError (exit 2) naming each variable."""
    with pytest.raises(JobConfigInvalid, match="LLM_CONCURRENCY"):
        GeneratorConfig(concurrency=0)
    # Settings.from_env refuses this too; built directly, the worker's adapter must still translate it.
    broken = dataclasses.replace(Settings.from_env({}), llm_concurrency=0)
    with pytest.raises(ConfigError, match="LLM_CONCURRENCY"):
        job_config(broken)
