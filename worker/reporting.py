"""Sentry, when ``SENTRY_DSN`` is set: RQ's integration plus the events it does not see.

Sentry's RqIntegration reports exceptions raised by jobs, but not a job whose work horse was
killed (SIGKILL, OOM), a stalled job or a refused one; those are sent here as messages tagged with
the job's id, queue and function. Nothing is sent, and nothing is imported, when Sentry is off.

One incident is one event. Sentry's logging integration would turn each of our ERROR event lines
(``job.failed``, ``job.refused``) into a second, untagged event, so lines from ``worker.events``
stay breadcrumbs only. Messages are grouped by event, queue and function: a stall's text names
the worker, which is unique per process, and would otherwise open a new issue every time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from rq.job import Job

from worker.logs import Redactor, secret_values
from worker.settings import Settings

logger = logging.getLogger(__name__)
_enabled = False
# Loggers whose lines this module reports itself, with tags: never a Sentry event of their own.
REPORTED_LOGGERS = frozenset({"worker.events"})


def init_sentry(settings: Settings, environ: Mapping[str, str] | None = None) -> bool:
    """Start Sentry if configured; returns whether it is on."""
    global _enabled
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.rq import RqIntegration

    env = os.environ if environ is None else environ
    sentry_sdk.init(
        dsn=settings.sentry_dsn.reveal(),
        environment=settings.sentry_environment or env.get("RENDER_SERVICE_NAME") or "development",
        release=env.get("RENDER_GIT_COMMIT") or None,
        integrations=[RqIntegration()],
        # No PII is sent: that is the SDK's default (its old send_default_pii switch is deprecated).
        # Job arguments may hold user data; keep local variables out of stack traces.
        include_local_variables=False,
        before_send=_scrub(Redactor(secret_values(settings))),
    )
    _enabled = True
    logger.info("sentry.enabled", extra={"event": "sentry.enabled"})
    return True


def _scrub(redact: Redactor) -> Any:
    """A before_send hook: RqIntegration attaches the job's description (its call string, with the
    request inside) to every event; drop it, and redact secrets from whatever text remains."""

    def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        if event.get("logger") in REPORTED_LOGGERS:
            return None
        rq_job = event.get("extra", {}).get("rq-job")
        if isinstance(rq_job, dict):
            for key in ("description", "args", "kwargs"):
                rq_job.pop(key, None)
        scrubbed: dict[str, Any] = json.loads(redact(json.dumps(event, default=str)))
        return scrubbed

    return before_send


def _tags(job: Job) -> dict[str, Any]:
    from worker.events import job_context

    return {k: v for k, v in job_context(job).items() if v is not None}


def capture_event(event: str, job: Job, message: str) -> None:
    if not _enabled:
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        tags = _tags(job)
        for key, value in tags.items():
            scope.set_tag(key, str(value))
        scope.set_tag("event", event)
        scope.fingerprint = [event, str(tags.get("queue")), str(tags.get("func"))]
        sentry_sdk.capture_message(f"{event}: {message}", level="error")


def capture_job_exception(job: Job, exc: BaseException | None) -> None:
    if not _enabled or exc is None:
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        for key, value in _tags(job).items():
            scope.set_tag(key, str(value))
        sentry_sdk.capture_exception(exc)


def flush(timeout_s: float = 2.0) -> None:
    """Send what is still queued: a supervised child ends with ``os._exit``, which skips Sentry's atexit."""
    if not _enabled:
        return
    import sentry_sdk

    sentry_sdk.flush(timeout=timeout_s)
