"""Lua scripts kept as ``.lua`` package data, each read once and registered once per process.

The one loader for both layers: ``jobs``' scripts are the ``.lua`` files next to this module, and
``worker/scripts.py`` loads ``worker/lua/*.lua`` with it (it lives here, in the bottom layer, because
``jobs/`` may not import ``worker/``: ``tests/test_layering.py``). Each file starts with comments
naming its KEYS and ARGV. A line ``-- include: name.lua`` is replaced by that file of the same
package (shared functions such as ``now_ms``).

redis-py's ``register_script`` hashes the source each time it is called; calling it per poll or per
job was a measurable cost. A ``Lua`` reads and expands its file when its module is imported (no
client is needed for that), hashes it on first use (a ``redis.commands.core.Script``) and runs it
with EVALSHA on whichever client is passed, loading it on the server only after a NOSCRIPT reply.
``tests/test_packaging.py`` checks that a built package carries the files.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script

INCLUDE = "-- include: "


def source(name: str, package: str = __name__) -> str:
    """The text of ``<package>/<name>.lua`` with its includes expanded."""
    text = resources.files(package).joinpath(f"{name}.lua").read_text(encoding="utf-8")
    return "\n".join(source(line[len(INCLUDE):].removesuffix(".lua"), package) if line.startswith(INCLUDE)
                     else line for line in text.splitlines())


class Lua:
    """One script file, registered on first use."""

    def __init__(self, name: str, package: str = __name__) -> None:
        self.name = name
        self.source = source(name, package)
        self._script: Script | None = None

    def __call__(self, client: Redis | Pipeline, keys: list[Any], args: list[Any]) -> Any:
        # Two threads may both build one on first use: the same source, the same SHA; either will do.
        if self._script is None:
            self._script = Script(client, self.source)
        return self._script(keys=keys, args=args, client=client)
