"""Push notifications of a job's progress and end, so waiters need not poll.

Key (this module owns it): the Redis Pub/Sub channel ``curriculum-worker:job-events:<job id>``.
Each message is one JSON object ``{"job_id", "status", "progress"}`` (``progress`` null when the
message is about the status). It is published after the state it announces is written, so a
waiter that re-reads the job on a message sees at least that state. A message is a hint, never the
only copy: a waiter subscribes first, then reads the job, and still polls now and then, so a message
lost in between (Pub/Sub does not store them) costs latency, never correctness. A failed publish
never fails a job. docs/wire-format.md describes the channel for other languages.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from redis import Redis

from jobs import keys

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = keys.JOB_EVENTS  # wire contract: never changes
channel = keys.job_events


def announcement(job_id: str, status: str, progress: dict[str, Any] | None = None) -> tuple[str, str]:
    """(channel, message) announcing a job's new status or progress, for a caller that batches it."""
    return channel(job_id), json.dumps({"job_id": job_id, "status": status, "progress": progress})


def publish(connection: Redis, job_id: str, status: str, progress: dict[str, Any] | None = None) -> None:
    """Announce a job's new status or progress; a Redis error is logged and ignored."""
    try:
        connection.publish(*announcement(job_id, status, progress))
    except redis.RedisError as exc:
        logger.debug("job event not published: %s", exc, extra={"event": "job.notify_failed", "job_id": job_id})
