"""``curriculum-worker run``: connect, then work the queues until told to stop."""

from __future__ import annotations

import click

from worker.connection import connect
from worker.runtime import build_worker
from worker.settings import Settings


@click.command()
@click.option("-q", "--queue", "queues", multiple=True, help="Queue to work (repeatable); default WORKER_QUEUES.")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.pass_obj
def run(settings: Settings, queues: tuple[str, ...], burst: bool) -> None:
    """Start the worker (what the Procfile and render.yaml start)."""
    connection = connect(settings)
    worker = build_worker(settings, connection, list(queues) or None)
    worker.work(burst=burst, logging_level=None, with_scheduler=True)
