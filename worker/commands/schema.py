"""``curriculum-worker schema``: the JSON Schema of a curriculum request, or (``--result``) of a result.

Other services (in any language) can check a request against the request schema before they put it
on the queue, instead of learning about a bad field from a failed job, and generate types for the
result they read back (the TypeScript client does). Both are generated from the same pydantic
models the job validates and dumps with, so they cannot drift. Needs no Redis.
"""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--result", "of_result", is_flag=True, help="The schema of a finished job's result instead.")
@click.option("--compact", is_flag=True, help="One line instead of indented JSON.")
def schema(of_result: bool, compact: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of a curriculum request (or, with --result, of a result)."""
    from jobs.models import request_json_schema, result_json_schema

    document = result_json_schema() if of_result else request_json_schema()
    click.echo(json.dumps(document, indent=None if compact else 2))
