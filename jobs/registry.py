"""The allowlist of job functions this worker will execute.

RQ imports and calls whatever dotted path a job names. A queue is shared with other services, so
the worker refuses anything not listed here: ``os.system`` enqueued by a compromised or buggy
client is logged as ``job.refused`` and failed without ever being imported or called.
"""

from __future__ import annotations

REGISTERED_JOBS: frozenset[str] = frozenset(
    {
        "jobs.curriculum.generate_curriculum",
        "jobs.diagnostics.canary",
    }
)


# Success, failure and stopped callbacks a job may name (rq's ``on_success=Callback(...)`` and
# friends). RQ imports and calls them in the worker exactly like job functions, so they need the
# same allowlist; none is registered today, so a job naming any callback is refused.
REGISTERED_CALLBACKS: frozenset[str] = frozenset()


def is_registered(func_name: str | None) -> bool:
    return func_name in REGISTERED_JOBS


def is_registered_callback(name: str | None) -> bool:
    return name in REGISTERED_CALLBACKS
