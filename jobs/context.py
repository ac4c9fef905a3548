"""What the worker hands the jobs it runs: its settings, and where model calls are reported.

Job functions are called by RQ with only their JSON arguments, so the worker hands them its parsed
``Settings`` here (explicitly, at start-up) instead of each job re-reading the environment. Model
calls are timed with ``model_call()``; the worker installs the observer that records them (its
metrics), so the domain never imports the machinery that stores them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from worker.settings import Settings

#: Called with (latency in seconds, exception class name or None) after each model call.
ModelCallObserver = Callable[[float, str | None], None]

_installed: Settings | None = None
_model_call_observer: ModelCallObserver | None = None


def install(settings: Settings) -> None:
    global _installed
    _installed = settings


def current_settings() -> Settings:
    """The worker's settings; a job run by a foreign worker (plain ``rq worker``) reads the environment."""
    return _installed if _installed is not None else Settings.from_env()


def install_model_call_observer(observer: ModelCallObserver | None) -> None:
    global _model_call_observer
    _model_call_observer = observer


@contextmanager
def model_call() -> Iterator[None]:
    """Time one model call and report it (with the exception's class if it raised); never masks it."""
    observer = _model_call_observer
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        if observer is not None:
            observer(time.perf_counter() - started, type(exc).__name__)
        raise
    if observer is not None:
        observer(time.perf_counter() - started, None)
