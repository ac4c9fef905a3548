"""``curriculum-worker run``: connect, then work the queues until told to stop."""

from __future__ import annotations

import logging

import click

from worker.connection import connect
from worker.runtime import build_worker
from worker.settings import Settings

logger = logging.getLogger(__name__)


@click.command()
@click.option("-q", "--queue", "queues", multiple=True, help="Queue to work (repeatable); default WORKER_QUEUES.")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.pass_obj
def run(settings: Settings, queues: tuple[str, ...], burst: bool) -> None:
    """Start the worker (what the Procfile and render.yaml start)."""
    if settings.uses_tls and not settings.redis_tls_verify:
        logger.warning(
            "REDIS_TLS_VERIFY=false: the Redis server's certificate is NOT verified; anyone on the "
            "path can impersonate it. Use REDIS_TLS_CA_FILE instead where you can.",
            extra={"event": "config.tls_unverified"},
        )
    connection = connect(settings)
    worker = build_worker(settings, connection, list(queues) or None)
    worker.work(burst=burst, logging_level=None, with_scheduler=True)
