"""Pins what the adapter relies on in RQ, so an rq upgrade that changes any of it fails CI.

Two kinds of pin. Source pins: every RQ method ``worker.runtime.CurriculumWorker`` overrides, and
every RQ function whose behaviour the adapter, the sweep or the budget relies on, by a hash of its
source. Behaviour pins: key formats and registry members the Lua scripts read and write, the
requeue rule the budget depends on, and the failure Result the sweep writes, checked against a
real Redis. When a pin fails after ``make lock`` picked up a new rq: read the named RQ function's
new source against the override or the script named in ``RELIES``, fix what needs fixing, then
record the new hash printed in the failure.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import textwrap
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import rq
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.utils import utcformat
from rq.worker import Worker

from worker import budget
from worker.jsonjob import JsonJob, JsonQueue
from worker.runtime import CurriculumWorker
from worker.scripts import source
from worker.settings import Settings
from worker.storage import RESULTS_PREFIX, queue_keys, started_registry_key

QUEUE = "curriculum_generation"

#: RQ callable -> (first 16 hex digits of the sha256 of its source, what depends on it).
RELIES: dict[str, tuple[str, str]] = {
    # Overridden in worker/runtime.py (each wraps super() unless noted).
    "rq.worker.Worker.__init__": ("7a655455b399708a", "CurriculumWorker.__init__: the arguments it passes and refuses"),
    "rq.worker.Worker.bootstrap": ("b4043282188b9188", "bootstrap: periodic registration after RQ's"),
    "rq.worker.Worker.teardown": ("18d615a5d8c7b6e4", "teardown: deregistration may fail with Redis gone"),
    "rq.worker.Worker.heartbeat": ("c4b63f8a50ca1def", "heartbeat: the tick and the reconnect policy; timeout cap"),
    "rq.worker.Worker.check_for_suspension": ("a76665d9edfd2c6d", "check_for_suspension: reconnect policy"),
    "rq.worker.Worker.run_maintenance_tasks": ("284cd29591c4499e", "run_maintenance_tasks: reconnect policy"),
    "rq.worker.Worker._install_signal_handlers": ("1304e3cd31eb0f59",
        "_install_signal_handlers: a start-up signal whose exit Python dropped stops the worker here"),
    "rq.worker.Worker._start_scheduler": ("a13b7b6ec099d91d", "_start_scheduler: reconnect policy (positional args)"),
    "rq.worker.Worker.dequeue_job_and_maintain_ttl": ("c9303b96de2519cf",
        "dequeue: RQ's own retry loop, max_connection_wait_time"),
    "rq.worker.Worker.clean_registries": ("3b6158366e582b3c",
        "clean_registries: our sweep must run before RQ's cleanups"),
    "rq.worker.Worker.execute_job": ("c5dc421e557a2426", "execute_job: vetting, budget, fatal Redis errors"),
    "rq.worker.Worker.get_heartbeat_ttl": ("9db9b1b021ae80e5",
        "get_heartbeat_ttl: RQ's started-registry TTL, past our lease"),
    "rq.worker.Worker.prepare_execution": ("7a4f367e58bfe13a", "prepare_execution: the lease is granted after it"),
    "rq.worker.Worker.maintain_heartbeats": ("102f728bf2927b00",
        "maintain_heartbeats: lease renewal, shutdown deadline; one transaction, fenced"),
    "rq.worker.Worker.handle_execution_ended": ("663a461e6a0b9486",
        "handle_execution_ended: its only write is job.heartbeat's, dropped; the fenced outcome saves it"),
    "rq.job.Job.heartbeat": ("e8e42e59f136a6b6", "unsent: with no pipeline it writes through job.connection, one HSET"),
    "rq.job.Job._handle_success": ("29529450b6aabed7",
        "the success transaction saves the whole job, last_heartbeat included"),
    "rq.job.Job.to_dict": ("221e1c98dea6377e", "job.save writes last_heartbeat (handle_execution_ended's value)"),
    "rq.worker.Worker.cleanup_execution": ("75e78ab672bbb9f5",
        "cleanup_execution: the lease goes in the same pipeline"),
    "rq.worker.Worker.handle_job_failure": ("ad545766f1e0b09a",
        "handle_job_failure: retries_left/retry_intervals; shutdown"),
    "rq.worker.Worker.setup_work_horse_signals": ("01167890bb8c5931", "replaced: the horse ignores SIGTERM too"),
    "rq.worker.Worker.prepare_job_execution": ("d2c62836d49c959c", "prepare_job_execution: job.started after it"),
    "rq.worker.Worker.handle_exception": ("978511dbc9008843",
        "replaced: RQ's log line prints arguments; same handler chain"),
    "rq.worker.Worker.handle_job_success": ("0e9d6fdad8a3a8e7",
        "handle_job_success: fenced; WATCH, then MULTI; WatchError retried; job.finished after it"),
    "rq.worker.Worker.handle_job_retry": ("f9447f18b5e17dbf", "handle_job_retry: its pipelines are fenced"),
    "rq.worker.Worker._finalize_success": ("4b986d4065256457",
        "webhooks sent after handle_job_success returns: a dropped outcome clears them first"),
    "rq.worker.Worker.request_stop": ("d06386e1ca6caca3",
        "request_stop: shutdown deadline before RQ's; _stop_requested set before RQ may raise"),
    "rq.worker.Worker.get_state": ("3f6cd0d180d7e2fa", "get_state: BUSY while a taken job is held"),
    "rq.worker.Worker.unsubscribe": ("2d502abd0ef3f909",
        "unsubscribe: the pubsub thread's run flag cleared before RQ unsubscribes and stops it"),
    "rq.worker.Worker.request_force_stop": ("cd736cfbc7a5344c", "replaced: second signal requeues instead of exiting"),
    "rq.worker.Worker.set_shutdown_requested_date": ("b5d95290d6b253a9",
        "set_shutdown_requested_date: a Redis error must not abort the shutdown"),
    "rq.queue.Queue.dequeue_any": ("91d540fe86a73a3e", "IntakeQueue.dequeue_any: same arguments, same result"),
    # Relied on, not overridden.
    "rq.worker.Worker._shutdown": ("19ec3372caea3e3c",
        "the stop handler raises StopRequested unless get_state() is BUSY, else sets _stop_requested"),
    "rq.worker.Worker.work": ("7c1d51ba20fed3d7",
        "the loop: which steps can raise Redis errors outside the dequeue loop"),
    "rq.worker.Worker.monitor_work_horse": ("b5edd5cbae2edc3b",
        "killed horse -> handler, then handle_job_failure in the parent"),
    "rq.worker.Worker.perform_job": ("38fcb4d8c0f8f1f8", "prepare_job_execution first; intermediate list removal"),
    "rq.worker.Worker._finalize_failure": ("e10fdbb823f8da4a",
        "handle_exception before handle_job_failure, in the horse"),
    "rq.worker.Worker.handle_work_horse_killed": ("fab3b02e4e5c81b7", "calls work_horse_killed_handler"),
    "rq.worker.Worker.wait_for_horse": ("bc07201c8feefa6e",
        "wait_for_horse: a pidfd poll first, then RQ's wait4 (its return value unchanged)"),
    "rq.worker.Worker.kill_horse": ("6495108ab35dda3d", "kill_horse: waits for the horse's pid; _kill_running_job"),
    "rq.job.Job.cancel": ("eba421a5de7150c9",
        "worker.cancel and the TypeScript cancelJob write what it writes (docs/wire-format.md)"),
    "rq.command.send_command": ("cfd1a12457641570", "the stop-job message other languages publish"),
    "rq.command.handle_stop_job_command": ("a796428b5d32df5a", "stop-job kills the horse; worker.cancellation"),
    "rq.worker.Worker._handle_stopped_job": ("daa97c5541e3e1d8", "handle_job_failure: job.stopped, never retried"),
    "rq.registry.BaseRegistry.add": ("dfe3aa2b01355154", "the canceled registry's score the TS client writes"),
    "rq.executions.prepare_execution": ("e8d5a964e2a10d0c", "execution created with get_heartbeat_ttl"),
    "rq.executions.cleanup_execution": ("629fe089b5bf9776", "execution removed from the started registry"),
    "rq.job_lifecycle.call_exception_handlers": ("37423ee26d84229c", "handle_exception's replacement uses it"),
    "rq.executions.Execution.create": ("c8a27e9a5143b0e2", "started-registry member and score"),
    "rq.executions.Execution.heartbeat": ("ea9267d1333ed60f", "RQ's score renewed with get_heartbeat_ttl"),
    "rq.registry.StartedJobRegistry.cleanup": ("3f15393e8e288175",
        "RQ's abandoned-job failure: must never reach our jobs"),
    "rq.registry.StartedJobRegistry.add_execution": ("4913c7bf59c65fab", "started-registry score = now + ttl"),
    "rq.registry.clean_registries": ("b6c52325526ac8b4", "RQ's maintenance steps (the registry list)"),
    "rq.intermediate_queue.IntermediateQueue.cleanup": ("784ecc7619d6e469",
        "RQ fails intermediate-list jobs: orphans first"),
    "rq.intermediate_queue.IntermediateQueue.should_be_cleaned_up": ("75e279c10a2e870c", "ORPHAN_AFTER_MAX_S"),
    "rq.registry.BaseRegistry.requeue": ("028cc60b63c35351", "budget: a requeue clears started_at"),
    "rq.job.Job.retry": ("a47ae2890cdaacd8", "budget: a retry keeps started_at"),
    "rq.job.Job.prepare_for_execution": ("3ae47458347e5fd8",
        "status started, started_at, worker_name: read by the sweep"),
    "rq.job.Job._handle_failure": ("e0e8e9aeb27b8162", "fail_job (fail.lua: vetting, intake, sweep) mirrors it"),
    "rq.registry.FailedJobRegistry.add": ("8b5dd947fefc5b66", "fail_job (worker/lua/fail.lua) mirrors it"),
    "rq.results.Result.serialize": ("a8d6cd2052554d2a", "storage.failure_args serializes them; fail_job XADDs them"),
    "rq.results.Result.save": ("ea71f0b85f391681", "fail_job's XADD MAXLEN 10 and EXPIRE mirror it"),
    "rq.job.Job.restore": ("cad6eab714d0b79e",
        "vetting reads the callback attributes it sets; what raises on a bad hash is intake's poison"),
    "rq.job.Job.send_webhooks": ("b267e0cef97a4065", "vetting: webhooks are sent with each one's own timeout"),
    "rq.worker.Worker.serialize": ("0dd3341b2edb8ba9", "registration: the fields written again after a flush"),
    "rq.scheduler.RQScheduler.heartbeat": ("ceb653f2b4f397fa",
        "scheduler_watch: a live holder rewrites last_heartbeat in rq:scheduler:<name> every beat"),
    "rq.scheduler.RQScheduler.acquire_locks": ("5308b978aacb87f2",
        "_restart_dead_scheduler: auto_start starts a new child when the old one is dead"),
}


def resolve(dotted: str) -> Any:
    """The object a dotted path names: module attributes, then class attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = inspect.getattr_static(obj, name) if inspect.isclass(obj) else getattr(obj, name)
            if isinstance(obj, staticmethod | classmethod):
                obj = obj.__func__
        return obj
    raise LookupError(dotted)


def rq_source(dotted: str) -> str:
    """The source RQ runs for ``dotted``, looked up along the MRO like a call would."""
    module, _, attr = dotted.rpartition(".")
    owner = resolve(module) if module else None
    obj = getattr(owner, attr) if inspect.isclass(owner) else resolve(dotted)
    obj = obj.fget if isinstance(obj, property) else obj
    return textwrap.dedent(inspect.getsource(obj))


def digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def drift(pins: Mapping[str, tuple[str, str]], source_of: Callable[[str], str]) -> list[str]:
    """One message per pinned RQ callable whose source no longer matches its recorded hash."""
    problems = []
    for dotted, (recorded, depends) in pins.items():
        now = digest(source_of(dotted))
        if now != recorded:
            problems.append(f"{dotted} changed in rq {rq.__version__} (sha {now}, recorded {recorded}): "
                            f"re-check {depends}, then record {now!r}")
    return problems


def test_every_rq_source_we_rely_on_is_unchanged() -> None:
    """The installed rq's source of each overridden or relied-on callable matches its recorded hash."""
    problems = drift(RELIES, rq_source)
    assert not problems, "\n".join(problems)


def test_every_override_is_pinned() -> None:
    """Each RQ method the adapter overrides is in the table, so a new override cannot go unpinned."""
    overridden = {name for name, value in vars(CurriculumWorker).items()
                  if inspect.isfunction(value) and hasattr(Worker, name)}
    pinned = {dotted.rsplit(".", 1)[1] for dotted in RELIES if dotted.startswith("rq.worker.Worker.")}
    assert overridden <= pinned, f"overridden but not pinned: {sorted(overridden - pinned)}"


def test_the_checker_reports_a_changed_method() -> None:
    """A patched copy of an overridden RQ method is reported, naming the method and what to re-check."""
    target = "rq.worker.Worker.maintain_heartbeats"
    patched = rq_source(target).replace("self.job_monitoring_interval + 60", "self.job_monitoring_interval + 30")
    assert patched != rq_source(target)

    def source_of(dotted: str) -> str:
        return patched if dotted == target else rq_source(dotted)

    problems = drift(RELIES, source_of)
    assert len(problems) == 1 and problems[0].startswith(target)
    assert "lease renewal" in problems[0]


def test_key_formats_the_scripts_use(conn: redis.Redis) -> None:
    """RQ's key names and started-registry members are what the Lua scripts build by hand."""
    queue = JsonQueue(QUEUE, connection=conn)
    job = queue.enqueue("jobs.diagnostics.canary", 0)
    assert queue_keys(QUEUE) == (queue.key, queue.intermediate_queue_key)
    assert started_registry_key(QUEUE) == queue.started_job_registry.key
    assert job.key == Job.redis_job_namespace_prefix + job.id
    assert FailedJobRegistry.key_template.format(QUEUE) == queue.failed_job_registry.key
    assert f"{RESULTS_PREFIX}{job.id}" == rq.results.Result.get_key(job.id)  # type: ignore[no-untyped-call]
    with conn.pipeline() as pipe:
        execution = Execution.create(job, ttl=60, pipeline=pipe, worker_name="w")
        pipe.execute()
    member = conn.zrange(queue.started_job_registry.key, 0, -1)[0].decode()
    assert member == execution.composite_key == f"{job.id}:{execution.id}"


def test_requeue_clears_started_at_and_retry_keeps_it(conn: redis.Redis) -> None:
    """The budget's rule: RQ's requeue of a failed job empties started_at; a retry does not."""
    queue = JsonQueue(QUEUE, connection=conn)
    job = queue.enqueue("jobs.diagnostics.canary", 0)
    with conn.pipeline() as pipe:
        job.prepare_for_execution("w", pipeline=pipe)
        pipe.execute()
    job.retries_left = 1
    with conn.pipeline() as pipe:
        job.retry(queue, pipe)
        pipe.execute()
    assert JsonJob.fetch(job.id, connection=conn).started_at is not None, "a retry keeps started_at"
    with conn.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        job._handle_failure("boom", pipeline=pipe)
        pipe.execute()
    FailedJobRegistry(QUEUE, connection=conn, job_class=JsonJob).requeue(job.id)
    assert JsonJob.fetch(job.id, connection=conn).started_at is None, "a requeue starts a new life"
    budget.start_life_if_new(conn, job.id, JsonJob.fetch(job.id, connection=conn).started_at)


def test_lua_timestamps_match_rq_utcformat(conn: redis.Redis) -> None:
    """The sweep's ended_at, formatted in Lua from Redis TIME, is RQ's utcformat of that time."""
    script = "\n".join([source("now"), source("iso"), "local now, s, us = redis_now()",
                        "return {tostring(s), tostring(us), iso(s, us)}"])
    for _ in range(3):
        secs, micros, text = (v.decode() for v in conn.eval(script, 0))
        expected = utcformat(datetime.fromtimestamp(int(secs), UTC).replace(microsecond=int(micros)))
        assert text == expected
    for secs in ("951782400", "4107542399", "1709164800"):  # 2000-02-29, 2099-12-31 23:59:59, 2024-02-29
        got = conn.eval(source("iso") + f"\nreturn iso({secs}, 7)", 0).decode()
        assert got == utcformat(datetime.fromtimestamp(int(secs), UTC).replace(microsecond=7))


def test_the_adapter_refuses_rq_arguments_it_does_not_support(conn: redis.Redis) -> None:
    """An RQ Worker argument the adapter does not handle is an error, not silently half-supported."""
    settings = Settings.from_env({})
    for argument in ({"disable_default_exception_handler": True}, {"work_horse_killed_handler": print},
                     {"exception_handlers": [print]}, {"serializer": "pickle"}):
        with pytest.raises(TypeError, match=next(iter(argument))):
            CurriculumWorker([QUEUE], settings=settings, connection=conn, **argument)
    worker = CurriculumWorker([QUEUE], settings=settings, connection=conn, worker_ttl=30)
    assert worker.worker_ttl == 30


def handshake(kwargs: Mapping[str, Any]) -> list[str]:
    """The commands a new redis-py connection built from ``kwargs`` sends while connecting."""
    connection = redis.Connection(**kwargs)
    sent: list[str] = []
    send_command = connection.send_command

    def recording(*args: Any, **options: Any) -> None:
        sent.append(" ".join(str(a) for a in args[:2]))
        send_command(*args, **options)

    connection.send_command = recording  # type: ignore[method-assign]
    try:
        connection.connect()
    finally:
        connection.disconnect()
    return sent


def test_a_connection_without_driver_info_skips_client_setinfo(conn: redis.Redis) -> None:
    """redis-py: driver_info=None in the pool's kwargs (what a work horse sets) sends no CLIENT SETINFO."""
    kwargs = conn.connection_pool.connection_kwargs
    assert "CLIENT SETINFO" in handshake(kwargs)  # the check can fail: by default a client names its library
    bare = handshake(dict(kwargs, client_name=None, driver_info=None))
    assert not [command for command in bare if command.startswith("CLIENT SET")], bare
