"""The service's small error tree.

Library errors (redis-py, rq, openai, pydantic) are wrapped into these classes where they cross
a module boundary (``raise X(...) from exc``), so the CLI can map each class to one of the exit
codes in docs/interface.md without guessing, and job code can say whether a failure is worth retrying.
"""

from __future__ import annotations

from collections.abc import Sequence

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


class JobError(WorkerError):
    """Raised by job code to say how the runtime should treat the failure."""

    #: Whether the runtime may retry the job after this error.
    transient = False


class TransientJobError(JobError):
    """A failure that may go away on its own: network, rate limit, timeout, 5xx."""

    transient = True


class PermanentJobError(JobError):
    """A failure no retry can fix: bad input, authentication, a refused job."""


class RequestInvalid(PermanentJobError):
    """A curriculum request broke the contract; the message names each bad field, never its value."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid curriculum request: " + "; ".join(self.problems))


class JobRefused(PermanentJobError):
    """A job the worker will not execute: unregistered callable or non-JSON payload."""


class WaitTimedOut(WorkerError):
    """``enqueue --wait --timeout`` ran out; the job itself goes on."""
