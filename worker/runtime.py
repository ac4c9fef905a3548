"""The one adapter between this service and RQ's forking ``Worker``, and how it is built.

Every override of RQ lives in ``CurriculumWorker`` below, a few lines each, calling collaborators
that do not import RQ's worker: vetting (``worker.vetting``), leases and the stall sweep
(``worker.stalls``, ``worker.stall_guard``), the retry decision (``worker.failures``,
``worker.retries``, ``worker.budget``), the shutdown deadline (``worker.shutdown``), the reconnect
policy (``worker.connection.Reconnect``) and the periodic pass (``worker.periodic``). The order of
things is the order of the lines here. RQ's documented seams come first (``job_class``,
``queue_class``, ``exception_handlers``, ``work_horse_killed_handler``); every other override
wraps ``super()``. ``tests/test_rq_compat.py`` pins the RQ methods overridden here, so an rq
upgrade that changes one fails CI until it is re-read.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import secrets
import select
import signal
import socket
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import redis
from redis import Redis, WatchError
from redis.client import Pipeline, PubSubWorkerThread
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.job_lifecycle import call_exception_handlers
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.worker import Worker, WorkerStatus
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from jobs import context, llm_gate, notify
from jobs.registry import REGISTERED_JOBS
from jobs.singleflight import release_held
from worker import budget, cancellation, events, vetting
from worker.connection import Reconnect, answers_quickly
from worker.errors import EXIT_UNREACHABLE, RedisUnavailable
from worker.evictions import EvictionWatch
from worker.failures import Failures, horse_killed
from worker.fencing import Fence, StaleRun, current_token, fenced_client
from worker.intake import Intake, fail_unread, give_back, takes_key
from worker.jobconfig import job_config
from worker.jsonjob import JsonJob, JsonQueue
from worker.periodic import PeriodicPass
from worker.registration import Registration
from worker.scheduler_watch import SchedulerWatch
from worker.settings import Settings
from worker.shutdown import LET_GO, REQUEUE, WATCHDOG_GRACE_S, Shutdown, Watchdog, signal_while_starting
from worker.stall_guard import StallGuard
from worker.stalls import Leases, fence_key
from worker.storage import CURRENT_JOB_FIELD, requeue
from worker.vetting import Vetting, bound_webhooks

logger = logging.getLogger(__name__)

#: Constructor arguments of RQ's Worker this adapter supports; anything else is refused.
SUPPORTED_KWARGS = frozenset({"job_monitoring_interval", "worker_ttl", "maintenance_interval"})
#: RQ's margin past a heartbeat before its own cleanup calls an execution abandoned.
RQ_GRACE_S = 60
#: The worker hash's field for the running job's id, in RQ 1.x/2.x's meaning. RQ 3 keeps running
#: jobs in the worker's executions set instead and no longer writes it; tools built on RQ 2
#: (rq-dashboard's workers page, rq-exporter, `rq info`) read it and would show a busy worker as
#: idle, so the adapter writes it when a job starts and removes it when the job ends.
LEASE_LOST = "lease lost: a sweep took the job back"


class IntakeQueue(JsonQueue):
    """RQ's ``queue_class`` seam: jobs are taken through ``worker.intake`` (an atomic move into the
    intermediate list per queue, never BLPOP; size limits before reading; unreadable jobs failed as
    poison). ``configured`` makes the subclass that carries one worker's limits."""

    intake = Intake(4 * 1024 * 1024)

    @classmethod
    def configured(cls, intake: Intake) -> type[IntakeQueue]:
        return type("IntakeQueue", (cls,), {"intake": intake})

    @classmethod
    def dequeue_any(cls, queues: Any, timeout: int | None, connection: Redis, job_class: type[Job] | None = None,
                    serializer: Any = None, death_penalty_class: Any = None) -> tuple[Job, Queue] | None:
        return cls.intake.next_job(connection, list(queues), timeout, job_class or JsonJob)


def unique_worker_name(token: str | None = None, pid: int | None = None) -> str:
    """host.pid.random: a restarted process never collides with its predecessor's registration.

    A supervisor passes the token (and, in the parent, the child's pid) so that it knows the name of
    each child it forks without asking it.
    """
    host = socket.gethostname().split(".")[0][:40] or "host"
    return f"{host}.{pid or os.getpid()}.{token or secrets.token_hex(3)}"


def end_pubsub_thread_on_unsubscribe(thread: PubSubWorkerThread | None) -> None:
    """Let RQ's pubsub thread end as soon as the unsubscribe reply arrives, not up to 60 s later.

    RQ's ``unsubscribe`` unsubscribes, then stops its pubsub thread. Since redis-py 8.2 that stop
    joins the thread, which may by then be waiting out RQ's 60 s ``get_message`` sleep (nothing
    subscribed wakes it): every stop of a plain RQ worker takes a minute. With the thread's run flag
    cleared first, the reply to RQ's UNSUBSCRIBE ends it. (``_running`` is the flag ``stop()``
    clears, 8.1 and 8.2.) Called before ``super().unsubscribe()``; tests that run a plain RQ worker
    in-process use it too.
    """
    if thread is not None:
        thread._running.clear()


class CurriculumWorker(Worker):
    """RQ's forking worker with vetting, leases, retries, a shutdown deadline and periodic jobs."""

    job_class = JsonJob
    queue_class = JsonQueue
    # RQ's own reconnect backoff is switched off: the Reconnect policy waits in heartbeat().
    max_connection_wait_time = 0.0

    def __init__(self, queues: list[str], *, settings: Settings, connection: Redis, name: str | None = None,
                 **kwargs: Any) -> None:
        unsupported = sorted(set(kwargs) - SUPPORTED_KWARGS)
        if unsupported:
            raise TypeError(f"CurriculumWorker does not support {', '.join(unsupported)}")
        self.settings = settings
        self.vetting = Vetting.of(settings.worker_webhook_hosts)
        self.queue_class = IntakeQueue.configured(Intake(settings.job_max_payload_bytes,
                                                         settings.job_failure_ttl_s, self._stop_asked))
        # RQ writes a job's status and result through this client's pipelines; while the adapter
        # holds the fence of a run they commit only if that run still owns the job (worker.fencing).
        self.fence = Fence()
        self._run: tuple[str, str] | None = None  # (fence key, token) of the run being executed
        super().__init__(queues, name=name or unique_worker_name(), connection=fenced_client(connection, self.fence),
                         serializer=JSONSerializer, job_class=JsonJob, queue_class=self.queue_class,
                         log_job_description=False, exception_handlers=[self._judge_exception],
                         work_horse_killed_handler=self._judge_killed_horse, **kwargs)
        self.log_result_lifespan = False
        self.fatal_error: RedisUnavailable | None = None
        self.shutdown = Shutdown(settings.worker_shutdown_timeout_s)
        self.watchdog = Watchdog(settings.worker_shutdown_timeout_s, self._shutdown_overrun)
        self.reconnect = Reconnect(settings)
        self.failures = Failures(connection, settings)
        self.leases = Leases(connection, settings.worker_stall_timeout_s)
        self.stall_guard = StallGuard(connection, self.queue_names(), settings)
        self.periodic = PeriodicPass(connection, self.queue_names()[0])
        self.scheduler_watch = SchedulerWatch(connection, self.queue_names(), settings.worker_heartbeat_interval_s)
        self._scheduler_burst = False
        self.evictions = EvictionWatch(connection)
        lists = [self.redis_workers_keys, *(WORKERS_BY_QUEUE_KEY % name for name in self.queue_names())]
        self.registration = Registration(connection, self.key, lists)
        self._job_started_at = 0.0
        self._last_tick = -float("inf")
        # From the take of a job until its outcome is recorded (see ``get_state``).
        self._taking = False
        self._handling_job = False
        #: The first stop signal (SIGINT: the command exits 130, SIGTERM: 0), None until one arrives.
        self.stop_signum: int | None = None

    @property
    def stop_signalled(self) -> bool:
        return self.shutdown.requested

    def _stop_asked(self) -> bool:
        return bool(self._stop_requested)

    def get_state(self) -> str:
        """RQ's state, and BUSY while the parent holds a job it has taken.

        RQ's SIGTERM handler raises ``StopRequested`` into whatever the parent is running unless
        the worker is BUSY, and RQ is BUSY only around the work horse. Raised between the take and
        the horse, it stranded a taken job; raised after the horse returned, a finished job was
        failed as poison. While a job is held the handler only sets RQ's stop flag, which the take
        loop (``Intake``) and RQ's own loop check within a second.
        """
        if self._taking or self._handling_job:
            return WorkerStatus.BUSY.value
        return self._rq_state()

    def _rq_state(self) -> str:
        """The state RQ set and tools show (a worker waiting for a job is idle, not busy)."""
        state: str = super().get_state()
        return state

    # --- life of the worker process -------------------------------------------------------------

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        self.periodic.register()
        self._check_llm_limit()
        events.worker_event("worker.started", self.name, queues=",".join(self.queue_names()), pid=os.getpid())

    def _check_llm_limit(self) -> None:
        """LLM_GLOBAL_CONCURRENCY only holds if every instance has the same value: say so when not."""
        mine = self.settings.llm_global_concurrency
        other = llm_gate.announce_limit(self.connection, mine)
        if other is not None:
            logger.warning("llm_gate.limit_mismatch: LLM_GLOBAL_CONCURRENCY is %s here but %s on another instance; "
                           "together they let in up to the larger (no limit where unset)",
                           mine if mine is not None else "unset", "unset" if other == "none" else other,
                           extra={"event": "llm_gate.limit_mismatch", "configured": mine, "other": other})

    def teardown(self) -> None:
        counts = self._job_counts() if not self.is_horse else {}
        try:
            super().teardown()
        except redis.RedisError as exc:
            # Redis is gone; the worker's key expires on its own. Don't mask why we are stopping.
            logger.warning("could not deregister from Redis: %s", exc, extra={"event": "worker.teardown_failed"})
        if not self.is_horse:
            events.worker_event("worker.stopped", self.name, **counts)

    def unsubscribe(self) -> None:
        end_pubsub_thread_on_unsubscribe(self.pubsub_thread)
        super().unsubscribe()

    def _job_counts(self) -> dict[str, int]:
        # Work horses count their jobs in the worker's Redis hash; the parent's own counters stay 0.
        try:
            ok, failed = self.connection.hmget(self.key, "successful_job_count", "failed_job_count")
        except redis.RedisError:
            return {}
        return {"jobs_ok": int(ok or 0), "jobs_failed": int(failed or 0)}

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, the idle loop's tick (stall sweep, periodic pass) and its reconnect policy.

        RQ heart-beats once per loop while idle (every ``WORKER_HEARTBEAT_INTERVAL``, the blocking
        dequeue's timeout) and between jobs. A worker's key never outlives ``worker_ttl`` + 60 s,
        even when RQ passes the (longer) started-registry TTL, so a dead worker leaves ``stats`` soon.
        """
        timeout = min(timeout, self.worker_ttl + 60) if timeout else None
        if pipeline is not None or self.is_horse:
            super().heartbeat(timeout, pipeline)
            return
        try:
            super().heartbeat(timeout)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._redis_failed(exc)
            raise
        except redis.RedisError as exc:
            # Out of memory, read-only: RQ's loop would end and the process exit 0.
            self.fatal_error = self.reconnect.give_up(exc)
            raise
        self._redis_recovered()
        if self._tick_due():
            self._restore_registration()
            self._restart_dead_scheduler()
        self.stall_guard.sweep_if_due()
        self.periodic.run_if_due()
        self.evictions.check_if_due()

    def _tick_due(self) -> bool:
        """RQ heart-beats several times per job (before and after each dequeue, after each job):
        the tick's checks run at most once per WORKER_HEARTBEAT_INTERVAL, not on every one."""
        now = time.monotonic()
        if now - self._last_tick < self.settings.worker_heartbeat_interval_s:
            return False
        self._last_tick = now
        return True

    def _restart_dead_scheduler(self) -> None:
        """RQ restarts its scheduler child only in maintenance (every 10 minutes); check each tick.

        This worker's child died (an OOM error, a kill) holding the scheduler lock under this
        worker's scheduler name, so acquiring it again succeeds at once and RQ starts a new child.
        A worker without a live child takes the lock when it is free or its holder, in another
        worker, has died (``worker.scheduler_watch``)."""
        scheduler = self.scheduler
        process = scheduler._process if scheduler is not None else None
        if scheduler is None or self._scheduler_burst or self.shutdown.requested:
            return
        if process is not None and process.is_alive():
            return
        try:
            if process is None and not self.scheduler_watch.free_locks():
                return
            scheduler.acquire_locks(auto_start=True)
        except redis.RedisError:
            return  # Redis is the problem: the heartbeat's reconnect policy deals with it
        if process is None and scheduler._process is not None:
            logger.warning("worker.scheduler_taken_over: RQ's scheduler lock was free or its holder dead",
                           extra={"event": "worker.scheduler_taken_over", "worker": self.name})
        elif process is not None and scheduler._process is not process:
            logger.warning("worker.scheduler_restarted: RQ's scheduler child had died (exit %s)", process.exitcode,
                           extra={"event": "worker.scheduler_restarted", "worker": self.name})

    def _restore_registration(self) -> None:
        """After Redis lost its data: this worker's registration and the periodic schedule again."""
        try:
            self.registration.ensure(lambda: {**self.serialize(), "state": self._rq_state()}, self.worker_ttl + 60)
            self.periodic.ensure_registered()
        except redis.RedisError as exc:
            logger.warning("registration check skipped: %s", exc, extra={"event": "worker.registration_skipped"})

    def _redis_recovered(self) -> None:
        failures = self.reconnect.succeeded()
        if failures:
            logger.info("redis.recovered after %d failed attempt(s)", failures,
                        extra={"event": "redis.recovered", "attempts": failures})

    def _redis_failed(self, exc: BaseException) -> None:
        try:
            self.reconnect.wait_or_give_up(exc)
        except RedisUnavailable as unavailable:
            self.fatal_error = unavailable
            raise

    # RQ's loop ends (exit 0) on a Redis error outside its dequeue loop; these steps retry under
    # the reconnect policy instead: back to work when Redis is back, exit 3 when it stays away.
    def check_for_suspension(self, burst: bool) -> None:
        self._reconnecting(super().check_for_suspension, burst)

    def run_maintenance_tasks(self) -> None:
        self._reconnecting(super().run_maintenance_tasks)

    def _start_scheduler(self, *args: Any) -> None:
        # RQ starts its scheduler after bootstrap and before its loop's try: a Redis error there
        # would end the worker with no retry and no redis.unavailable. In burst mode RQ only moves
        # due jobs once (args[0] is RQ's burst flag): no scheduler child to restart or take over.
        self._scheduler_burst = bool(args[0]) if args else False
        self._reconnecting(super()._start_scheduler, *args)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None,
                                     max_idle_time: int | None = None) -> tuple[Job, Queue] | None:
        # Held from before the take until ``execute_job`` has recorded the job's outcome.
        self._taking = True
        try:
            result: tuple[Job, Queue] | None = self._reconnecting(super().dequeue_job_and_maintain_ttl, timeout,
                                                                  max_idle_time)
        except BaseException:
            self._taking = False
            raise
        if result is None:
            self._taking = False
        return result

    def _reconnecting(self, step: Callable[..., Any], *args: Any) -> Any:
        while True:
            try:
                return step(*args)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._redis_failed(exc)

    def clean_registries(self) -> None:
        """RQ's maintenance, after our sweep: what RQ's cleanups would fail, the sweep requeues first."""
        self.stall_guard.sweep_if_due(force=True)
        super().clean_registries()

    # --- one job, in the parent ---------------------------------------------------------------

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._handling_job = True
        self._taking = False
        try:
            if cancellation.was_canceled(job):
                # Canceled after the take: dropped, and never given back (that would undo the cancel).
                cancellation.drop_taken(self.connection, job, queue.name)
                return
            if self._stop_requested:
                # Stopped between the take and here: the job goes back untouched, not started.
                give_back(self.connection, queue.name, job.id)
                events.job_requeued(job, reason="shutdown", queue=queue.name)
                return
            self._execute_held_job(job, queue)
        finally:
            self._handling_job = False

    def _execute_held_job(self, job: Job, queue: Queue) -> None:
        # JOB_FAILURE_TTL bounds how long any job this worker fails stays in the failed registry,
        # refused ones and plain-rq ones (whose default is a year) included.
        job.failure_ttl = self.settings.job_failure_ttl_s
        reason = self.vetting.refusal_reason(job)
        if reason is not None:
            vetting.refuse(self.connection, job, queue, reason, worker_name=self.name, worker_key=self.key,
                           ttl_s=self.settings.job_failure_ttl_s, takes_key=takes_key(job.id))
            return
        bound_webhooks(job)
        # JOB_TIMEOUT is the worker's limit for every job, whatever the enqueuer's rq default was.
        job.timeout = self.settings.job_timeout_s
        self.shutdown.settled(job.id)  # a kill on purpose belongs to one run only
        try:
            super().execute_job(job, queue)
            self._run = None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Per-command retries are spent mid-job. End with exit 3; the job's lease runs out
            # and another worker's sweep puts it back.
            if self.shutdown.requested:
                events.job_not_requeued(job.id, queue.name, events.error_text(exc))
            self.fatal_error = self.reconnect.give_up(exc)
            raise self.fatal_error from exc
        except (redis.RedisError, StopRequested):
            raise
        except Exception as exc:
            self._poisoned(job, queue, exc)

    def _poisoned(self, job: Job, queue: Queue, exc: Exception) -> None:
        """A job that breaks the parent's own handling (its hash rewritten mid-run, say) is failed
        as poison by id, its horse killed; RQ's loop would otherwise end the worker."""
        logger.error("worker.job_error %s while handling job %s", type(exc).__name__, events.clipped(job.id),
                     exc_info=True, extra={"event": "worker.job_error", "job_id": events.clipped(job.id)})
        if self.horse_pid:
            self.kill_horse()
        fail_unread(self.connection, queue.name, job.id,
                    f"poison: the worker could not handle it ({type(exc).__name__})", worker_name=self.name,
                    ttl_s=self.settings.job_failure_ttl_s)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """RQ's started-registry TTL, in RQ's own meaning: when RQ may call the execution abandoned.

        It stays past our lease and the two sweeps that settle it (``worker.stalls``), and past
        the job's timeout (RQ's SimpleWorker meaning), so while any worker runs, RQ's cleanup (run
        by ``rq info``, registry counts, dashboards) never fails a job our sweep would recover.
        """
        s = self.settings
        ours = s.worker_stall_timeout_s + 3 * (s.worker_heartbeat_interval_s + 1) + RQ_GRACE_S
        return max(int(super().get_heartbeat_ttl(job, working_time)), s.job_timeout_s + RQ_GRACE_S, ours)

    def prepare_execution(self, job: Job) -> Execution:
        execution = super().prepare_execution(job)
        # A started job stops counting takes (worker.intake); a job not started in its current life
        # starts a new retry/stall budget (worker.budget). Both, and the worker hash's current_job
        # (for dashboards), in the grant's round trip.
        obsolete = [takes_key(job.id), *budget.obsolete_at_start(job.id, job.started_at)]
        self.leases.grant(job.origin, execution.composite_key, self.key, obsolete)
        self._run = (fence_key(job.id), execution.composite_key)
        return execution

    def _fenced(self) -> contextlib.AbstractContextManager[None]:
        """RQ's writes of the running job's status and result inside this block are fenced."""
        return self.fence.holding(*self._run) if self._run is not None else contextlib.nullcontext()

    def _holds_job(self) -> bool:
        """Whether this run still owns its job (a cheap read; the writes themselves are fenced)."""
        return self._run is None or current_token(self.connection, self._run[0]) == self._run[1]

    def _dropped(self, job: Job, outcome: str, why: BaseException | str) -> None:
        events.outcome_dropped(job, outcome, str(why))

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """RQ's heartbeat of the running job, fenced: once the run has lost its job (a pause past its
        lease), RQ's transaction no longer extends the execution's TTL, its registry entries or the
        job's ``last_heartbeat``, which now belong to the run that replaced it."""
        try:
            with self._fenced():
                super().maintain_heartbeats(job, execution)
            if not self.leases.renew(job.origin, execution.composite_key) and not self._holds_job():
                self._kill_running_job(LET_GO, LEASE_LOST)
        except StaleRun:
            self._kill_running_job(LET_GO, LEASE_LOST)
        except WatchError:
            pass  # the horse ended the run (its outcome touched the fence) during this beat
        except redis.RedisError as exc:
            # A missed heartbeat costs nothing unless it lasts a whole lease; the job keeps running.
            logger.warning("heartbeat missed: %s", exc, extra={"event": "worker.heartbeat_missed"})
        self._restore_registration()
        self.stall_guard.sweep_if_due()
        if self.shutdown.due():
            self._kill_running_job(REQUEUE, "shutdown timeout")

    # A heartbeat that finds the lease gone while the fence still names this run: the horse
    # released both in the transaction that ended the job, and nothing was taken back.

    def cleanup_execution(self, job: Job, pipeline: Pipeline, execution: Execution | None = None) -> None:
        if execution is not None:
            self.leases.release(pipeline, job.origin, execution.composite_key, fenced=self.fence.held)
        pipeline.hdel(self.key, CURRENT_JOB_FIELD)
        super().cleanup_execution(job, pipeline, execution)

    def wait_for_horse(self) -> tuple[int | None, int | None, Any]:
        """RQ's wait for the horse, woken at least once a second.

        The kernel hands a process-wide signal (RQ's monitor SIGALRM, a SIGTERM) to any thread that
        does not block it; when that is the pubsub thread, Python runs the handler in the main
        thread only once that thread runs Python code again, and RQ's plain ``wait4`` returns only
        when the horse exits. A worker resumed after SIGSTOP then never noticed its lost lease.
        Polling the horse's pidfd returns at once when it exits, and every second otherwise."""
        try:
            pidfd = os.pidfd_open(self.horse_pid)
        except (AttributeError, OSError):
            return super().wait_for_horse()  # no pidfd (not Linux) or already reaped
        try:
            waiter = select.poll()
            waiter.register(pidfd, select.POLLIN)
            while not waiter.poll(1000):
                pass
        finally:
            os.close(pidfd)
        return super().wait_for_horse()

    def _judge_killed_horse(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        """RQ's ``work_horse_killed_handler``: a horse we did not kill on purpose died (OOM killer).

        Its generation lock dies with it (the retry must not wait out the lock's TTL), unless this
        run had already lost the job: then the lock may be the new run's."""
        if self.shutdown.killed_on_purpose(job.id) is not None or not self._holds_job():
            return
        release_held(self.connection, job.id)
        self.failures.judge(job, horse_killed(ret_val))

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: Any = None,
                           exc_string: str = "", execution: Execution | None = None) -> None:
        purpose = self.shutdown.settled(job.id) if not self.is_horse else None
        if purpose is not None:
            self._end_on_purpose(job, queue, execution, purpose)
            return
        if not self._holds_job():
            self._dropped(job, "failed", "this run no longer holds the job")
            return
        stopped = self._stopped_job_id == job.id  # RQ's stop-job command; RQ never retries it
        self.failures.apply(job)
        try:
            with self._fenced():
                super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        except StaleRun as stale:
            self._dropped(job, "failed", stale)
            return
        if stopped:
            events.job_stopped(job)
            release_held(self.connection, job.id)
        notify.publish(self.connection, job.id, job.get_status(refresh=False).value)

    def handle_job_retry(self, job: Job, queue: Queue, retry: Any, started_job_registry: Any,
                         execution: Execution) -> None:
        try:
            with self._fenced():
                super().handle_job_retry(job, queue, retry, started_job_registry, execution)
        except StaleRun as stale:
            self._dropped(job, "retried", stale)

    def _end_on_purpose(self, job: Job, queue: Queue, execution: Execution | None, purpose: str) -> None:
        """The horse was killed on purpose: its execution ends; for REQUEUE the job goes back,
        with its generation lock released, if this run still holds its fence."""
        try:
            with self.connection.pipeline() as pipe:
                self.cleanup_execution(job, pipe, execution)
                pipe.execute()
            if purpose != REQUEUE:
                return
            if execution is not None and not requeue(self.connection, queue.name, job.id,
                                                     run=execution.composite_key, fence_key=fence_key(job.id)):
                self._dropped(job, "requeued", "this run no longer holds the job")
                return
            release_held(self.connection, job.id)
            events.job_requeued(job, reason="shutdown", queue=queue.name)
        except redis.RedisError as exc:
            # Out of memory, read-only replica, or gone: say so, and never let the exit code be 0.
            if purpose == REQUEUE:
                events.job_not_requeued(job.id, queue.name, events.error_text(exc))
            self.fatal_error = self.reconnect.give_up(exc)

    # --- one job, in the work horse ------------------------------------------------------------

    def setup_work_horse_signals(self) -> None:
        # The horse ignores SIGTERM too: a platform that signals every process must not kill the
        # job before the parent decides to requeue it. The parent always uses SIGKILL.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        self._job_started_at = time.monotonic()
        # The horse's connection lives for one job: unnamed and without driver metadata, it saves
        # the CLIENT SETNAME and both CLIENT SETINFO round trips (redis-py: driver_info=None).
        kwargs = self.connection.connection_pool.connection_kwargs
        kwargs["client_name"] = None
        kwargs["driver_info"] = None
        # Every take went through the queue's intermediate list (IntakeQueue), whatever the number of
        # queues; RQ removes the entry only for a single queue.
        try:
            with self._fenced():
                super().prepare_job_execution(job, True)
        except StaleRun as stale:
            # Paused between fork and start while the job was taken back: never start it.
            self._dropped(job, "started", stale)
            os._exit(0)
        if cancellation.canceled_while_starting(self.connection, job):
            self._abandon_canceled(job)
        # Logged once Redis says "started", so the event and the job's status agree.
        events.job_started(job)

    def _abandon_canceled(self, job: Job) -> None:
        """The horse's end for a job canceled while it was starting: nothing ran, nothing is retried."""
        with self.connection.pipeline() as pipe:
            self.cleanup_execution(job, pipe, self.execution)
            pipe.execute()
        cancellation.restore_canceled(self.connection, job)
        os._exit(0)  # RQ's own way out of a work horse; the parent sees a clean exit

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        """RQ's handler chain without RQ's log line, which prints the job's arguments."""
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def _judge_exception(self, job: Job, exc_type: type[BaseException] | None, exc: BaseException | None,
                         tb: TracebackType | None) -> bool:
        """An RQ exception handler: log ``job.failed``, report it, decide retry or not."""
        if exc is not None:
            self.failures.judge(job, exc, duration_ms=self.elapsed_ms())
        return True

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: Any, execution: Execution) -> None:
        try:
            with self._fenced():
                super().handle_job_success(job, queue, started_job_registry, execution)
        except StaleRun as stale:
            job.webhooks = []  # RQ sends them next: this run's outcome is not the job's
            self._dropped(job, "finished", stale)
            return
        # The end's announcement rides with the job's counts: one round trip for both.
        events.job_finished(job, duration_ms=self.elapsed_ms(),
                            announce=notify.announcement(job.id, JobStatus.FINISHED.value))

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        """RQ's end of a run, minus its write of the job's ``last_heartbeat``.

        RQ writes it on a round trip of its own, outside the outcome transaction, so it cannot be
        fenced: a run that lost its job would write into the hash of the run that replaced it (or
        recreate one that run deleted, without a TTL). Every outcome that keeps the hash saves the
        whole job, ``last_heartbeat`` included, in its fenced transaction (RQ's ``_handle_success``,
        ``FailedJobRegistry.add``, a retry's enqueue): the value stays on the job object until then."""
        with unsent(job):
            super().handle_execution_ended(job, queue, heartbeat_ttl)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self._job_started_at) * 1000) if self._job_started_at else 0

    # --- signals ---------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        signum = signal_while_starting()
        if signum is not None:
            # Signalled while starting, and the exit was dropped (see worker.shutdown): stop as
            # from idle. RQ's loop checks the flag before its first take.
            self._begin_stop(signum, busy=False)

    def request_stop(self, signum: int, frame: Any) -> None:
        # Busy means a job to give a deadline to: held from execute_job's start, or RQ's own BUSY.
        busy = self._handling_job or self._rq_state() == WorkerStatus.BUSY
        self._begin_stop(signum, busy)
        if busy:
            # Check the deadline every second from now on, not once per heartbeat interval: the
            # monitor loop wakes on SIGALRM, so also bring its pending alarm forward (only when
            # RQ's handler is installed; the default action would end the process).
            self.job_monitoring_interval = 1
            if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
                signal.alarm(1)
        super().request_stop(signum, frame)

    def _begin_stop(self, signum: int, busy: bool) -> None:
        """The stop's bookkeeping: its signal, deadline, watchdog and log line, and RQ's flag. Idle,
        RQ raises StopRequested from its handler; should a catch-all in a library swallow it
        (logging's Handler.emit catches Exception), the flag still ends RQ's loop at its next check."""
        if self.stop_signum is None:
            self.stop_signum = signum
        self.shutdown.begin(busy)
        self.watchdog.start()
        events.worker_event("worker.stopping", self.name, signal=signal.Signals(signum).name, busy=busy,
                            timeout_s=self.settings.worker_shutdown_timeout_s)
        self._stop_requested = True

    def set_shutdown_requested_date(self) -> None:
        """RQ records the stop request in Redis from inside the signal handler; with Redis out of
        memory or away that write must not abort the shutdown (the watchdog bounds its wait)."""
        try:
            super().set_shutdown_requested_date()
        except redis.RedisError as exc:
            logger.warning("could not record the stop request in Redis: %s", exc,
                           extra={"event": "worker.stop_not_recorded"})

    def request_force_stop(self, signum: int, frame: Any) -> None:
        """A second signal: put the running job back now instead of waiting for the deadline."""
        if self.shutdown.is_echo():
            return
        if self.horse_pid:
            self._kill_running_job(REQUEUE, "second signal")
            return
        raise SystemExit(0)

    def _shutdown_overrun(self) -> None:
        """The watchdog's end: the worker is still stopping past its deadline (see ``Watchdog``).

        Exit 3 when a job could not be put back or Redis does not answer a quick PING (the usual
        cause); 0 when idle with Redis fine (a slow teardown on a loaded machine lost nothing)."""
        execution = self.execution
        if execution is not None:
            events.job_not_requeued(execution.job_id, None, "still stopping after the shutdown deadline")
        code = EXIT_UNREACHABLE if execution is not None or not answers_quickly(self.connection) else 0
        logger.error("worker.shutdown_overrun: still stopping %.0f s after the deadline; exiting %d",
                     WATCHDOG_GRACE_S, code, extra={"event": "worker.shutdown_overrun", "worker": self.name})
        if self.horse_pid:
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(self.horse_pid), signal.SIGKILL)
        os._exit(code)

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """RQ's kill, never with no horse: ``os.getpgid(0)`` would name this worker's own group.

        RQ's stop-job command arrives on its Pub/Sub thread and may come in the instant between the
        fork and RQ recording the horse's pid; wait for the pid that moment."""
        for _ in range(100):
            if self.horse_pid:
                super().kill_horse(sig)
                return
            time.sleep(0.01)

    def _kill_running_job(self, outcome: str, why: str) -> None:
        execution = self.execution
        job_id = execution.job_id if execution is not None else None
        if job_id is None or self.shutdown.killed_on_purpose(job_id) is not None:
            return
        logger.warning("stopping the running job %s (%s)", job_id, why,
                       extra={"event": "worker.stopping_job", "job_id": job_id, "reason": why})
        self.shutdown.killing(job_id, outcome)
        self.kill_horse()


@contextlib.contextmanager
def unsent(job: Job) -> Iterator[None]:
    """RQ's writes through the job's own client inside the block are buffered, then dropped."""
    connection = job.connection
    with connection.pipeline(transaction=False) as dropped:  # leaving it discards what it holds
        job.connection = dropped
        try:
            yield
        finally:
            job.connection = connection


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
    context.install(job_config(settings))
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
