"""``run --concurrency N``: one parent process keeping N complete workers running.

Each child is a whole ``CurriculumWorker`` (its own name, heartbeat, leases, stall sweep, shutdown
deadline, Sentry), forked from a parent that imported the job code and froze its heap first, so the
children and their work horses share those pages. The parent holds no Redis connection and runs no
job; it only forwards signals, replaces children that die, and reports how the tree ended.

Why not RQ's ``WorkerPool``: it builds each worker as ``worker_class(queues, name=..., connection=...)``
with its own uuid names (our worker needs its settings, and the parent then could not name a child
it replaces), replaces a dead child without saying which or why, restarts a child that exits for a
bad config or a lost Redis forever instead of exiting 2 or 3, and sets up its own log handlers.
Overriding all of that would leave nothing of the pool but its one-second polling loop.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker.errors import EXIT_INTERRUPTED, EXIT_UNREACHABLE, EXIT_USAGE
from worker.shutdown import signal_while_starting

logger = logging.getLogger(__name__)

# A child that exits with one of these would only fail again: stop the tree and pass the code on.
FATAL_EXIT_CODES = frozenset({EXIT_USAGE, EXIT_UNREACHABLE})
# A child that dies sooner than this after its start is replaced only after a pause (no busy loop).
MIN_CHILD_LIFE_S = 5.0
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

#: Runs one worker in a freshly forked child, named ``name``; returns its exit code.
ChildMain = Callable[[str], int]
#: The name a child with this token and pid registers under (see ``runtime.unique_worker_name``).
NameFor = Callable[[str, int | None], str]


@dataclass
class Child:
    pid: int
    name: str
    slot: int
    started: float


class Supervisor:
    """Forks ``concurrency`` children running ``child_main``; see the module docstring."""

    def __init__(self, concurrency: int, child_main: ChildMain, name_for: NameFor, *, burst: bool = False) -> None:
        self.concurrency = concurrency
        self.child_main = child_main
        self.name_for = name_for
        self.burst = burst
        self.children: dict[int, Child] = {}
        self.stopping = False
        self.exit_code = 0

    def run(self) -> int:
        """Start the children and supervise them until all have exited; the tree's exit code."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        early = signal_while_starting()
        if early is not None:  # its SystemExit was dropped (see worker.shutdown): stop now
            self._on_signal(early, None)
        # Objects imported so far are never collected nor moved: their pages stay shared after fork.
        gc.freeze()
        _event("supervisor.started", concurrency=self.concurrency, pid=os.getpid(), burst=self.burst)
        for slot in range(self.concurrency):
            if not self.stopping:
                self._spawn(slot)
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            child = self.children.pop(pid, None)
            if child is not None:
                self._on_exit(child, os.waitstatus_to_exitcode(status))
        _event("supervisor.stopped", exit_code=self.exit_code, pid=os.getpid())
        return self.exit_code

    def _spawn(self, slot: int) -> Child:
        token = secrets.token_hex(3)
        # Signals wait until the child has its own handlers and the parent knows the child's pid.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._in_child(self.name_for(token, None))
            child = Child(pid=pid, name=self.name_for(token, pid), slot=slot, started=time.monotonic())
            self.children[pid] = child
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return child

    def _in_child(self, name: str) -> None:
        """Never returns: the child runs its worker and exits without unwinding the parent's stack."""
        code = 1
        try:
            for signum in STOP_SIGNALS:
                signal.signal(signum, _exit_cleanly)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            _name_every_line(name)
            code = self.child_main(name)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            logger.exception("worker %s crashed", name, extra={"event": "worker.crashed", "worker": name})
        finally:
            logging.shutdown()
            os._exit(code)

    def _on_exit(self, child: Child, code: int) -> None:
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
        if self.stopping or (self.burst and code == 0):
            _event("worker.exited", worker=child.name, pid=child.pid, exit_code=code)
            return
        if code in FATAL_EXIT_CODES:
            logger.error("worker %s ended with %s; stopping the others", child.name, how,
                         extra={"event": "supervisor.giving_up", "worker": child.name, "exit_code": code})
            self.exit_code = code
            self._stop()
            return
        if time.monotonic() - child.started < MIN_CHILD_LIFE_S:
            time.sleep(1)
        if self.stopping:  # a signal arrived during the pause
            return
        new = self._spawn(child.slot)
        logger.warning("worker %s (pid %s) ended with %s; replaced by %s (pid %s)", child.name, child.pid, how,
                       new.name, new.pid, extra={"event": "worker.replaced", "worker": child.name, "pid": child.pid,
                                                 "exit_code": code, "replacement": new.name,
                                                 "replacement_pid": new.pid})

    def _on_signal(self, signum: int, frame: Any) -> None:
        """First signal: every child starts its own shutdown deadline. Second: they requeue now."""
        _event("supervisor.stopping", signal=signal.Signals(signum).name, workers=len(self.children))
        if signum == signal.SIGINT and self.exit_code == 0:
            self.exit_code = EXIT_INTERRUPTED  # Ctrl+C: 130 like every command; SIGTERM (a deploy): 0
        self._stop()

    def _stop(self) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


class _WorkerName(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.worker = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.setdefault("worker", self.worker)
        return True


def _name_every_line(name: str) -> None:
    """N workers share one log stream: every line a child logs (job events too) names its worker."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_WorkerName(name))


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _event(event: str, **fields: Any) -> None:
    detail = " ".join(f"{k}={v}" for k, v in fields.items())
    logger.info("%s %s", event, detail, extra={"event": event, **fields})
