"""What the worker hands the jobs it runs: their configuration, and where model calls are reported.

Job functions are called by RQ with only their JSON arguments, so the worker hands them a
``JobConfig`` built from its parsed settings here (explicitly, at start-up) instead of each job
re-reading the environment. Model
calls are timed with ``model_call()``; the worker installs the observer that records them (its
metrics), so the domain never imports the machinery that stores them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jobs.config import JobConfig
from jobs.errors import JobConfigInvalid

#: Called with (latency in seconds, exception class name or None) after each model call.
ModelCallObserver = Callable[[float, str | None], None]

#: Called with (prompt tokens, completion tokens) as the provider reported them, after each reply.
ModelTokensObserver = Callable[[int, int], None]

_installed: JobConfig | None = None
_model_call_observer: ModelCallObserver | None = None
_model_tokens_observer: ModelTokensObserver | None = None


def install(config: JobConfig | None) -> None:
    """Hand every job run in this process ``config`` (``None`` takes it back)."""
    global _installed
    _installed = config


def current_config() -> JobConfig:
    """The configuration the worker installed. A job run by a worker that installed none (a plain
    ``rq worker``) fails at once rather than guess at the model, keys and limits it should use."""
    if _installed is None:
        raise JobConfigInvalid(["no job configuration installed: run curriculum jobs with `curriculum-worker run`"])
    return _installed


def install_model_call_observer(observer: ModelCallObserver | None) -> None:
    global _model_call_observer
    _model_call_observer = observer


def install_model_tokens_observer(observer: ModelTokensObserver | None) -> None:
    global _model_tokens_observer
    _model_tokens_observer = observer


def model_tokens(prompt_tokens: int, completion_tokens: int) -> None:
    """Report the tokens of one model reply (the provider's own ``usage``) to the worker's metrics."""
    observer = _model_tokens_observer
    if observer is not None:
        observer(prompt_tokens, completion_tokens)


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
