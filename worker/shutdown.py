"""Deploy-safe shutdown: a running job gets ``WORKER_SHUTDOWN_TIMEOUT`` seconds, then goes back.

RQ waits for the running job with no deadline after SIGTERM, and the platform's SIGKILL (Render:
``maxShutdownDelaySeconds`` later) would then leave it half-done until the stall sweep notices.
Here the first SIGTERM/SIGINT stops dequeuing and starts a deadline; at the deadline, or at once on
a second signal, the work horse is killed and the job is put back at the *front* of its queue,
counted neither as a retry nor as a stall, and the worker exits 0.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from typing import Any

from rq.job import Job
from rq.queue import Queue
from rq.utils import now
from rq.worker import WorkerStatus

from worker import events
from worker.mixins import WorkerBase
from worker.stalls import requeue_front

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


_forking_pid = 0


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


class DeadlineShutdownMixin(WorkerBase):
    stop_signalled = False
    _shutdown_deadline: float | None = None
    _killed_for_shutdown: str | None = None

    def request_stop(self, signum: int, frame: Any) -> None:
        self.stop_signalled = True
        events.worker_event("worker.stopping", self.name, signal=signal.Signals(signum).name,
                            busy=self.get_state() == WorkerStatus.BUSY,
                            timeout_s=self.settings.worker_shutdown_timeout_s)
        if self.get_state() == WorkerStatus.BUSY:
            self._shutdown_deadline = time.monotonic() + self.settings.worker_shutdown_timeout_s
            # Check the deadline every second from now on, not once per heartbeat interval: the
            # monitor loop wakes on SIGALRM, so also bring its pending alarm forward (only when
            # RQ's handler is installed; the default action would end the process).
            self.job_monitoring_interval = 1
            if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
                signal.alarm(1)
        super().request_stop(signum, frame)

    def request_force_stop(self, signum: int, frame: Any) -> None:
        """A second signal: put the running job back now instead of waiting for the deadline."""
        requested = self._shutdown_requested_date
        if requested is not None and (now() - requested).total_seconds() < 1:
            # One keypress under a process manager can arrive as SIGINT and SIGTERM together.
            return
        if self.horse_pid:
            self._stop_running_job("second signal")
            return
        raise SystemExit(0)

    def setup_work_horse_signals(self) -> None:
        # The horse ignores SIGTERM too: a platform that signals every process must not kill the
        # job before the parent decides to requeue it. The parent always uses SIGKILL.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def maintain_heartbeats(self, job: Job, execution: Any) -> None:
        super().maintain_heartbeats(job, execution)
        if self._shutdown_deadline is not None and time.monotonic() >= self._shutdown_deadline:
            self._stop_running_job("shutdown timeout")

    def _stop_running_job(self, why: str) -> None:
        execution = self.execution
        job_id = execution.job_id if execution is not None else None
        logger.warning("stopping the running job %s (%s); it goes back on its queue", job_id, why,
                       extra={"event": "worker.stopping_job", "job_id": job_id, "reason": why})
        self._killed_for_shutdown = job_id
        self.kill_horse()

    def handle_work_horse_killed(self, job: Job, retpid: Any, ret_val: Any, rusage: Any) -> None:
        if job.id != self._killed_for_shutdown:
            super().handle_work_horse_killed(job, retpid, ret_val, rusage)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: Any = None,
                           exc_string: str = "", execution: Any = None) -> None:
        if job.id != self._killed_for_shutdown:
            super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
            return
        self._killed_for_shutdown = None
        with self.connection.pipeline() as pipe:
            self.cleanup_execution(job, pipeline=pipe, execution=execution)
            pipe.execute()
        requeue_front(self.connection, queue.name, job.id)
        events.job_requeued(job, reason="shutdown", queue=queue.name)
