"""What several commands share: option checks and JSON output. ``worker.cli`` imports the commands;
the commands import this module, never ``worker.cli`` (no import cycle)."""

from __future__ import annotations

import json
from typing import Any

import click

#: ``ctx.meta`` key under which the CLI records where REDIS_URL came from.
REDIS_URL_SOURCE = "curriculum_worker.redis_url_source"


def redis_url_source() -> str:
    """Where this command's REDIS_URL came from: ``environment``, ``.env file`` or ``default``."""
    return str(click.get_current_context().meta.get(REDIS_URL_SOURCE, "environment"))


def check_queue_names(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Option callback: a queue name may not be empty or blank."""
    names = value if isinstance(value, tuple) else (value,)
    if any(name is not None and not name.strip() for name in names):
        raise click.BadParameter("a queue name may not be empty", ctx=ctx, param=param)
    return value


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=None, sort_keys=False, default=str))
