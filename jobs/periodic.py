"""Periodic jobs, declared in one place.

Each entry has a stable id, so registering at every worker start (from any number of instances)
updates the one schedule entry instead of adding another. Functions must be registered jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PeriodicJob:
    id: str
    func: str
    cron: str
    args: tuple[Any, ...] = field(default_factory=tuple)
    description: str = ""


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    # An end-to-end liveness signal: a finished canary every ten minutes proves that scheduling,
    # dequeuing and execution all work, which queue counts alone cannot show.
    PeriodicJob(
        id="periodic-canary",
        func="jobs.diagnostics.canary",
        cron="*/10 * * * *",
        args=(0,),
        description="end-to-end canary",
    ),
)
