"""The service's Lua scripts, read from ``worker/lua/*.lua`` and registered once per process.

redis-py's ``register_script`` hashes the source each time it is called; calling it on every poll
was a measurable part of the take's cost. Each ``Lua`` here reads its file once, hashes it once
(a ``redis.commands.core.Script``), and runs it with EVALSHA on whichever client is passed (loading
it on the server only after a NOSCRIPT reply, as redis-py does). A line ``-- include: name.lua``
is replaced by that file (shared Lua functions: ``now``, ``iso``, ``requeue_front``, ``fail``).
``tests/test_packaging.py`` checks that the built package carries the files.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script

INCLUDE = "-- include: "


def source(name: str) -> str:
    """The text of ``worker/lua/<name>.lua`` with its includes expanded."""
    text = resources.files("worker.lua").joinpath(f"{name}.lua").read_text(encoding="utf-8")
    return "\n".join(source(line[len(INCLUDE):].removesuffix(".lua")) if line.startswith(INCLUDE) else line
                     for line in text.splitlines())


class Lua:
    """One script file, registered on first use."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = source(name)
        self._script: Script | None = None

    def __call__(self, client: Redis | Pipeline, keys: list[Any], args: list[Any]) -> Any:
        if self._script is None:
            self._script = Script(client, self.source)
        return self._script(keys=keys, args=args, client=client)


TAKE = Lua("take")
FAIL_BY_ID = Lua("fail_by_id")
LEASE = Lua("lease")
LEASE_RELEASE = Lua("lease_release")
SWEEP = Lua("sweep")
ORPHANS = Lua("orphans")
REQUEUE = Lua("requeue")
SCHEDULER_WATCH = Lua("scheduler_watch")
