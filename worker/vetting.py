"""Vetting: what a job must pass before a work horse is forked for it.

RQ imports and calls every dotted path a job names (its function, and its success, failure and
stopped callbacks), and sends every webhook it carries, with the enqueuer's headers, to any URL.
A queue is shared with other services, so whatever a job would make this worker import, call or
contact must be on a list: functions and callbacks on ``jobs.registry``'s tables, webhook hosts on
``WORKER_WEBHOOK_HOSTS``. Vetting reads only what RQ already restored from the job hash and the
JSON payload; nothing a job names is imported or contacted while it is vetted. The adapter asks
``Vetting.refusal_reason`` for every dequeued job and calls ``refuse`` when there is one. Nothing
here imports RQ's worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from redis import Redis
from rq.exceptions import DeserializationError, StopRequested
from rq.job import Job
from rq.queue import Queue

from jobs.registry import is_registered, is_registered_callback
from worker import events, reporting
from worker.storage import fail_by_id

#: An allowed webhook gets at most this many seconds per request (RQ's default is 10, and the
#: enqueuer may ask for more); the work horse sends it after the job ended, keeping the worker busy.
WEBHOOK_TIMEOUT_S = 5
#: More webhooks than this on one job are refused: each may take WEBHOOK_TIMEOUT_S.
MAX_WEBHOOKS = 3
#: Longest function name accepted (registered names are far shorter); longer ones are not echoed.
MAX_FUNC_NAME_CHARS = 200
#: rq's ids are 36-character UUIDs; custom ids (idempotency keys) stay well below this.
MAX_JOB_ID_CHARS = 200
#: Where a reason quotes something the job chose (a host name), at most this much of it.
QUOTE_CHARS = 80

# RQ 3 keeps a job's callbacks in these attributes, restored from the hash fields of the same
# name without the underscore; tests/test_hostile_allowlist.py fails if that changes.
CALLBACK_ATTRIBUTES = ("_success_callback_name", "_failure_callback_name", "_stopped_callback_name")


def quoted(text: str) -> str:
    return repr(text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…")


@dataclass(frozen=True)
class Vetting:
    """The worker's rules for the callables and hosts a job may name."""

    webhook_hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, webhook_hosts: Iterable[str]) -> Vetting:
        return cls(frozenset(host.lower() for host in webhook_hosts))

    def refusal_reason(self, job: Job) -> str | None:
        """Why ``job`` must not run, or None. Reading ``func_name`` deserializes the payload as JSON."""
        if len(job.id) > MAX_JOB_ID_CHARS:
            return f"job id is {len(job.id)} characters (limit {MAX_JOB_ID_CHARS})"
        return function_refusal(job) or callback_refusal(job) or self.webhook_refusal(job)

    def webhook_refusal(self, job: Job) -> str | None:
        webhooks = list(job.webhooks or [])
        if len(webhooks) > MAX_WEBHOOKS:
            return f"{len(webhooks)} webhooks (limit {MAX_WEBHOOKS})"
        for webhook in webhooks:
            host = (urlsplit(webhook.url).hostname or "").lower()
            if host not in self.webhook_hosts:
                return f"webhook host {quoted(host)} is not in WORKER_WEBHOOK_HOSTS"
        return None


def function_refusal(job: Job) -> str | None:
    try:
        func_name = job.func_name
        has_instance = job.instance is not None
    except DeserializationError:
        return "payload is not JSON (only rq.serializers.JSONSerializer is accepted)"
    except StopRequested:
        raise
    except Exception as exc:
        return f"payload cannot be read ({type(exc).__name__})"
    if has_instance:
        return "method calls on instances are not accepted"
    if not isinstance(func_name, str):
        return "payload names no function"
    if len(func_name) > MAX_FUNC_NAME_CHARS:
        return f"function name is {len(func_name)} characters (limit {MAX_FUNC_NAME_CHARS})"
    if not is_registered(func_name):
        return f"{func_name!r} is not a registered job function"
    return None


def callback_names(job: Job) -> list[str]:
    """The success, failure and stopped callbacks a job names (dotted paths, not imported)."""
    return [name for attribute in CALLBACK_ATTRIBUTES if (name := getattr(job, attribute, None))]


def callback_refusal(job: Job) -> str | None:
    for name in callback_names(job):
        if not is_registered_callback(name):
            shown = quoted(name) if len(name) <= MAX_FUNC_NAME_CHARS else f"of {len(name)} characters"
            return f"callback {shown} is not a registered callback"
    return None


def bound_webhooks(job: Job) -> None:
    """Cap each (allowed) webhook's timeout at WEBHOOK_TIMEOUT_S, whatever the enqueuer asked for."""
    for webhook in job.webhooks or []:
        webhook.timeout = min(int(webhook.timeout), WEBHOOK_TIMEOUT_S)


def refusal_reason(job: Job) -> str | None:
    """Why ``job`` must not run under the default rules (no webhook host allowed), or None."""
    return Vetting().refusal_reason(job)


def refuse(connection: Redis, job: Job, queue: Queue, reason: str, *, worker_name: str, worker_key: str,
           ttl_s: int, takes_key: str) -> None:
    """Fail a job without importing or calling anything it names: by id, in one atomic step
    (``worker.storage.fail_by_id``), out of the intermediate list every take goes through, so RQ's
    maintenance does not "fail" it a second time nor orphan recovery requeue it.

    ``worker_key`` is the refusing worker's RQ hash, whose failed-job count goes up."""
    events.job_refused(job, queue.name, reason)
    reporting.capture_event("job.refused", job, reason)
    fail_by_id(connection, queue.name, job.id, f"JobRefused: {reason}", worker_name=worker_name, ttl_s=ttl_s,
               takes_key=takes_key, worker_key=worker_key)
