"""``jobs.curriculum.generate_curriculum``: the job other services enqueue.

A thin wrapper: it takes the configuration the worker installed (``jobs.context``), reports progress
into ``job.meta["progress"]`` (and announces it, ``jobs.notify``) and uses the job's own Redis
connection for the caches and for the lock that keeps identical requests running at once from
being generated twice.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from jobs import llm_gate, notify
from jobs.cache import Cache
from jobs.context import current_config
from jobs.generation import generate
from jobs.singleflight import SingleFlight


def generate_curriculum(request: dict[str, Any]) -> dict[str, Any]:
    """Generate a curriculum for ``request`` (see docs/interface.md) and return it as JSON-able data."""
    job = get_current_job()

    def progress(stage: str, done: int, total: int) -> None:
        if job is not None:
            job.meta["progress"] = {"stage": stage, "done": done, "total": total}
            job.save_meta()  # type: ignore[no-untyped-call]
            notify.publish(job.connection, job.id, "started", job.meta["progress"])

    # A requeued job still carries its earlier run's progress: this run starts from zero.
    progress("starting", 0, 1)
    config = current_config()
    cache = Cache(job.connection) if job is not None else None
    # Identical requests running at once (enqueued with plain rq, so not deduplicated) generate once.
    flight = SingleFlight(job.connection, wait_s=config.job_timeout_s, holder=job.id) if job is not None else None
    llm_gate.install(llm_gate.LlmGate(job.connection if job is not None else None,
                                      config.llm_global_concurrency, config.llm_global_lease_s))
    return generate(request, config.generator, progress, cache, flight)
