"""Logging, set up once by the CLI: one line per event, as text or JSON, with secrets redacted.

Modules log with ``logger.info("job.started ...", extra={"event": "job.started", ...})``; the event
name and context travel in ``extra`` so the JSON formatter can emit them as fields. A redaction
filter on the handler replaces every known secret (Redis password, API key, Sentry DSN) and the
credentials of any URL (``worker.redaction``, linear time) with ``***``, whichever module produced
the line, RQ's included.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import urlsplit

from worker.logfilters import DemoteChatter, DropContradictions
from worker.redaction import REDACTED, redact_urls
from worker.settings import Settings

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+")


def secret_values(settings: Settings) -> list[str]:
    """Every secret string the process knows, to scrub from any log line."""
    values: list[str] = []
    for url in (settings.redis_url.reveal(), settings.openai_base_url or ""):
        parts = urlsplit(url)
        values.extend(value for value in (parts.password, parts.username if parts.password is None else None)
                      if value)
    for secret in (settings.openai_api_key, settings.sentry_dsn):
        if secret is not None:
            values.append(secret.reveal())
    return [value for value in values if len(value) >= 3]


class Redactor:
    """Replaces secrets in strings; shared by the log filter and the CLI's error output."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = redact_urls(text)
        return _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class RedactionFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class QuietLibraries(logging.Filter):
    """Keep RQ's warnings and errors only: its INFO lines repeat our lifecycle events and print job
    descriptions, which hold argument values. RQ resets its loggers' levels when a worker starts, so
    this is a handler filter rather than a logger level."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("rq.") or record.levelno >= self.level


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: event, level, timestamp, logger, message and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        fields = extra_fields(record)
        payload: dict[str, Any] = {
            "event": fields.pop("event", None) or record.name,
            "level": record.levelname.lower(),
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(fields)
        if record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Install one handler on the root logger. Called once, by the CLI."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(QuietLibraries(max(logging.WARNING, logging.getLevelName(settings.log_level))))
    handler.addFilter(DropContradictions())
    handler.addFilter(DemoteChatter(logging.getLevelName(settings.log_level)))
    handler.addFilter(RedactionFilter(Redactor(secret_values(settings))))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    logging.captureWarnings(True)
