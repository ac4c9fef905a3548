"""``curriculum-worker schema``: the curriculum request's JSON Schema, for validating before enqueueing.

Other services (in any language) can check a request against this schema before they put it on
the queue, instead of learning about a bad field from a failed job. It is generated from the same
pydantic model the job validates with, so the two cannot drift. Needs no Redis.
"""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--compact", is_flag=True, help="One line instead of indented JSON.")
def schema(compact: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of a curriculum request."""
    from jobs.models import request_json_schema

    click.echo(json.dumps(request_json_schema(), indent=None if compact else 2))
