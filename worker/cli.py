"""``curriculum-worker``: the command line, and the only place that reads the environment.

Each command receives the parsed ``Settings`` through the click context. The environment is the
process's, with a ``.env`` file from the working directory filling in what it leaves unset (see
``worker.envfile``). Errors of the service's own tree are printed (redacted) and turned into the
documented exit codes here, at the boundary, so no command needs its own ``sys.exit`` for failures.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

import click
import redis

from worker.commands.common import REDIS_URL_SOURCE
from worker.connection import diagnose, endpoint
from worker.envfile import LocalEnviron, near_misses, read_local, unknown_variables
from worker.errors import EXIT_INTERRUPTED as EXIT_INTERRUPTED  # commands import it from here
from worker.errors import EXIT_USAGE, JobError, RedisUnavailable, WorkerError, exit_code
from worker.logs import Redactor, configure_logging, secret_values
from worker.settings import Settings, known_variables

logger = logging.getLogger(__name__)


# Commands that need neither Redis nor configuration: they work even where the environment is
# not (yet) set up, e.g. a web service fetching the request schema in its own CI.
NO_SETTINGS = frozenset({"schema"})


#: Each command's module, imported only when that command runs (or ``--help`` lists them all): a
#: ``stats`` probe does not pay for the worker's code, nor ``run`` for the read-only commands'
#: (``stats`` reads provider budgets). A forking worker's every work horse is a copy of this
#: process, so what it never imports it never copies either (``bench/overhead.py``).
COMMANDS = {
    "run": "worker.commands.run:run",
    "enqueue": "worker.commands.jobs:enqueue",
    "status": "worker.commands.jobs:status",
    "cancel": "worker.commands.jobs:cancel",
    "failed": "worker.commands.failed:failed",
    "doctor": "worker.commands.doctor:doctor",
    "stats": "worker.commands.stats:stats",
    "schema": "worker.commands.schema:schema",
}


class LazyGroup(click.Group):
    """click's documented way to load subcommands lazily: list them by name, import on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command), target
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curriculum-worker", prog_name="curriculum-worker")
@click.option("--allow-unknown-env", is_flag=True,
              help="A variable one typo away from a known name (REDSI_URL) is a warning, not an error.")
@click.pass_context
def cli(ctx: click.Context, allow_unknown_env: bool) -> None:
    """Runs and operates the curriculum-generation worker.

    Configuration comes from environment variables, and from a .env file in the current
    directory for what the environment does not set. See docs/interface.md.
    """
    if ctx.invoked_subcommand in NO_SETTINGS:
        return
    local: LocalEnviron = ctx.obj if isinstance(ctx.obj, LocalEnviron) else LocalEnviron(dict(os.environ))
    settings = Settings.from_env(local.environ, allow_unknown=allow_unknown_env)
    configure_logging(settings)
    warn_unknown_variables(local.environ)
    ctx.meta[REDIS_URL_SOURCE] = local.source("REDIS_URL")
    ctx.obj = settings


def warn_unknown_variables(environ: Mapping[str, str]) -> None:
    """A prefixed variable nothing reads is most likely a typo that falls back to a default (one
    within a typo of a known name is an error, unless --allow-unknown-env: still named here)."""
    known = known_variables()
    misses = dict(near_misses(environ, known))
    unknown = dict(unknown_variables(environ, known))
    for name in sorted(set(misses) | set(unknown)):
        suggestion = misses.get(name) or unknown.get(name)
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        logger.warning("%s: unknown variable, ignored%s", name, hint,
                       extra={"event": "config.unknown_variable", "variable": name, "suggestion": suggestion})


def _as_unavailable(exc: redis.RedisError, environ: Mapping[str, str]) -> WorkerError:
    try:
        settings = Settings.from_env(environ)
    except WorkerError as config_error:
        return config_error
    return RedisUnavailable(diagnose(exc, endpoint(settings)).message)


def _fail(exc: WorkerError | JobError, environ: Mapping[str, str]) -> NoReturn:
    """Print the error without secrets and exit with its code."""
    redact: Callable[[str], str] = Redactor()
    with contextlib.suppress(WorkerError):
        redact = Redactor(secret_values(Settings.from_env(environ)))
    click.echo(f"error: {redact(str(exc))}", err=True)
    sys.exit(exit_code(exc))


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Console-script entry point: run the CLI, mapping our errors to exit codes.

    ``environ`` (default ``os.environ``) is what the process was given; ``.env`` fills in the rest.
    """
    given: Mapping[str, str] = os.environ if environ is None else environ
    environ = given
    try:
        local = read_local(given, Path.cwd())
        environ = local.environ
        # Outside standalone mode click returns (rather than raises) the code of ctx.exit(code).
        code = cli.main(args=argv, prog_name="curriculum-worker", standalone_mode=False, obj=local)
    except redis.RedisError as exc:
        # Redis went away after a command connected (e.g. during `enqueue --wait`): exit 3, with
        # the same diagnosis as at start-up.
        _fail(_as_unavailable(exc, environ), environ)
    except (WorkerError, JobError) as exc:  # JobError: a bad request or job id (jobs.errors)
        _fail(exc, environ)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        # Ctrl+C: what a shell reports for an interrupted command, not a usage error.
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)
