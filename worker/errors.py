"""The service's small error tree.

Job code raises the domain's errors (``jobs.errors``: retry or not, bad request, bad configuration);
this module re-exports them and ``exit_code`` maps them, beside the runtime's own tree, to the
CLI's exit codes. Library errors (redis-py, rq, openai, pydantic) are wrapped into these classes where they cross
a module boundary (``raise X(...) from exc``), so the CLI can map each class to one of the exit
codes in docs/interface.md without guessing, and job code can say whether a failure is worth retrying.
"""

from __future__ import annotations

from collections.abc import Sequence

# The domain's own errors, re-exported: job code raises them, the worker maps them (``exit_code``).
from jobs.errors import JobConfigInvalid, JobError, PermanentJobError, RequestInvalid, TransientJobError

__all__ = [
    "EXIT_OK", "EXIT_UNHEALTHY", "EXIT_UNREACHABLE", "EXIT_USAGE", "ConfigError", "JobConfigInvalid", "JobError",
    "JobFailed", "JobNotFound", "JobRefused", "PermanentJobError", "RedisUnavailable", "RequestInvalid",
    "TransientJobError", "Unhealthy", "WaitTimedOut", "WorkerError", "exit_code",
]

EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class WorkerError(Exception):
    """Base of every error this service raises on purpose."""

    exit_code = EXIT_UNHEALTHY


class ConfigError(WorkerError):
    """One or more settings are missing or invalid; every problem is listed together."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:  # one line, as an operator greps or pastes it
            super().__init__(f"invalid configuration: {self.problems[0]}")
            return
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{listing}")


class RedisUnavailable(WorkerError):
    """Redis could not be reached, or refused us (TLS or auth). The message never holds a password."""

    exit_code = EXIT_UNREACHABLE


class Interrupted(WorkerError):
    """Ctrl+C (SIGINT) ended the command; SIGTERM, a deploy's stop, still ends ``run`` with 0."""

    exit_code = EXIT_INTERRUPTED


class Unhealthy(WorkerError):
    """A health check found problems."""


class JobNotFound(WorkerError):
    """No job with that id exists (or its result has expired)."""

    exit_code = EXIT_USAGE


class JobFailed(WorkerError):
    """A job the CLI waited for ended in failure."""


class JobRefused(PermanentJobError):
    """A job the worker will not execute: unregistered callable or non-JSON payload."""


class WaitTimedOut(WorkerError):
    """``enqueue --wait --timeout`` ran out; the job itself goes on."""


def exit_code(exc: WorkerError | JobError) -> int:
    """The exit code the CLI ends with for one of our errors (docs/interface.md)."""
    if isinstance(exc, WorkerError):
        return exc.exit_code
    if isinstance(exc, RequestInvalid | JobConfigInvalid):
        return EXIT_USAGE
    return EXIT_UNHEALTHY
