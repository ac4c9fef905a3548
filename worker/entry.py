"""The process entry point (``curriculum-worker`` and ``python -m worker``), kept import-light.

Importing the CLI (click, redis-py, rq, pydantic, the job code) takes a few hundred milliseconds.
A platform may send SIGTERM to a ``run`` that is still in that window (a deploy replacing a
starting instance); with Python's default action it would die with status 143, as if it had
failed. So the first thing ``run`` does, before any heavy import, is to leave cleanly (exit 0) on
SIGTERM; ``run`` itself keeps that until RQ installs its handlers. Other commands keep Python's
default behaviour.
"""

from __future__ import annotations

import signal
import sys


def _leave_while_starting(signum: int, frame: object) -> None:
    raise SystemExit(0)


def leave_cleanly_while_starting() -> None:
    """For ``run``: SIGTERM exits 0 until ``run`` and then RQ install their own handlers."""
    if sys.argv[1:2] == ["run"]:
        signal.signal(signal.SIGTERM, _leave_while_starting)


def main() -> None:
    leave_cleanly_while_starting()
    from worker.cli import main as cli_main

    cli_main()
