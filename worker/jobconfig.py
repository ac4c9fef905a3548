"""The one place the worker's settings become the configuration its jobs receive (``jobs.config``)."""

from __future__ import annotations

from jobs.config import JobConfig
from jobs.errors import JobConfigInvalid
from jobs.generators import GeneratorConfig
from worker.errors import ConfigError
from worker.settings import Settings


def generator_config(settings: Settings) -> GeneratorConfig:
    return GeneratorConfig(
        name="openai" if settings.curriculum_generator == "openai" else "offline",
        api_key=settings.openai_api_key.reveal() if settings.openai_api_key else None,
        base_url=settings.openai_base_url,
        model=settings.curriculum_model,
        concurrency=settings.llm_concurrency,
        request_timeout_s=settings.openai_timeout_s,
        max_tokens=settings.openai_max_tokens,
        temperature=settings.openai_temperature,
        seed=settings.openai_seed,
        call_retries=settings.openai_max_retries,
        retry_max_wait_s=settings.openai_retry_max_wait_s,
        max_calls_per_job=settings.openai_max_calls_per_job,
        max_tokens_per_job=settings.openai_max_tokens_per_job,
    )


def job_config(settings: Settings) -> JobConfig:
    """What ``jobs.curriculum.generate_curriculum`` runs with, from the worker's parsed settings;
    a ``ConfigError`` (exit 2, naming each variable) when the jobs could not use it."""
    try:
        generator = generator_config(settings)
    except JobConfigInvalid as exc:
        raise ConfigError(exc.problems) from None
    return JobConfig(
        generator=generator,
        job_timeout_s=settings.job_timeout_s,
        llm_global_concurrency=settings.llm_global_concurrency,
        llm_global_lease_s=settings.llm_global_lease_s,
        llm_budget=settings.llm_budget,
        llm_tokens_per_minute=settings.llm_tokens_per_minute,
        llm_requests_per_minute=settings.llm_requests_per_minute,
    )
