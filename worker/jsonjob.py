"""Job and Queue classes that only ever speak JSON.

Pickle lets whoever can write to Redis run code in the worker, so every queue, worker and scheduler
in this service uses ``JSONSerializer``. Forcing it in the classes (rather than passing it at each
call site) also covers rq-scheduler, which has no serializer option but accepts a ``job_class``.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer


class JsonJob(Job):
    """An RQ job whose payload, meta and result are always JSON, whatever serializer is passed."""

    def __init__(self, id: str | None = None, connection: Redis | None = None, serializer: Any = None) -> None:
        super().__init__(id=id, connection=connection, serializer=JSONSerializer)


class JsonQueue(Queue):
    """An RQ queue that creates and fetches JsonJob, serialized as JSON."""

    job_class = JsonJob

    def __init__(self, name: str = "default", *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs["job_class"] = JsonJob
        super().__init__(name, *args, **kwargs)


def json_queue(name: str, connection: Redis) -> JsonQueue:
    return JsonQueue(name, connection=connection)
