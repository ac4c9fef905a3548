"""The RQ worker this service runs, and how it is built from settings.

``CurriculumWorker`` is RQ's forking ``Worker`` with the gaps closed that matter in production,
one concern per mixin: stalled-job leases and sweeps (``stall_guard``), a shutdown deadline that
requeues instead of dropping (``shutdown``), retry classification and lifecycle events
(``failures``), bounded waits for Redis (``resilience``), periodic jobs (``periodic``). This
module adds vetting: jobs are checked before a work horse is forked (JSON payload, registered
function).
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
import socket
from typing import Any

import redis
from redis import Redis
from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.worker import Worker

from jobs import context
from jobs.registry import REGISTERED_JOBS, is_registered
from worker import events, reporting
from worker.failures import FailureHandlingMixin
from worker.jsonjob import JsonJob, JsonQueue
from worker.periodic import PeriodicMixin
from worker.resilience import ResilientDequeueMixin
from worker.settings import Settings
from worker.shutdown import DeadlineShutdownMixin
from worker.stall_guard import StallGuardMixin
from worker.stalls import queue_keys

logger = logging.getLogger(__name__)


def unique_worker_name(token: str | None = None, pid: int | None = None) -> str:
    """host.pid.random: a restarted process never collides with its predecessor's registration.

    A supervisor passes the token (and, in the parent, the child's pid) so that it knows the name of
    each child it forks without asking it.
    """
    host = socket.gethostname().split(".")[0][:40] or "host"
    return f"{host}.{pid or os.getpid()}.{token or secrets.token_hex(3)}"


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


class CurriculumWorker(
    DeadlineShutdownMixin, StallGuardMixin, PeriodicMixin, FailureHandlingMixin, ResilientDequeueMixin, Worker
):
    """RQ's forking worker, vetting jobs before they run; see the mixins for the rest."""

    job_class = JsonJob
    queue_class = JsonQueue

    def __init__(self, queues: list[str], *, settings: Settings, connection: Redis, name: str | None = None,
                 **kwargs: Any) -> None:
        self.settings = settings
        super().__init__(
            queues,
            name=name or unique_worker_name(),
            connection=connection,
            serializer=JSONSerializer,
            job_class=JsonJob,
            queue_class=JsonQueue,
            log_job_description=False,
            **kwargs,
        )
        self.log_result_lifespan = False

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        events.worker_event("worker.started", self.name, queues=",".join(self.queue_names()), pid=os.getpid())

    def teardown(self) -> None:
        counts = self._job_counts() if not self.is_horse else {}
        super().teardown()
        if not self.is_horse:
            events.worker_event("worker.stopped", self.name, **counts)

    def _job_counts(self) -> dict[str, int]:
        # Work horses count their jobs in the worker's Redis hash; the parent's own counters stay 0.
        try:
            ok, failed = self.connection.hmget(self.key, "successful_job_count", "failed_job_count")
        except redis.RedisError:
            return {}
        return {"jobs_ok": int(ok or 0), "jobs_failed": int(failed or 0)}

    def execute_job(self, job: Job, queue: Queue) -> None:
        reason = refusal_reason(job)
        if reason is not None:
            self.refuse(job, queue, reason)
            return
        # JOB_TIMEOUT is the worker's limit for every job, whatever the enqueuer's rq default was.
        job.timeout = self.settings.job_timeout_s
        super().execute_job(job, queue)

    def refuse(self, job: Job, queue: Queue, reason: str) -> None:
        """Fail a job without importing or calling anything it names."""
        events.job_refused(job, queue.name, reason)
        reporting.capture_event("job.refused", job, reason)
        with self.connection.pipeline() as pipe:
            job.set_status(JobStatus.FAILED, pipeline=pipe)
            job._handle_failure(f"JobRefused: {reason}", pipeline=pipe, worker_name=self.name)
            # A single-queue worker dequeues through RQ's intermediate list; drop the entry so
            # RQ's maintenance does not "fail" the job a second time.
            pipe.lrem(queue_keys(queue.name)[1], 1, job.id)
            self.increment_failed_job_count(pipeline=pipe)
            pipe.execute()


def preload_job_code(settings: Settings) -> None:
    """Import the registered job modules (and the chosen generator) once, in the parent.

    Work horses are forked per job: what the parent has imported they share copy-on-write, instead
    of each importing pydantic models and the openai SDK again (tens of MB and milliseconds a job).
    Only allowlisted modules are imported.
    """
    for func in sorted(REGISTERED_JOBS):
        importlib.import_module(func.rsplit(".", 1)[0])
    generator = "openai_generator" if settings.curriculum_generator == "openai" else "offline"
    importlib.import_module(f"jobs.generators.{generator}")
    if generator == "openai_generator":
        warm_up_openai_sdk()


def warm_up_openai_sdk() -> None:
    """Build (never use) one SDK client: the SDK imports its HTTP stack and API resources on first use.

    Done once here, every horse shares those modules; otherwise each job imports them again
    (bench.concurrency: 0.165 s of CPU per job cold, 0.065 s warm, on the 12-lesson request).
    """
    import openai

    with openai.OpenAI(api_key="warm-up", base_url="http://127.0.0.1:9/v1", max_retries=0) as client:
        client.chat.completions  # noqa: B018 - the attribute access is the import


def build_worker(settings: Settings, connection: Redis, queues: list[str] | None = None,
                 name: str | None = None) -> CurriculumWorker:
    context.install(settings)
    preload_job_code(settings)
    return CurriculumWorker(
        list(queues or settings.worker_queues),
        settings=settings,
        connection=connection,
        name=name,
        job_monitoring_interval=settings.worker_heartbeat_interval_s,
        # RQ blocks on the queue for worker_ttl - 15 s between heartbeats: one heartbeat interval.
        worker_ttl=settings.worker_heartbeat_interval_s + 15,
    )
