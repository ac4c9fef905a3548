"""``enqueue`` and ``status``: the operator's view of individual jobs.

Bad input never reaches the queue: the request file is read as UTF-8 JSON and every request is
validated before the first one is enqueued, so a list with one bad item enqueues nothing and the
message names the item. ``--wait`` prints the job id before it waits, so an interrupted wait never
loses it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO, NoReturn

import click
from redis import Redis

from worker import client, probe
from worker.commands import ctrl_c
from worker.commands.common import check_queue_names, emit_json
from worker.commands.views import curriculum_lines, status_lines
from worker.connection import connect
from worker.errors import EXIT_INTERRUPTED, JobFailed, JobNotFound, RequestInvalid, WaitTimedOut
from worker.settings import Settings


def read_requests(file: BinaryIO | None, topics: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every request, validated; RequestInvalid naming each bad field (and item) otherwise."""
    if file is not None and topics:
        raise click.UsageError("give --file or --topic, not both")
    if file is None:
        if not topics:
            raise click.UsageError("give --file PATH (or - for stdin) or at least one --topic")
        return _validated([{"topic": topic} for topic in topics], numbered=len(topics) > 1, label="--topic")
    data = _load_json(file.read())
    if isinstance(data, list):
        if not data:
            raise RequestInvalid(["request: the list is empty; give at least one request"])
        return _validated(data, numbered=True, label="item")
    return _validated([data], numbered=False, label="item")


def _load_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestInvalid(["request: not UTF-8 text (expected a JSON file)"]) from None
    try:
        return json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise RequestInvalid([f"request: not valid JSON (line {exc.lineno}, column {exc.colno})"]) from None
    except RecursionError:
        raise RequestInvalid(["request: JSON nested too deeply"]) from None


#: More digits than any field accepts; longer integers keep only their sign and magnitude class.
MAX_INT_DIGITS = 20


def _bounded_int(digits: str) -> int:
    """JSON integers for the request: Python refuses to convert more than 4,300 digits (a
    ValueError naming no field), so a longer one becomes its first MAX_INT_DIGITS digits, a number
    still beyond every field's range, and validation names the field it was given for."""
    return int(digits if len(digits) <= MAX_INT_DIGITS else digits[:MAX_INT_DIGITS])


def _validated(items: list[Any], *, numbered: bool, label: str) -> list[dict[str, Any]]:
    bodies, problems = [], []
    for number, item in enumerate(items, 1):
        try:
            bodies.append(client.validate_request(item))
        except RequestInvalid as exc:
            prefix = f"{label} {number}: " if numbered else ""
            problems += [prefix + problem for problem in exc.problems]
    if problems:
        raise RequestInvalid(problems)
    return bodies


@click.command()
@click.option("--file", "file", type=click.File("rb"), help="JSON request (or a list of them); - for stdin.")
@click.option("--topic", "topics", multiple=True, help="Enqueue a default request for this topic (repeatable).")
@click.option("--wait", is_flag=True, help="Show progress, then print a summary of the result.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="With --wait: stop waiting after SECONDS (exit 1; the job goes on).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--queue", default=None, callback=check_queue_names,
              help="Queue (default: the first of WORKER_QUEUES).")
@click.option("--no-dedupe", is_flag=True,
              help="Always enqueue a new job, even when the same request is queued, running or finished.")
@click.pass_obj
def enqueue(settings: Settings, file: BinaryIO | None, topics: tuple[str, ...], wait: bool, timeout_s: float | None,
            as_json: bool, queue: str | None, no_dedupe: bool) -> None:
    """Validate a curriculum request, enqueue it and print the job id.

    A request equal to one already queued, running or finished (result still stored) prints that
    job's id instead of enqueueing it again; --no-dedupe turns this off.
    """
    if timeout_s is not None and not wait:
        raise click.UsageError("--timeout only applies with --wait")
    requests = read_requests(file, topics)
    connection = connect(settings)
    queue_name = queue or settings.worker_queues[0]
    with ctrl_c.recorded() as pressed:
        waiter = Waiter(connection, as_json, timeout_s, interrupted=pressed.is_set)
        _enqueue_and_wait(settings, connection, requests, waiter, wait=wait, queue_name=queue_name, no_dedupe=no_dedupe)


def _enqueue_and_wait(settings: Settings, connection: Redis, requests: list[dict[str, Any]], waiter: Waiter, *,
                      wait: bool, queue_name: str, no_dedupe: bool) -> None:
    as_json = waiter.as_json
    try:
        for request in requests:
            job_id, status = client.enqueue_curriculum(connection, request, queue=queue_name, settings=settings,
                                                       dedupe=not no_dedupe)
            waiter.pending.append(job_id)
            if as_json and not wait:
                emit_json({"job_id": job_id, "status": status})
            else:
                # With --wait --json stdout carries only the final object; the id still comes first.
                click.echo(job_id, err=as_json)
        if wait:
            warn_if_unserved(connection, settings, queue_name)
            waiter.wait_all()
    except KeyboardInterrupt:
        waiter.interrupted()


def warn_if_unserved(connection: Redis, settings: Settings, queue: str) -> None:
    """Waiting on a queue no worker serves would look like a hang; say so."""
    report = probe.collect(connection, [queue], redis_url=settings.redis_url_redacted, tls=settings.uses_tls)
    if report["workers"]["total"] == 0:
        click.echo(f"warning: no live worker serves queue {queue!r}; the job waits until one starts "
                   "(curriculum-worker run)", err=True)


class Waiter:
    """Follows the enqueued jobs to their end, one after the other, within one overall timeout."""

    def __init__(self, connection: Redis, as_json: bool, timeout_s: float | None, *,
                 interrupted: Callable[[], bool]) -> None:
        self.connection = connection
        self.interrupted_by = interrupted
        self.as_json = as_json
        self.timeout_s = timeout_s
        self.pending: list[str] = []
        self.progress_shown = False

    def wait_all(self) -> None:
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        while self.pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.wait_one(self.pending[0], left)
            self.pending.pop(0)

    def interrupted(self) -> NoReturn:
        """Ctrl+C ends the wait (exit 130), never the jobs: say how to follow each one."""
        self.end_progress_line()
        for job_id in self.pending:
            click.echo(f"stopped waiting; job {job_id} goes on. Follow it with: "
                       f"curriculum-worker status {job_id}", err=True)
        sys.exit(EXIT_INTERRUPTED)

    def wait_one(self, job_id: str, timeout_s: float | None) -> None:
        # A progress bar is for a person at a terminal; in a pipe or a CI log it is noise.
        bar = not self.as_json and sys.stderr.isatty()
        outcome = client.wait_for(self.connection, job_id, timeout_s=timeout_s,
                                  on_progress=self.show_progress if bar else None, interrupted=self.interrupted_by)
        self.end_progress_line()
        if outcome["status"] not in client.TERMINAL:
            raise WaitTimedOut(f"timed out after {self.timeout_s:g} s; job {job_id} is {outcome['status']} and "
                               f"goes on. Follow it with: curriculum-worker status {job_id}")
        print_outcome(outcome, self.as_json)
        if outcome["status"] != "finished":
            raise JobFailed(f"job {job_id} {outcome['status']}: {outcome['error'] or 'no result'}")

    def show_progress(self, progress: dict[str, Any]) -> None:
        total = max(int(progress.get("total") or 0), 1)
        done = int(progress.get("done") or 0)
        width = 30
        filled = int(width * min(done, total) / total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {progress.get('stage', '')}  ")
        sys.stderr.flush()
        self.progress_shown = True

    def end_progress_line(self) -> None:
        if self.progress_shown:
            sys.stderr.write("\n")
            self.progress_shown = False


def print_outcome(outcome: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(outcome)
        return
    click.echo(f"job {outcome['job_id']}: {outcome['status']}", err=True)
    if outcome["error"]:
        click.echo(f"error: {outcome['error']}", err=True)
    if isinstance(outcome["result"], dict):
        click.echo("\n".join(curriculum_lines(outcome["result"])))
        click.echo("(the full result: curriculum-worker status --json " + outcome["job_id"] + ")", err=True)


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(settings: Settings, job_id: str, as_json: bool) -> None:
    """Status, progress, result or error of a job (exit 1 if it failed)."""
    if not job_id.strip():
        raise click.BadParameter("may not be empty", param_hint="JOB_ID")
    outcome = client.job_status(connect(settings), job_id)
    if as_json:
        emit_json(outcome)
    else:
        click.echo("\n".join(status_lines(outcome)))
    if outcome["status"] in ("failed", "stopped", "canceled"):
        raise click.exceptions.Exit(1)


CANCEL_MESSAGES = {
    "canceled": "canceled; it will not run",
    "stopping": "running; its worker was told to stop it (it ends stopped, not requeued)",
}


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID [JOB_ID ...]")
@click.pass_obj
def cancel(settings: Settings, job_ids: tuple[str, ...]) -> None:
    """Cancel jobs: a queued one never starts, a running one is stopped; neither is requeued.

    Exit 1 if an id is unknown (or a running job's worker cannot be reached); the others are
    still canceled.
    """
    from worker.cancel import NotListening, cancel_job

    connection = connect(settings)
    failures = 0
    for job_id in dict.fromkeys(job_ids):
        try:
            action, now = cancel_job(connection, job_id)
        except (JobNotFound, NotListening, RequestInvalid) as exc:
            click.echo(f"error: {exc}", err=True)
            failures += 1
            continue
        click.echo(f"job {job_id}: {CANCEL_MESSAGES.get(action, f'already {now}; nothing to do')}")
    if failures:
        raise click.exceptions.Exit(1)
