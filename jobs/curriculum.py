"""``jobs.curriculum.generate_curriculum``: the job other services enqueue.

A thin wrapper: it turns the worker's settings into a generator configuration, reports progress
into ``job.meta["progress"]`` and uses the job's own Redis connection for the caches and for the
lock that keeps identical requests running at once from being generated twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rq import get_current_job
from rq.job import Job

from jobs import llm_gate, provider_budget
from jobs.cache import Cache
from jobs.context import current_settings
from jobs.generation import generate
from jobs.generators import GeneratorConfig
from jobs.singleflight import SingleFlight
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
    )


def budget_config(settings: Settings) -> provider_budget.BudgetConfig:
    return provider_budget.BudgetConfig(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.reveal() if settings.openai_api_key else None,
        tokens_per_minute=settings.llm_tokens_per_minute,
        requests_per_minute=settings.llm_requests_per_minute,
        # A call in flight longer than its timeout (and retries' slack) belongs to a dead process.
        call_lease_s=2 * settings.openai_timeout_s + 10,
        enabled=settings.llm_budget,
    )


def _waiting_allowed_s(job: Job | None, settings: Settings) -> float:
    """How long a call may wait for the provider: until RQ's timeout for this run, less one call."""
    timeout = float(job.timeout) if job is not None and job.timeout else float(settings.job_timeout_s)
    started = job.started_at if job is not None else None
    if started is not None:
        timeout -= max(0.0, (datetime.now(UTC) - started.replace(tzinfo=UTC)).total_seconds())
    return max(timeout - settings.openai_timeout_s, timeout / 2)


def generate_curriculum(request: dict[str, Any]) -> dict[str, Any]:
    """Generate a curriculum for ``request`` (see docs/interface.md) and return it as JSON-able data."""
    job = get_current_job()

    def save_progress(stage: str, done: int, total: int) -> None:
        if job is not None:
            job.meta["progress"] = {"stage": stage, "done": done, "total": total}
            job.save_meta()  # type: ignore[no-untyped-call]

    # While a model call waits for the provider budget, the stage says so (issue 20).
    shown = provider_budget.WaitingProgress(save_progress)
    progress = shown.report
    # A requeued job still carries its earlier run's progress: this run starts from zero.
    progress("starting", 0, 1)
    settings = current_settings()
    cache = Cache(job.connection) if job is not None else None
    # Identical requests running at once (enqueued with plain rq, so not deduplicated) generate once.
    flight = SingleFlight(job.connection, wait_s=settings.job_timeout_s, holder=job.id) if job is not None else None
    llm_gate.install(llm_gate.LlmGate(job.connection if job is not None else None,
                                      settings.llm_global_concurrency, settings.llm_global_lease_s))
    provider_budget.install(provider_budget.ProviderBudget(
        job.connection if job is not None else None, budget_config(settings),
        deadline=time.monotonic() + _waiting_allowed_s(job, settings),
        on_wait=shown.waiting))
    return generate(request, generator_config(settings), progress, cache, flight)
