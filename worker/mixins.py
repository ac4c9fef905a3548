"""Typing base for the worker's mixins: RQ's ``Worker`` for the type checker, ``object`` at run time.

Each concern of the runtime (stalls, shutdown, failures, outages) is a mixin in its own module; the
concrete ``CurriculumWorker`` composes them over RQ's ``Worker``, and ``super()`` chains them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.settings import Settings

if TYPE_CHECKING:
    from rq.worker import Worker

    class WorkerBase(Worker):
        settings: Settings

else:
    WorkerBase = object


class TickingMixin(WorkerBase):
    """One periodic hook for the worker's parent process: ``on_tick`` after every plain heartbeat.

    RQ heart-beats once per loop while idle (every ``WORKER_HEARTBEAT_INTERVAL``, the blocking
    dequeue's timeout) and between jobs; heartbeats sent in a pipeline or by a work horse do not tick.
    """

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self.is_horse:
            self.on_tick()

    def on_tick(self) -> None:
        """Extend with ``super().on_tick()``; each mixin rate-limits its own work."""
