"""``jobs.curriculum.generate_curriculum``: the job other services enqueue.

A thin wrapper: it takes the configuration the worker installed (``jobs.context``), reports progress
into ``job.meta["progress"]`` (and announces it, ``jobs.notify``) and uses the job's own Redis
connection for the caches and for the lock that keeps identical requests running at once from
being generated twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rq import get_current_job
from rq.job import Job

from jobs import llm_gate, notify, provider_budget
from jobs.cache import Cache
from jobs.config import JobConfig
from jobs.context import current_config
from jobs.generation import generate
from jobs.singleflight import SingleFlight


def budget_config(config: JobConfig) -> provider_budget.BudgetConfig:
    generator = config.generator
    return provider_budget.BudgetConfig(
        base_url=generator.base_url,
        api_key=generator.api_key,
        tokens_per_minute=config.llm_tokens_per_minute,
        requests_per_minute=config.llm_requests_per_minute,
        # A call in flight longer than its timeout (and some slack) belongs to a dead process.
        call_lease_s=2 * generator.request_timeout_s + 10,
        enabled=config.llm_budget,
    )


def _waiting_allowed_s(job: Job | None, config: JobConfig) -> float:
    """How long a call may wait for the provider: until RQ's timeout for this run, less one call."""
    timeout = float(job.timeout) if job is not None and job.timeout else float(config.job_timeout_s)
    started = job.started_at if job is not None else None
    if started is not None:
        timeout -= max(0.0, (datetime.now(UTC) - started.replace(tzinfo=UTC)).total_seconds())
    return max(timeout - config.generator.request_timeout_s, timeout / 2)


def generate_curriculum(request: dict[str, Any]) -> dict[str, Any]:
    """Generate a curriculum for ``request`` (see docs/interface.md) and return it as JSON-able data."""
    job = get_current_job()

    def save_progress(stage: str, done: int, total: int) -> None:
        if job is not None:
            job.meta["progress"] = {"stage": stage, "done": done, "total": total}
            job.save_meta()  # type: ignore[no-untyped-call]
            notify.publish(job.connection, job.id, "started", job.meta["progress"])

    # While a model call waits for the provider budget, the stage says so (issue 20).
    shown = provider_budget.WaitingProgress(save_progress)
    progress = shown.report
    # A requeued job still carries its earlier run's progress: this run starts from zero.
    progress("starting", 0, 1)
    config = current_config()
    cache = Cache(job.connection) if job is not None else None
    # Identical requests running at once (enqueued with plain rq, so not deduplicated) generate once.
    flight = SingleFlight(job.connection, wait_s=config.job_timeout_s, holder=job.id) if job is not None else None
    llm_gate.install(llm_gate.LlmGate(job.connection if job is not None else None,
                                      config.llm_global_concurrency, config.llm_global_lease_s))
    provider_budget.install(provider_budget.ProviderBudget(
        job.connection if job is not None else None, budget_config(config),
        deadline=time.monotonic() + _waiting_allowed_s(job, config), on_wait=shown.waiting))
    return generate(request, config.generator, progress, cache, flight)
