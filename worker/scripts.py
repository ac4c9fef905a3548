"""The worker's Lua scripts, ``worker/lua/*.lua``, each registered once per process.

The loader is ``jobs.lua`` (shared with the jobs' own scripts): a ``Lua`` here reads its file once,
hashes it once and runs it with EVALSHA on whichever client is passed. A line ``-- include: name.lua``
is replaced by that file of ``worker/lua`` (shared Lua functions: ``now``, ``iso``, ``requeue_front``, ``fail``).
``tests/test_packaging.py`` checks that the built package carries the files.
"""

from __future__ import annotations

from jobs import lua

PACKAGE = "worker.lua"


def source(name: str) -> str:
    """The text of ``worker/lua/<name>.lua`` with its includes expanded."""
    return lua.source(name, PACKAGE)


class Lua(lua.Lua):
    """One ``worker/lua`` script file, registered on first use."""

    def __init__(self, name: str) -> None:
        super().__init__(name, PACKAGE)


TAKE = Lua("take")
FAIL_BY_ID = Lua("fail_by_id")
LEASE = Lua("lease")
LEASE_RELEASE = Lua("lease_release")
SWEEP = Lua("sweep")
ORPHANS = Lua("orphans")
REQUEUE = Lua("requeue")
SCHEDULER_WATCH = Lua("scheduler_watch")
