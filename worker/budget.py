"""A job's retry and stall budget, kept in the service's own key, not in RQ's job hash.

Keys (this module owns them):

``curriculum-worker:budget:<job id>``
    hash ``retries`` (attempts retried so far), ``stalls`` (times its worker went silent),
    ``failure`` (why the sweep failed it), ``attempt:<n>`` (``ExcType: error`` of each retried
    attempt, for the one Sentry event sent when the job fails for good). Expires ``BUDGET_TTL_S``
    after its last change.

A job starts a fresh budget whenever it begins a new life: RQ's requeue of a failed job (``rq
requeue``, rq-dashboard's Requeue, ``curriculum-worker failed --requeue``, all through
``FailedJobRegistry.requeue``) clears the job's ``started_at``, while a retry, a stall requeue and
a shutdown requeue keep it. So a job about to run with no ``started_at`` has never run in this life,
and its old counters are dropped (``tests/test_rq_compat.py`` pins that RQ behaviour).
"""

from __future__ import annotations

from redis import Redis
from redis.client import Pipeline

from jobs import keys

KEY_PREFIX = keys.BUDGET
BUDGET_TTL_S = 30 * 86_400
RETRIES = "retries"
STALLS = "stalls"
FAILURE = "failure"
ATTEMPT = "attempt:"
MAX_ATTEMPT_CHARS = 300


def budget_key(job_id: str) -> str:
    return KEY_PREFIX + job_id


def obsolete_at_start(job_id: str, started_at: object) -> list[str]:
    """The budget key to drop as the job starts: its own, when it has not started in its current
    life (see the docstring). The worker deletes it in its lease grant's round trip."""
    return [budget_key(job_id)] if started_at is None else []


def start_life_if_new(connection: Redis, job_id: str, started_at: object) -> None:
    """Drop the counters of a job that has not started in its current life (see the docstring)."""
    obsolete = obsolete_at_start(job_id, started_at)
    if obsolete:
        connection.delete(*obsolete)


def retries_done(connection: Redis, job_id: str) -> int:
    return int(connection.hget(budget_key(job_id), RETRIES) or 0)


def count_retry(pipe: Redis | Pipeline, job_id: str) -> None:
    key = budget_key(job_id)
    pipe.hincrby(key, RETRIES, 1)
    pipe.expire(key, BUDGET_TTL_S)


def counts(connection: Redis, job_id: str) -> dict[str, int]:
    retries, stalls = connection.hmget(budget_key(job_id), RETRIES, STALLS)
    return {RETRIES: int(retries or 0), STALLS: int(stalls or 0)}


def forget(connection: Redis, job_id: str) -> None:
    connection.delete(budget_key(job_id))


def note_attempt(connection: Redis, job_id: str, attempt: int, summary: str) -> None:
    """Remember why retried attempt ``attempt`` failed (each runs in its own work horse)."""
    key = budget_key(job_id)
    with connection.pipeline() as pipe:
        pipe.hset(key, f"{ATTEMPT}{attempt}", summary[:MAX_ATTEMPT_CHARS])
        pipe.expire(key, BUDGET_TTL_S)
        pipe.execute()


def attempts(connection: Redis, job_id: str) -> list[tuple[int, str]]:
    """(attempt, summary) of every retried attempt of the job's current life, oldest first."""
    found = []
    for field, value in connection.hgetall(budget_key(job_id)).items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        if name.startswith(ATTEMPT) and name[len(ATTEMPT):].isdigit():
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            found.append((int(name[len(ATTEMPT):]), text))
    return sorted(found)
