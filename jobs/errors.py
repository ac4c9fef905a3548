"""The domain's errors: what job code raises to say how a failure should be treated.

Job code only says *what* went wrong and whether a retry may help (``transient``); the worker
(``worker.errors``, ``worker.retries``, the CLI) decides what that means for retries and exit
codes. So ``jobs`` never imports the runtime that runs it.
"""

from __future__ import annotations

from collections.abc import Sequence


class JobError(Exception):
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

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid curriculum request: " + "; ".join(self.problems))


class JobConfigInvalid(PermanentJobError):
    """The configuration a job was handed is unusable; every problem (naming its variable) is listed."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{listing}")
