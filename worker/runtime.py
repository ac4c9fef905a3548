"""The RQ worker this service runs, and how it is built from settings.

``CurriculumWorker`` is RQ's forking ``Worker`` with the gaps closed that matter in production:
jobs are vetted before a work horse is forked (JSON payload, registered function), lifecycle
events are logged from whichever process they happen in, and failures are classified for retry.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import time
from typing import Any

from redis import Redis
from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from rq.job_lifecycle import call_exception_handlers
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.worker import Worker

from jobs import context
from jobs.registry import is_registered
from worker import events
from worker.jsonjob import JsonJob, JsonQueue
from worker.settings import Settings

logger = logging.getLogger(__name__)


def unique_worker_name() -> str:
    """host.pid.random: a restarted process never collides with its predecessor's registration."""
    host = socket.gethostname().split(".")[0][:40] or "host"
    return f"{host}.{os.getpid()}.{secrets.token_hex(3)}"


def refusal_reason(job: Job) -> str | None:
    """Why ``job`` must not run, or None. Reading ``func_name`` deserializes the payload as JSON."""
    try:
        func_name = job.func_name
        has_instance = job.instance is not None
    except DeserializationError:
        return "payload is not JSON (only rq.serializers.JSONSerializer is accepted)"
    except Exception as exc:
        return f"payload cannot be read ({type(exc).__name__})"
    if has_instance:
        return "method calls on instances are not accepted"
    if not is_registered(func_name):
        return f"{func_name!r} is not a registered job function"
    return None


class CurriculumWorker(Worker):
    """RQ's forking worker, vetting jobs before they run and logging their lifecycle."""

    job_class = JsonJob
    queue_class = JsonQueue

    def __init__(self, queues: list[str], *, settings: Settings, connection: Redis, **kwargs: Any) -> None:
        self.settings = settings
        super().__init__(
            queues,
            name=unique_worker_name(),
            connection=connection,
            serializer=JSONSerializer,
            job_class=JsonJob,
            queue_class=JsonQueue,
            log_job_description=False,
            **kwargs,
        )
        self.log_result_lifespan = False
        self._job_started_at = 0.0

    # -- worker lifecycle ---------------------------------------------------------------------------

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        events.worker_event("worker.started", self.name, queues=",".join(self.queue_names()), pid=os.getpid())

    def request_stop(self, signum: int, frame: Any) -> None:
        events.worker_event("worker.stopping", self.name, signal=signal.Signals(signum).name)
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def teardown(self) -> None:
        super().teardown()  # type: ignore[no-untyped-call]
        if not self.is_horse:
            events.worker_event("worker.stopped", self.name, jobs_ok=self.successful_job_count,
                                jobs_failed=self.failed_job_count)

    # -- vetting, in the parent, before any fork ------------------------------------------------

    def execute_job(self, job: Job, queue: Queue) -> None:
        reason = refusal_reason(job)
        if reason is not None:
            self.refuse(job, queue, reason)
            return
        super().execute_job(job, queue)

    def refuse(self, job: Job, queue: Queue, reason: str) -> None:
        """Fail a job without importing or calling anything it names."""
        events.job_refused(job, queue.name, reason)
        with self.connection.pipeline() as pipe:
            job.set_status(JobStatus.FAILED, pipeline=pipe)
            job._handle_failure(f"JobRefused: {reason}", pipeline=pipe, worker_name=self.name)
            # A single-queue worker dequeues through RQ's intermediate list; drop the entry so
            # RQ's maintenance does not "fail" the job a second time.
            pipe.lrem(f"{queue.key}:intermediate", 1, job.id)
            pipe.execute()

    # -- lifecycle events, in the work horse ----------------------------------------------------

    def perform_job(self, job: Job, queue: Queue, execution: Any) -> bool:
        self._job_started_at = time.monotonic()
        events.job_started(job)
        return bool(super().perform_job(job, queue, execution))

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: Any, execution: Any) -> None:
        super().handle_job_success(job, queue, started_job_registry, execution)
        events.job_finished(job, duration_ms=self._elapsed_ms())

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        # Replaces RQ's own log line, which prints the job's arguments.
        exc = exc_info[1]
        events.job_failed(job, exc, attempt=1, will_retry=False, duration_ms=self._elapsed_ms())
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self._job_started_at) * 1000) if self._job_started_at else 0


def build_worker(settings: Settings, connection: Redis, queues: list[str] | None = None) -> CurriculumWorker:
    context.install(settings)
    return CurriculumWorker(
        list(queues or settings.worker_queues),
        settings=settings,
        connection=connection,
        job_monitoring_interval=settings.worker_heartbeat_interval_s,
        worker_ttl=settings.worker_heartbeat_interval_s + 15,
    )
