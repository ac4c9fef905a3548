"""The settings job functions run with, installed by the worker before it forks work horses.

Job functions are called by RQ with only their JSON arguments, so the worker hands them its parsed
``Settings`` here (explicitly, at start-up) instead of each job re-reading the environment.
"""

from __future__ import annotations

from worker.settings import Settings

_installed: Settings | None = None


def install(settings: Settings) -> None:
    global _installed
    _installed = settings


def current_settings() -> Settings:
    """The worker's settings; a job run by a foreign worker (plain ``rq worker``) reads the environment."""
    return _installed if _installed is not None else Settings.from_env()
