"""What other Python services (and the CLI) use to enqueue curricula and follow them.

Everything here needs only a Redis connection: enqueue a request, read a job's status, wait for
its result, list and requeue failed jobs. Reads never trigger RQ's registry cleanup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis import Redis
from redis.client import Pipeline, PubSub
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from jobs import notify
from worker import budget
from worker.errors import JobNotFound, RequestInvalid
from worker.events import job_context
from worker.jsonjob import JsonJob, JsonQueue
from worker.settings import Settings

CURRICULUM_FUNC = "jobs.curriculum.generate_curriculum"
#: RQ's ``description`` for every job enqueued here: RQ's default spells out the arguments, and
#: rq-dashboard shows the description to anyone who can open it.
DESCRIPTION = f"{CURRICULUM_FUNC}(…)"
QUEUE = "curriculum_generation"
RESULT_TTL_S = 24 * 3600
FAILURE_TTL_S = 7 * 24 * 3600
TERMINAL = frozenset({"finished", "failed", "stopped", "canceled"})
WAITING = frozenset({"queued", "deferred", "scheduled"})


def validate_request(request: Any) -> dict[str, Any]:
    """The request as the job will see it, or RequestInvalid naming each bad field."""
    from jobs.models import parse_request

    return parse_request(request).model_dump(mode="json")


def enqueue_curriculum(connection: Redis, request: Any, *, queue: str = QUEUE,
                       settings: Settings | None = None, dedupe: bool = True) -> tuple[str, str]:
    """Validate and enqueue; returns (job_id, status).

    With ``dedupe`` (the default) a request equal to one already queued, running, or finished with
    its result still stored returns that job instead (see ``worker.idempotency``); its status then
    says which: ``finished`` means the result can be read at once.
    """
    from worker.idempotency import enqueue_once, idempotency_key  # pydantic loads only when enqueueing

    body = validate_request(request)
    job_queue = JsonQueue(queue, connection=connection)

    def enqueue(pipeline: Pipeline | None, job_id: str | None) -> Job:
        return job_queue.enqueue_call(
            CURRICULUM_FUNC,
            args=(body,),
            timeout=settings.job_timeout_s if settings else None,
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            job_id=job_id,
            description=DESCRIPTION,
            pipeline=pipeline,
        )

    if dedupe:
        return enqueue_once(connection, idempotency_key(body), enqueue, ttl_s=RESULT_TTL_S)
    job = enqueue(None, None)
    return job.id, job.get_status(refresh=False).value


def fetch(connection: Redis, job_id: str) -> Job:
    try:
        return JsonJob.fetch(job_id, connection=connection)
    except NoSuchJobError:
        raise JobNotFound(f"no job with id {job_id!r} (never enqueued, or its result expired)") from None
    except ValueError as exc:
        raise RequestInvalid([f"job_id: {exc}"]) from None


def job_status(connection: Redis, job_id: str) -> dict[str, Any]:
    """The contract's ``status --json`` object; absent values are None."""
    job = fetch(connection, job_id)
    status = job.get_status(refresh=False).value
    result = job.return_value() if status == "finished" else None
    return {
        "job_id": job.id,
        "status": status,
        # A job waiting to (re)start has made no progress yet; what meta holds is an earlier run's.
        "progress": None if status in WAITING else job.meta.get("progress"),
        "result": result,
        "error": failure_reason(job) if status in ("failed", "stopped") else None,
    }


def failure_reason(job: Job) -> str | None:
    """The last line of the stored exception: the reason, without the traceback."""
    result = job.latest_result()
    text = result.exc_string if result is not None else None
    if not text:
        return None
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def wait_for(connection: Redis, job_id: str, *, timeout_s: float | None = None, poll_s: float = 5.0,
             on_progress: Callable[[dict[str, Any]], None] | None = None,
             interrupted: Callable[[], bool] | None = None, check_s: float = 0.5) -> dict[str, Any]:
    """Wait until the job ends (or ``timeout_s`` passes); returns its status object.

    The job is read again on each of its push messages (``jobs.notify``), and every ``poll_s``
    in case one was lost. Subscribing comes before the first read, so no change falls in between.
    With ``interrupted``, it is asked at least every ``check_s`` and KeyboardInterrupt raised once
    it says yes (a CLI's record of a Ctrl+C whose own exception was lost, see ``ctrl_c``).
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last_progress = None
    with connection.pubsub(ignore_subscribe_messages=True) as pubsub:  # type: ignore[no-untyped-call]
        pubsub.subscribe(notify.channel(job_id))
        while True:
            outcome = job_status(connection, job_id)
            if on_progress and outcome["progress"] and outcome["progress"] != last_progress:
                last_progress = outcome["progress"]
                on_progress(last_progress)
            left = None if deadline is None else deadline - time.monotonic()
            if outcome["status"] in TERMINAL or (left is not None and left <= 0):
                return outcome
            _next_message(pubsub, poll_s if left is None else min(poll_s, left), interrupted, check_s)


def _next_message(pubsub: PubSub, timeout_s: float, interrupted: Callable[[], bool] | None,
                  check_s: float) -> None:
    """Block until a message arrives or ``timeout_s`` passes; then drop what else queued up."""
    deadline = time.monotonic() + timeout_s
    while True:
        if interrupted is not None and interrupted():
            raise KeyboardInterrupt
        left = max(0.0, deadline - time.monotonic())
        step = left if interrupted is None else min(left, check_s)
        try:
            message = pubsub.get_message(timeout=step)
        except redis.ResponseError:
            time.sleep(step)  # this Redis user may not subscribe (an ACL): polling alone still ends
            message = None
        if message is not None or step >= left:
            break
    while message is not None:
        message = pubsub.get_message(timeout=0)


def list_failed(connection: Redis, queues: Sequence[str]) -> list[dict[str, Any]]:
    entries = []
    for name in queues:
        registry = FailedJobRegistry(name, connection=connection, job_class=JsonJob)
        for job_id in registry.get_job_ids(cleanup=False):
            try:
                job = JsonJob.fetch(job_id, connection=connection)
            except NoSuchJobError:
                continue
            except Exception:
                # A hash RQ cannot parse (the worker failed it as poison): list it from its raw fields.
                entries.append(_unreadable_entry(connection, name, job_id))
                continue
            entries.append({
                "job_id": job.id,
                "queue": name,
                "func": job_context(job)["func"],
                "ended_at": job.ended_at.isoformat() if job.ended_at else None,
                "reason": failure_reason(job),
            })
    return entries


def _unreadable_entry(connection: Redis, queue: str, job_id: str) -> dict[str, Any]:
    ended_at = connection.hget(JsonJob.key_for(job_id), "ended_at")
    return {"job_id": job_id, "queue": queue, "func": None,
            "ended_at": ended_at.decode(errors="replace") if isinstance(ended_at, bytes) else None,
            "reason": failure_reason(JsonJob(job_id, connection=connection))}


def failed_ids(connection: Redis, queues: Sequence[str]) -> dict[str, str]:
    """Job id -> queue of every failed job in ``queues`` whose data still exists (no registry cleanup)."""
    found: dict[str, str] = {}
    for name in queues:
        registry = FailedJobRegistry(name, connection=connection, job_class=JsonJob)
        found.update(dict.fromkeys(registry.get_job_ids(cleanup=False), name))
    with connection.pipeline(transaction=False) as pipe:
        for job_id in found:
            pipe.exists(JsonJob.key_for(job_id))
        alive = pipe.execute()
    return {job_id: name for (job_id, name), exists in zip(found.items(), alive, strict=True) if exists}


def _require_failed(found: dict[str, str], job_ids: Sequence[str]) -> list[str]:
    """The ids once each, in order; JobNotFound (before anything changes) if one is not failed."""
    missing = sorted(set(job_ids) - set(found))
    if missing:
        raise JobNotFound(f"not in any failed-job registry: {', '.join(missing)}")
    return list(dict.fromkeys(job_ids))


def requeue_failed(connection: Redis, queues: Sequence[str], job_ids: Sequence[str] | None) -> list[str]:
    """Requeue the given failed jobs (all when ``job_ids`` is None); returns the ids requeued."""
    found = failed_ids(connection, queues)
    chosen = list(found) if job_ids is None else _require_failed(found, job_ids)
    for job_id in chosen:
        FailedJobRegistry(found[job_id], connection=connection, job_class=JsonJob).requeue(job_id)
        # A requeued job starts over: its retries and stalls so far must not count against it.
        budget.forget(connection, job_id)
    return chosen


def delete_failed(connection: Redis, queues: Sequence[str], job_ids: Sequence[str]) -> list[str]:
    """Delete the given failed jobs with their results; nothing changes if one is not failed."""
    found = failed_ids(connection, queues)
    chosen = _require_failed(found, job_ids)
    for job_id in chosen:
        _delete_failed(connection, found[job_id], job_id)
    return chosen


def purge_failed(connection: Redis, queues: Sequence[str], older_than_s: float | None = None) -> list[str]:
    """Delete every failed job (that ended more than ``older_than_s`` ago); returns their ids."""
    cutoff = None if older_than_s is None else time.time() - older_than_s
    chosen = []
    for job_id, name in failed_ids(connection, queues).items():
        ended = _ended_at(connection, job_id)
        if cutoff is None or ended is None or ended <= cutoff:
            _delete_failed(connection, name, job_id)
            chosen.append(job_id)
    return chosen


def _ended_at(connection: Redis, job_id: str) -> float | None:
    try:
        job = JsonJob.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return None
    return job.ended_at.timestamp() if job.ended_at else None


def _delete_failed(connection: Redis, queue: str, job_id: str) -> None:
    registry = FailedJobRegistry(queue, connection=connection, job_class=JsonJob)
    try:
        job = JsonJob.fetch(job_id, connection=connection)
    except NoSuchJobError:
        registry.remove(job_id)  # the job's data expired already; drop the registry entry
        return
    registry.remove(job, delete_job=True)
