"""Handler filters that keep library log lines from contradicting or drowning the service's events.

Two libraries speak out of turn at INFO/WARNING:

- RQ logs "job ... failed (Work-horse terminated unexpectedly ...)" whenever a work horse ends
  abnormally, including when the shutdown deadline kills it on purpose and the job is requeued.
  The worker's own events say what happened (``job.failed`` with ``will_retry``, or
  ``job.requeued``), so that line is dropped rather than left to contradict them.
- The HTTP client under the model SDK (httpx, httpcore, openai) logs one INFO line per request.
  Those are lowered to DEBUG: visible with ``LOG_LEVEL=DEBUG``, silent otherwise.

Both are handler filters rather than logger levels because RQ resets its loggers' levels when a
worker starts.
"""

from __future__ import annotations

import logging

#: RQ's wording for a work horse that ended abnormally (rq/worker/worker_classes.py); a test pins it.
RQ_HORSE_DIED = "Work-horse terminated unexpectedly"
# Top-level logger names (forks such as httpx2 included) of the model SDK's HTTP stack.
CHATTY_LOGGERS = ("httpx", "httpcore", "openai")


class DropContradictions(logging.Filter):
    """Drop RQ's own "job failed" line for a dead work horse; the worker reports that job itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("rq.") and RQ_HORSE_DIED in record.getMessage())


class DemoteChatter(logging.Filter):
    """Treat the HTTP client's INFO lines as DEBUG: shown only when the configured level is DEBUG."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.name.split(".")[0].startswith(CHATTY_LOGGERS):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.level <= logging.DEBUG
        return True
