"""``enqueue``, ``status`` and ``failed``: the operator's view of individual jobs."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import click

from jobs import client
from worker.cli import emit_json
from worker.connection import connect
from worker.errors import JobFailed, RequestInvalid
from worker.settings import Settings


def _read_request(file: TextIO | None, topics: tuple[str, ...]) -> list[Any]:
    if file is not None:
        try:
            data = json.load(file)
        except json.JSONDecodeError as exc:
            raise RequestInvalid([f"request: not valid JSON (line {exc.lineno}, column {exc.colno})"]) from None
        return data if isinstance(data, list) else [data]
    if not topics:
        raise click.UsageError("give --file PATH (or - for stdin) or at least one --topic")
    return [{"topic": topic} for topic in topics]


@click.command()
@click.option("--file", "file", type=click.File("r"), help="JSON request (or a list of them); - for stdin.")
@click.option("--topic", "topics", multiple=True, help="Enqueue a default request for this topic (repeatable).")
@click.option("--wait", is_flag=True, help="Show progress and print the result.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--queue", default=None, help="Queue (default: the first of WORKER_QUEUES).")
@click.option("--no-dedupe", is_flag=True,
              help="Always enqueue a new job, even when the same request is queued, running or finished.")
@click.pass_obj
def enqueue(settings: Settings, file: TextIO | None, topics: tuple[str, ...], wait: bool, as_json: bool,
            queue: str | None, no_dedupe: bool) -> None:
    """Validate a curriculum request, enqueue it and print the job id.

    A request equal to one already queued, running or finished (result still stored) prints that
    job's id instead of enqueueing it again; --no-dedupe turns this off.
    """
    requests = _read_request(file, topics)
    connection = connect(settings)
    queue_name = queue or settings.worker_queues[0]
    for request in requests:
        job_id, status = client.enqueue_curriculum(connection, request, queue=queue_name, settings=settings,
                                                   dedupe=not no_dedupe)
        if not wait:
            emit_json({"job_id": job_id, "status": status}) if as_json else click.echo(job_id)
            continue
        outcome = client.wait_for(connection, job_id, on_progress=None if as_json else _show_progress)
        _print_status(outcome, as_json)
        if outcome["status"] != "finished":
            raise JobFailed(f"job {job_id} {outcome['status']}: {outcome['error'] or 'no result'}")


def _show_progress(progress: dict[str, Any]) -> None:
    total = max(int(progress.get("total") or 0), 1)
    done = int(progress.get("done") or 0)
    width = 30
    filled = int(width * min(done, total) / total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {progress.get('stage', '')}  ")
    sys.stderr.flush()


def _print_status(outcome: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(outcome)
        return
    click.echo(f"job {outcome['job_id']}: {outcome['status']}", err=True)
    if outcome["error"]:
        click.echo(f"error: {outcome['error']}", err=True)
    if outcome["result"] is not None:
        click.echo(json.dumps(outcome["result"], indent=2))


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(settings: Settings, job_id: str, as_json: bool) -> None:
    """Status, progress, result or error of a job (exit 1 if it failed)."""
    outcome = client.job_status(connect(settings), job_id)
    if as_json:
        emit_json(outcome)
    else:
        for key in ("job_id", "status", "progress", "error"):
            click.echo(f"{key}: {outcome[key]}")
        if outcome["result"] is not None:
            click.echo("result: " + json.dumps(outcome["result"], indent=2))
    if outcome["status"] in ("failed", "stopped", "canceled"):
        raise click.exceptions.Exit(1)


@click.command()
@click.option("--requeue", "requeue_ids", multiple=True, help="Requeue this failed job (repeatable).")
@click.option("--all", "requeue_all", is_flag=True, help="Requeue every failed job.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--queue", "queues", multiple=True, help="Queue(s) to look at; default WORKER_QUEUES.")
@click.pass_obj
def failed(settings: Settings, requeue_ids: tuple[str, ...], requeue_all: bool, as_json: bool,
           queues: tuple[str, ...]) -> None:
    """List failed jobs with their reasons; requeue them."""
    if requeue_ids and requeue_all:
        raise click.UsageError("use --requeue ID... or --all, not both")
    connection = connect(settings)
    names = list(queues) or list(settings.worker_queues)
    if requeue_ids or requeue_all:
        requeued = client.requeue_failed(connection, names, None if requeue_all else list(requeue_ids))
        emit_json({"requeued": requeued}) if as_json else click.echo(f"requeued {len(requeued)} job(s)")
        return
    entries = client.list_failed(connection, names)
    if as_json:
        emit_json(entries)
        return
    for entry in entries:
        click.echo(f"{entry['job_id']}  {entry['queue']}  {entry['func']}  {entry['ended_at']}  {entry['reason']}")
    click.echo(f"{len(entries)} failed job(s)", err=True)
