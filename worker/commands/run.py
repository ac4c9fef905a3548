"""``curriculum-worker run``: connect, then work the queues until told to stop."""

from __future__ import annotations

import logging
import signal
import sys

import click
import redis

from worker import metrics, reporting
from worker.commands.common import check_queue_names, redis_url_source
from worker.connection import connect, diagnose, endpoint
from worker.errors import Interrupted, RedisUnavailable, WorkerError
from worker.logs import Redactor, secret_values
from worker.runtime import CurriculumWorker, build_worker, preload_job_code, unique_worker_name
from worker.settings import MAX_CONCURRENCY, Settings
from worker.shutdown import install_die_with_parent, install_start_up_handlers
from worker.supervisor import Supervisor

logger = logging.getLogger(__name__)


@click.command()
@click.option("-q", "--queue", "queues", multiple=True, callback=check_queue_names,
              help="Queue to work (repeatable); default WORKER_QUEUES.")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("-c", "--concurrency", type=click.IntRange(1, MAX_CONCURRENCY), default=None,
              help="Jobs at once, one worker process each; default WORKER_CONCURRENCY.")
@click.pass_obj
def run(settings: Settings, queues: tuple[str, ...], burst: bool, concurrency: int | None) -> None:
    """Start the worker (what the Procfile and render.yaml start)."""
    # A deploy may signal a worker that is still starting (no job held yet): leave cleanly, exit 0,
    # until RQ installs its own handlers in work().
    install_start_up_handlers()
    install_die_with_parent()
    source = redis_url_source()
    logger.info("config.redis_url %s from %s", settings.redis_url_redacted, source,
                extra={"event": "config.redis_url", "redis_url": settings.redis_url_redacted, "source": source})
    concurrency = concurrency or settings.worker_concurrency
    if concurrency == 1:
        reporting.init_sentry(settings)
        work(settings, list(queues), burst)
        return
    preload_job_code(settings)

    def child_main(name: str) -> int:
        return work_in_child(settings, list(queues), burst, name)

    code = Supervisor(concurrency, child_main, unique_worker_name, burst=burst).run()
    if code:
        sys.exit(code)


def work_in_child(settings: Settings, queues: list[str], burst: bool, name: str) -> int:
    """One supervised worker: Sentry of its own (its threads do not survive a fork), then work."""
    reporting.init_sentry(settings)
    try:
        work(settings, queues, burst, name)
    except Interrupted as exc:
        return exc.exit_code
    except WorkerError as exc:
        message = Redactor(secret_values(settings))(str(exc))
        click.echo(f"error: {message}", err=True)
        return exc.exit_code
    finally:
        reporting.flush()
    return 0


def work(settings: Settings, queues: list[str], burst: bool, name: str | None = None) -> None:
    """Connect and work until stopped; raises ``WorkerError`` for the CLI's exit codes."""
    connection = connect(settings)
    worker = build_worker(settings, connection, queues or None, name)
    metrics.install(connection, enabled=settings.worker_metrics)
    try:
        worker.work(burst=burst, logging_level=None, with_scheduler=True)
    except SystemExit:
        # A stop signal before RQ installed its handlers (start-up handler above): RQ may already
        # have forked its scheduler, and the exit would wait for that child for ever.
        stop_started_scheduler(worker)
        raise
    except redis.RedisError as exc:
        # Never exit 0 on a Redis error: a supervisor must see that the worker died.
        raise RedisUnavailable(diagnose(exc, endpoint(settings)).message) from exc
    if worker.fatal_error is not None:
        raise worker.fatal_error
    if worker.stop_signum == signal.SIGINT:
        raise Interrupted("interrupted")
    if not burst and not worker.stop_signalled:
        # RQ's loop ends quietly on errors it does not expect; a supervisor must not read exit 0.
        try:
            connection.ping()
        except redis.RedisError as exc:
            raise RedisUnavailable(diagnose(exc, endpoint(settings)).message) from exc
        raise WorkerError("the worker loop ended unexpectedly; see the log above")


def stop_started_scheduler(worker: CurriculumWorker) -> None:
    """For a worker leaving mid-start with RQ's scheduler child running: RQ's teardown (the child
    stopped, the worker deregistered). Once RQ's loop ran, its own teardown did this already."""
    scheduler = worker.scheduler
    process = scheduler._process if scheduler is not None else None
    if process is not None and process.is_alive():
        worker.teardown()
