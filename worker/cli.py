"""``curriculum-worker``: the command line, and the only place that reads the environment.

Each command receives the parsed ``Settings`` through the click context. Errors of the service's
own tree are printed (redacted) and turned into the contract's exit codes here, at the boundary,
so no command needs its own ``sys.exit`` for failures.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
import redis

from worker.connection import diagnose, endpoint
from worker.errors import EXIT_USAGE, RedisUnavailable, WorkerError
from worker.logs import Redactor, configure_logging, secret_values
from worker.settings import Settings

logger = logging.getLogger(__name__)


# Commands that need neither Redis nor configuration: they work even where the environment is
# not (yet) set up, e.g. a web service fetching the request schema in its own CI.
NO_SETTINGS = frozenset({"schema"})


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Runs and operates the curriculum-generation worker."""
    if ctx.invoked_subcommand in NO_SETTINGS:
        return
    settings = Settings.from_env()
    configure_logging(settings)
    ctx.obj = settings


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=None, sort_keys=False, default=str))


def _register_commands() -> None:
    from worker.commands import doctor, jobs, run, schema, stats

    for command in (run.run, jobs.enqueue, jobs.status, jobs.failed, doctor.doctor, stats.stats,
                    schema.schema):
        cli.add_command(command)


_register_commands()


def _as_unavailable(exc: redis.RedisError) -> WorkerError:
    try:
        settings = Settings.from_env()
    except WorkerError as config_error:
        return config_error
    return RedisUnavailable(diagnose(exc, endpoint(settings)).message)


def _fail(exc: WorkerError) -> NoReturn:
    """Print the error without secrets and exit with its code."""
    redact: Callable[[str], str] = Redactor()
    with contextlib.suppress(WorkerError):
        redact = Redactor(secret_values(Settings.from_env()))
    click.echo(f"error: {redact(str(exc))}", err=True)
    sys.exit(exc.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, mapping our errors to exit codes."""
    try:
        # Outside standalone mode click returns (rather than raises) the code of ctx.exit(code).
        code = cli.main(args=argv, prog_name="curriculum-worker", standalone_mode=False)
    except redis.RedisError as exc:
        # Redis went away after a command connected (e.g. during `enqueue --wait`): exit 3, with
        # the same diagnosis as at start-up.
        _fail(_as_unavailable(exc))
    except WorkerError as exc:
        _fail(exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else 0)
