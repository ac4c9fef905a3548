"""``failed``: list failed jobs with their reasons; requeue, delete or purge them.

Failed jobs are what the probe's ``--max-failed`` counts, so an operator who has dealt with them
must be able to clear them: requeue the ones worth running again, delete the rest. An id that is
not a failed job is an error before anything changes, so a typo never half-applies a command.
"""

from __future__ import annotations

import re

import click

from worker import client
from worker.commands.common import check_queue_names, emit_json
from worker.connection import connect
from worker.settings import Settings

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_age(text: str) -> float:
    """``30m``, ``12h``, ``7d`` (or ``90s``) in seconds; ValueError otherwise."""
    match = _AGE.match(text)
    if match is None:
        raise ValueError(f"expected a number and a unit (s, m, h or d) such as 30m, 12h, 7d; got {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _age_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _action(requeue: bool, requeue_all: bool, delete: bool, purge: bool, job_ids: tuple[str, ...],
            older_than_s: float | None) -> str | None:
    """The one action asked for (None: list), or a usage error naming the conflict."""
    chosen = [name for name, on in (("--requeue", requeue), ("--all", requeue_all), ("--delete", delete),
                                    ("--purge", purge)) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"use one of --requeue, --all, --delete, --purge (got {' and '.join(chosen)})")
    action = chosen[0] if chosen else None
    if action in ("--requeue", "--delete") and not job_ids:
        raise click.UsageError(f"{action} needs at least one job id")
    if action not in ("--requeue", "--delete") and job_ids:
        raise click.UsageError("job ids go with --requeue or --delete")
    if older_than_s is not None and action != "--purge":
        raise click.UsageError("--older-than only applies with --purge")
    if any(not job_id.strip() for job_id in job_ids):
        raise click.BadParameter("a job id may not be empty", param_hint="ID")
    return action


@click.command()
@click.argument("job_ids", nargs=-1, metavar="[ID]...")
@click.option("--requeue", is_flag=True, help="Requeue the failed jobs ID [ID ...].")
@click.option("--all", "requeue_all", is_flag=True, help="Requeue every failed job.")
@click.option("--delete", is_flag=True, help="Delete the failed jobs ID [ID ...].")
@click.option("--purge", is_flag=True, help="Delete every failed job (see --older-than).")
@click.option("--older-than", "older_than_s", callback=_age_option, metavar="AGE",
              help="With --purge: only jobs that failed more than AGE ago (30m, 12h, 7d).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--queue", "queues", multiple=True, callback=check_queue_names,
              help="Queue(s) to look at; default WORKER_QUEUES.")
@click.pass_obj
def failed(settings: Settings, job_ids: tuple[str, ...], requeue: bool, requeue_all: bool, delete: bool,
           purge: bool, older_than_s: float | None, as_json: bool, queues: tuple[str, ...]) -> None:
    """List failed jobs with their reasons; requeue, delete or purge them.

    \b
    curriculum-worker failed                       list them
    curriculum-worker failed --requeue ID [ID ...] run them again from the start
    curriculum-worker failed --all                 requeue them all
    curriculum-worker failed --delete ID [ID ...]  delete them
    curriculum-worker failed --purge [--older-than 7d]
    """
    action = _action(requeue, requeue_all, delete, purge, job_ids, older_than_s)
    connection = connect(settings)
    names = list(queues) or list(settings.worker_queues)
    if action is None:
        _list(client.list_failed(connection, names), as_json)
        return
    if action in ("--requeue", "--all"):
        done = client.requeue_failed(connection, names, None if requeue_all else list(job_ids))
        _report("requeued", done, as_json)
    elif action == "--delete":
        _report("deleted", client.delete_failed(connection, names, list(job_ids)), as_json)
    else:
        _report("deleted", client.purge_failed(connection, names, older_than_s), as_json)


def _report(verb: str, job_ids: list[str], as_json: bool) -> None:
    if as_json:
        emit_json({verb: job_ids})
        return
    for job_id in job_ids:
        click.echo(job_id)
    click.echo(f"{verb} {len(job_ids)} job(s)", err=True)


def _list(entries: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        emit_json(entries)
        return
    for entry in entries:
        fields = (entry[key] for key in ("job_id", "queue", "func", "ended_at", "reason"))
        click.echo("  ".join("-" if value is None else str(value) for value in fields))
    click.echo(f"{len(entries)} failed job(s)", err=True)
