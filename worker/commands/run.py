"""``curriculum-worker run``: connect, then work the queues until told to stop."""

from __future__ import annotations

import signal

import click
import redis

from worker import metrics, reporting
from worker.cli import check_queue_names
from worker.connection import connect, diagnose, endpoint
from worker.errors import RedisUnavailable, WorkerError
from worker.runtime import build_worker
from worker.settings import Settings
from worker.shutdown import install_die_with_parent


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


@click.command()
@click.option("-q", "--queue", "queues", multiple=True, callback=check_queue_names,
              help="Queue to work (repeatable); default WORKER_QUEUES.")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.pass_obj
def run(settings: Settings, queues: tuple[str, ...], burst: bool) -> None:
    """Start the worker (what the Procfile and render.yaml start)."""
    # A deploy may signal a worker that is still starting (no job held yet): leave cleanly, exit 0,
    # until RQ installs its own handlers in work().
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    reporting.init_sentry(settings)
    install_die_with_parent()
    connection = connect(settings)
    worker = build_worker(settings, connection, list(queues) or None)
    metrics.install(connection, enabled=settings.worker_metrics)
    try:
        worker.work(burst=burst, logging_level=None, with_scheduler=True)
    except redis.RedisError as exc:
        # Never exit 0 on a Redis error: a supervisor must see that the worker died.
        raise RedisUnavailable(diagnose(exc, endpoint(settings)).message) from exc
    if worker.fatal_error is not None:
        raise worker.fatal_error
    if not burst and not worker.stop_signalled:
        # RQ's loop ends quietly on errors it does not expect; a supervisor must not read exit 0.
        try:
            connection.ping()
        except redis.RedisError as exc:
            raise RedisUnavailable(diagnose(exc, endpoint(settings)).message) from exc
        raise WorkerError("the worker loop ended unexpectedly; see the log above")
