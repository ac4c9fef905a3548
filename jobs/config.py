"""What a curriculum job is configured with: a plain, frozen object the worker builds.

The worker reads the environment once (``worker.settings``) and hands jobs this object
(``worker.jobconfig.job_config``, installed with ``jobs.context.install``), so the domain never
reads settings, or imports the runtime, itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.generators import GeneratorConfig


@dataclass(frozen=True)
class JobConfig:
    """Everything ``generate_curriculum`` needs besides its request."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    #: How long an identical request's job may hold the single-flight turn (its ``JOB_TIMEOUT``).
    job_timeout_s: float = 900.0
    #: Model calls in flight across all workers (``None``: no global limit) and their lease.
    llm_global_concurrency: int | None = None
    llm_global_lease_s: float = 30.0
    #: The shared provider budget (``jobs.provider_budget``): on or off (``LLM_BUDGET``), and the
    #: rates of a provider that sends no ``x-ratelimit-*`` headers (``None``: unset).
    llm_budget: bool = True
    llm_tokens_per_minute: int | None = None
    llm_requests_per_minute: int | None = None
