"""Typing base for the worker's mixins: RQ's ``Worker`` for the type checker, ``object`` at run time.

Each concern of the runtime (stalls, shutdown, failures, outages) is a mixin in its own module; the
concrete ``CurriculumWorker`` composes them over RQ's ``Worker``, and ``super()`` chains them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.settings import Settings

if TYPE_CHECKING:
    from rq.worker import Worker

    class WorkerBase(Worker):
        settings: Settings

else:
    WorkerBase = object
