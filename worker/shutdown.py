"""Deploy-safe shutdown: a running job gets ``WORKER_SHUTDOWN_TIMEOUT`` seconds, then goes back.

RQ waits for the running job with no deadline after SIGTERM, and the platform's SIGKILL (Render:
``maxShutdownDelaySeconds`` later) would then leave it half-done until the stall sweep notices.
The adapter (``worker.runtime``) asks this module: the first SIGTERM/SIGINT stops dequeuing and
starts a deadline; at the deadline, or at once on a second signal, the work horse is killed and
the job is put back at the *front* of its queue, counted neither as a retry nor as a stall, and
the worker exits 0. Nothing here imports RQ's worker.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from worker.errors import EXIT_INTERRUPTED

PR_SET_PDEATHSIG = 1
#: What happens to a job whose work horse we kill on purpose.
REQUEUE = "requeue"  # shutdown: back at the front of its queue
LET_GO = "let go"  # lease lost: a sweep already requeued or failed it; do nothing more

_forking_pid = 0
#: The process that installed the start-up handlers (its forked children inherit them).
_starting_pid = 0
#: A stop signal that came while the worker was starting (see ``exit_while_starting``).
_signal_while_starting: int | None = None


def exit_while_starting(signum: int, frame: object) -> None:
    """SIGTERM/SIGINT before the worker's own handlers are in place: leave at once, exit 0 (130
    for Ctrl+C), no job being held yet.

    The signal is also remembered. Python drops (prints and ignores) an exception raised inside an
    at-fork hook or a ``__del__``, and start-up forks (RQ's scheduler; logging runs a hook after
    every fork): the worker would then go on as if never signalled. Whoever installs the real
    handlers next asks ``signal_while_starting`` and stops.
    """
    if os.getpid() != _starting_pid:
        # A child forked during start-up (RQ's scheduler) that has no handlers of its own yet: a
        # stop meant for it (its parent's teardown sends one) ends it here and now. An exception
        # could be dropped by an at-fork hook the child is still in, and the parent, joining it,
        # would wait for ever.
        os._exit(0)
    global _signal_while_starting
    _signal_while_starting = signum
    raise SystemExit(EXIT_INTERRUPTED if signum == signal.SIGINT else 0)


def install_start_up_handlers() -> None:
    global _starting_pid
    _starting_pid = os.getpid()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, exit_while_starting)


def signal_while_starting() -> int | None:
    """The start-up signal whose exit was dropped, if any (see ``exit_while_starting``)."""
    return _signal_while_starting


def install_die_with_parent() -> None:
    """Linux: every child forked from now on (work horses, RQ's scheduler) dies with its parent.

    Without it, a worker killed by SIGKILL or the OOM killer leaves its horse running unsupervised;
    the stall sweep would then requeue a job that is still being worked on, and it would run twice.
    ``prctl`` is resolved once here: looking libc up in every child costs a subprocess per job.
    """
    if not sys.platform.startswith("linux"):
        return
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def before_fork() -> None:
        global _forking_pid
        _forking_pid = os.getpid()

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != _forking_pid:  # the parent died before prctl took effect
            os._exit(1)

    os.register_at_fork(before=before_fork, after_in_child=in_child)


class Shutdown:
    """The shutdown deadline, and the jobs whose work horse was killed on purpose."""

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self.requested = False
        self._first_signal_at: float | None = None
        self._deadline: float | None = None
        self._killed: dict[str, str] = {}

    def begin(self, busy: bool) -> None:
        """First signal: from now on no new job; a running one gets ``timeout_s``."""
        self.requested = True
        self._first_signal_at = self.clock()
        if busy:
            self._deadline = self._first_signal_at + self.timeout_s

    def is_echo(self) -> bool:
        """A second signal within 1 s of the first: one keypress under a process manager can
        arrive as SIGINT and SIGTERM together; it must not cut the grace period short."""
        return self._first_signal_at is not None and self.clock() - self._first_signal_at < 1

    def due(self) -> bool:
        return self._deadline is not None and self.clock() >= self._deadline

    def killing(self, job_id: str, outcome: str) -> None:
        """Remember that ``job_id``'s horse is being killed on purpose, and what follows."""
        self._killed[job_id] = outcome

    def killed_on_purpose(self, job_id: str) -> str | None:
        return self._killed.get(job_id)

    def settled(self, job_id: str) -> str | None:
        return self._killed.pop(job_id, None)


#: After the shutdown deadline, how long the worker may still take to stop before the watchdog
#: ends it: killing the horse and requeuing take milliseconds while Redis answers.
WATCHDOG_GRACE_S = 5.0


class Watchdog:
    """Keeps the shutdown deadline when Redis does not answer (down, paused, out of memory).

    After the first signal, every Redis call may wait out the reconnect policy (retries times the
    connect timeout) and run past the platform's kill delay. A daemon thread, started only then
    (no work horse is forked after it), calls ``on_overrun`` once ``timeout_s + WATCHDOG_GRACE_S``
    have passed; the adapter logs what it could not requeue there and ends the process (exit 3).
    """

    def __init__(self, timeout_s: float, on_overrun: Callable[[], None]) -> None:
        self._timer = threading.Timer(timeout_s + WATCHDOG_GRACE_S, on_overrun)
        self._timer.daemon = True

    def start(self) -> None:
        if not self._timer.is_alive():
            self._timer.start()
