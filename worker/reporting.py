"""Sentry, when ``SENTRY_DSN`` is set: RQ's integration plus the events it does not see.

Sentry's RqIntegration reports exceptions raised by jobs, but not a job whose work horse was
killed (SIGKILL, OOM), a stalled job or a refused one; those are sent here as messages tagged with
the job's id, queue and function. Nothing is sent, and nothing is imported, when Sentry is off.

One incident is one event. Sentry's logging integration would turn each of our ERROR event lines
(``job.failed``, ``job.refused``) into a second, untagged event, so lines from ``worker.events``
stay breadcrumbs only. Messages are grouped by event, queue and function: a stall's text names
the worker, which is unique per process, and would otherwise open a new issue every time.

Integrations are chosen here, not by the SDK: its defaults switch on an integration for every
library it finds installed (the OpenAI one reported each failed model call as an untagged event of
its own), so ``default_integrations=False`` and the list below is all there is. A job that is
retried sends nothing until it fails for good; its earlier attempts arrive as breadcrumbs of that
one event. Only options that sentry-sdk 2.x and 3.x both accept are passed; local variables are
stripped from stack frames in ``before_send`` whatever the SDK's own default.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from rq.job import Job

from worker.errors import ConfigError
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

    env = os.environ if environ is None else environ
    options: dict[str, Any] = {
        "dsn": settings.sentry_dsn.reveal(),
        "environment": settings.sentry_environment or env.get("RENDER_SERVICE_NAME") or "development",
        "release": env.get("RENDER_GIT_COMMIT") or None,
        "default_integrations": False,
        "integrations": _integrations(),
        "before_send": _scrub(Redactor(secret_values(settings))),
    }
    # Job arguments may hold user data: no local variables in stack traces. sentry-sdk 3 dropped
    # the switch (TypeError: Unknown option), so it is passed only where the SDK still has it.
    if "include_local_variables" in _known_options(sentry_sdk):
        options["include_local_variables"] = False
    sentry_sdk.init(**options)
    _enabled = True
    logger.info("sentry.enabled", extra={"event": "sentry.enabled"})
    return True


def describe_dsn(settings: Settings) -> str:
    """For ``doctor``: whether sentry-sdk itself accepts the DSN, and where events go (no key)."""
    if settings.sentry_dsn is None:
        return "off (SENTRY_DSN unset)"
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        dsn = Dsn(settings.sentry_dsn.reveal())
    except BadDsn:
        # BadDsn's text may quote the DSN, key included: name the variable only.
        problem = "SENTRY_DSN: sentry-sdk rejects this DSN; copy it again from the Sentry project's settings"
        raise ConfigError([problem]) from None
    environment = settings.sentry_environment or "RENDER_SERVICE_NAME or development"
    return f"on, project {dsn.project_id} at {dsn.host}, environment {environment}"


def enabled() -> bool:
    return _enabled


def _known_options(sentry_sdk: Any) -> frozenset[str]:
    defaults = getattr(sentry_sdk.consts, "DEFAULT_OPTIONS", None)
    return frozenset(defaults) if isinstance(defaults, dict) else frozenset()


def _integrations() -> list[Any]:
    """Exactly these, nothing the SDK would switch on by itself (see the module docstring)."""
    from sentry_sdk.integrations.atexit import AtexitIntegration
    from sentry_sdk.integrations.dedupe import DedupeIntegration
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.rq import RqIntegration
    from sentry_sdk.integrations.threading import ThreadingIntegration

    return [
        # Log lines are breadcrumbs; an ERROR line of our own (redis.unavailable, a crash) is an
        # event unless its logger reports itself (REPORTED_LOGGERS).
        LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        # A job's scope (its breadcrumbs start empty) and id; its events are sent by this module.
        RqIntegration(),
        AtexitIntegration(),  # send what is queued when the process ends normally
        DedupeIntegration(),
        ExcepthookIntegration(),
        ThreadingIntegration(),
    ]


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
        _drop_local_variables(event)
        scrubbed: dict[str, Any] = json.loads(redact(json.dumps(event, default=str)))
        return scrubbed

    return before_send


def _drop_local_variables(event: dict[str, Any]) -> None:
    """Remove ``vars`` from every stack frame (exceptions and threads alike)."""
    for section in ("exception", "threads"):
        for value in (event.get(section) or {}).get("values") or []:
            for frame in (value.get("stacktrace") or {}).get("frames") or []:
                frame.pop("vars", None)


def _tags(job: Job) -> dict[str, Any]:
    from worker.events import job_context

    return {k: v for k, v in job_context(job).items() if v is not None}


def _job_scope(scope: Any, job: Job, earlier: list[tuple[int, str]]) -> dict[str, Any]:
    """Tag ``scope`` with the job; its retried attempts become breadcrumbs. Returns the tags."""
    tags = _tags(job)
    for key, value in tags.items():
        scope.set_tag(key, str(value))
    for attempt, summary in earlier:
        scope.add_breadcrumb(category="job.retried", level="warning", message=f"attempt {attempt}: {summary}",
                             data={"attempt": attempt})
    return tags


def capture_event(event: str, job: Job, message: str, *, earlier: list[tuple[int, str]] | None = None) -> None:
    if not _enabled:
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        tags = _job_scope(scope, job, earlier or [])
        scope.set_tag("event", event)
        scope.fingerprint = [event, str(tags.get("queue")), str(tags.get("func"))]
        sentry_sdk.capture_message(f"{event}: {message}", level="error")


def capture_job_exception(job: Job, exc: BaseException | None, *,
                          earlier: list[tuple[int, str]] | None = None) -> None:
    """The one event of a job that failed for good (``earlier``: its retried attempts)."""
    if not _enabled or exc is None:
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        _job_scope(scope, job, earlier or [])
        scope.set_tag("attempts", str(len(earlier or []) + 1))
        sentry_sdk.capture_exception(exc)


def flush(timeout_s: float = 2.0) -> None:
    """Send what is still queued: a supervised child ends with ``os._exit``, which skips Sentry's atexit."""
    if not _enabled:
        return
    import sentry_sdk

    sentry_sdk.flush(timeout=timeout_s)
