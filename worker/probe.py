"""The queue-statistics health probe: what ``curriculum-worker stats`` measures, and how it judges it.

A health check must not change what it measures. RQ's own counters do: ``registry.count``,
``len(registry)``, ``get_job_ids()``, ``Worker.all()`` and ``rq info`` run registry cleanup, which
requeues or fails abandoned jobs and calls their failure callbacks. So this module reads the keys RQ
writes with plain read commands (PING, INFO, CONFIG GET, SUNION, LLEN, LINDEX, ZCARD, ZCOUNT, HMGET)
and nothing else, in three round trips however many jobs, queues or workers there are:

1. ``PING``, timed: the Redis round trip (``latency_ms``).
2. One pipeline: INFO and CONFIG facts, the workers serving the queues, per queue the list
   length, its head job id, each registry's size and the stalled count (``worker.stalls``), and
   the job and model-call metrics of the window (a fixed number of HGETALLs: ``metrics_window``).
3. One pipeline: each worker's ``state``/``last_heartbeat`` and each head job's ``enqueued_at``.

More queues or workers make the pipelines longer, never more numerous; more jobs change nothing.
Key names come from RQ's own classes, so ``RQ_KEY_PREFIX`` is honoured.

Run as ``python -m worker.probe [OPTIONS]``: the same as ``curriculum-worker stats [OPTIONS]``.
"""

from __future__ import annotations

import ipaddress
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis
from rq import worker_registration
from rq.job import Job
from rq.queue import Queue
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.utils import utcparse

from worker import metrics_window
from worker.stalls import queue_stalled_count

#: Registry sizes reported per queue, in the contract's order. ``started`` counts *executions* in
#: RQ's ``wip`` set (entries ``<job_id>:<execution_id>``): that is what occupies workers, and it
#: costs one ZCARD. Counting distinct job ids would mean reading every member (a reply that grows
#: with the number of jobs); a job holds two entries only while a stale execution of it lingers
#: after a requeue, and such an entry is exactly what ``stalled`` counts.
REGISTRIES: tuple[tuple[str, Any], ...] = (
    ("started", StartedJobRegistry),
    ("finished", FinishedJobRegistry),
    ("failed", FailedJobRegistry),
    ("deferred", DeferredJobRegistry),
    ("scheduled", ScheduledJobRegistry),
    ("canceled", CanceledJobRegistry),
)
COUNTS = ("queued", "started", "finished", "failed", "deferred", "scheduled", "canceled", "stalled")

SLOW_ROUND_TRIP_MS = 50.0
#: A scheduled job (enqueue_in/at, a retry's delay) this long past its time means no scheduler is
#: moving it: RQ's scheduler moves due jobs every second, and a dead holder's lock is taken over
#: within two heartbeats (worker.scheduler_watch).
SCHEDULED_OVERDUE_S = 60.0
#: A worker not heard from for this long is "not recent" (RQ heartbeats every few seconds and our
#: runtime every WORKER_HEARTBEAT_INTERVAL; the CLI raises this to WORKER_STALL_TIMEOUT if longer).
HEARTBEAT_STALE_S = 120.0
#: Host name endings that only resolve inside a private network (resolving names is not our job).
PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".svc", ".cluster.local")


@dataclass(frozen=True)
class Limits:
    """Thresholds from the command line; None means "not checked"."""

    max_queued: int | None = None
    max_failed: int | None = None
    max_age_s: float | None = None
    max_stalled: int | None = None
    min_workers: int | None = None
    max_failure_rate: float | None = None
    max_p95_wait_s: float | None = None
    max_new_failed: int | None = None


@dataclass
class ServerFacts:
    """What the server says about itself; None where it will not say (CONFIG disabled)."""

    version: str | None = None
    policy: str | None = None
    aof: bool | None = None
    save: str | None = None
    evicted_keys: int | None = None


@dataclass
class _Worker:
    state: str | None
    last_heartbeat: float | None


@dataclass
class _Snapshot:
    server: ServerFacts = field(default_factory=ServerFacts)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)
    worker_keys: list[str] = field(default_factory=list)
    workers: list[_Worker] = field(default_factory=list)
    llm: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)


# -- reading ------------------------------------------------------------------------------------


def collect(
    connection: redis.Redis,
    queues: Sequence[str],
    *,
    redis_url: str,
    tls: bool,
    heartbeat_stale_s: float = HEARTBEAT_STALE_S,
    window_s: int = metrics_window.WINDOWS_S[metrics_window.DEFAULT_WINDOW],
) -> dict[str, Any]:
    """The contract's report for ``queues`` (problems left empty: see ``evaluate``).

    ``redis_url`` must already be redacted; it is shown as given and its host judged for the
    plain-TCP warning. Raises redis-py errors as they come: the caller decides what they mean.
    """
    latency = ping_ms(connection)
    now = time.time()
    snap = _read_counts(connection, queues, now, window_s)
    _read_details(connection, snap, now)
    # A registration whose heartbeat is older than the limit belongs to a dead worker (SIGKILL, lost
    # machine) whose key has not expired yet (RQ keeps it about a minute more): not counted as live.
    live = [w for w in snap.workers if not _silent(w, now, heartbeat_stale_s)]
    workers = _worker_counts(live)
    warnings = [
        *server_warnings(snap.server),
        *scheduled_warnings(snap.queues),
        *transport_warnings(redis_url, tls=tls, latency_ms=latency),
        *worker_warnings(snap.workers, now=now, stale_s=heartbeat_stale_s),
    ]
    return {
        "status": "ok",
        "checked_at": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "redis": {"url": redis_url, "latency_ms": latency, "version": snap.server.version,
                  "maxmemory_policy": snap.server.policy, "tls": tls, "evicted_keys": snap.server.evicted_keys},
        "queues": snap.queues,
        "workers": workers,
        "problems": [],
        "warnings": warnings,
        "llm": snap.llm,
        "totals": snap.totals,
    }


def ping_ms(connection: redis.Redis) -> float:
    start = time.perf_counter()
    connection.ping()
    return round((time.perf_counter() - start) * 1000, 3)


def _read_counts(connection: redis.Redis, queues: Sequence[str], now: float, window_s: int) -> _Snapshot:
    """Round trip 2. Not a MULTI: a disabled CONFIG would abort a transaction, and reads need none."""
    pipe = connection.pipeline(transaction=False)
    for section in ("server", "memory", "persistence", "stats"):  # one per INFO: Redis < 7 takes only one
        pipe.info(section)
    pipe.config_get("maxmemory-policy")
    pipe.config_get("save")
    pipe.sunion([worker_registration.WORKERS_BY_QUEUE_KEY % name for name in queues])
    for name in queues:
        key = Queue.redis_queue_namespace_prefix + name
        pipe.llen(key)
        pipe.lindex(key, 0)  # RQ pushes on the right and pops on the left: index 0 waited longest
        for _, registry in REGISTRIES:
            pipe.zcard(registry.key_template.format(name))
        queue_stalled_count(pipe, name, now)
        pipe.zcount(ScheduledJobRegistry.key_template.format(name), "-inf", now - SCHEDULED_OVERDUE_S)
    metrics_window.add_reads(pipe, queues, window_s, now)
    replies = iter(pipe.execute(raise_on_error=False))
    snap = _Snapshot(server=_server(*(_optional(next(replies)) for _ in range(6))))
    snap.worker_keys = sorted(_text(key) for key in _required(next(replies)))
    for name in queues:
        counts: dict[str, Any] = {"queued": int(_required(next(replies)))}
        head = _required(next(replies))
        for label, _ in REGISTRIES:
            counts[label] = int(_required(next(replies)))
        counts["stalled"] = int(_required(next(replies)))
        counts["scheduled_overdue"] = int(_required(next(replies)))
        counts["oldest_queued_age_s"] = None
        snap.queues[name] = counts
        if head is not None:
            snap.heads[name] = _text(head)
    _take_metrics(snap, replies, queues, window_s, now)
    return snap


def _take_metrics(snap: _Snapshot, replies: Any, queues: Sequence[str], window_s: int, now: float) -> None:
    per_queue, (llm_window, llm_total) = metrics_window.take_reads(replies, queues, window_s, now)
    for name, (window, _) in per_queue.items():
        snap.queues[name]["metrics"] = metrics_window.queue_metrics(window, window_s)
    snap.llm = metrics_window.llm_metrics(llm_window, window_s)
    snap.totals = {"queues": {name: dict(total) for name, (_, total) in per_queue.items()}, "llm": dict(llm_total)}


def _read_details(connection: redis.Redis, snap: _Snapshot, now: float) -> None:
    """Round trip 3: worker states and the enqueue time of each queue's head job."""
    if not snap.worker_keys and not snap.heads:
        return
    pipe = connection.pipeline(transaction=False)
    for key in snap.worker_keys:
        pipe.hmget(key, ["state", "last_heartbeat"])
    for job_id in snap.heads.values():
        pipe.hmget(Job.key_for(job_id), ["enqueued_at", "created_at"])
    replies = iter(pipe.execute())
    for _ in snap.worker_keys:
        state, heartbeat = next(replies)
        # A key left in rq:workers whose hash expired is a worker that died without unregistering
        # (RQ's own cleanup would drop it): it is not counted, neither live nor as a separate state.
        if state is not None or heartbeat is not None:
            snap.workers.append(_Worker(_text(state) if state else None, _timestamp(heartbeat)))
    for name in snap.heads:
        enqueued = next((_timestamp(value) for value in next(replies) if value), None)
        if enqueued is not None:
            snap.queues[name]["oldest_queued_age_s"] = round(max(0.0, now - enqueued), 3)


def _server(server: Any, memory: Any, persistence: Any, stats: Any, policy: Any, save: Any) -> ServerFacts:
    facts = ServerFacts()
    if isinstance(stats, dict) and "evicted_keys" in stats:
        facts.evicted_keys = int(stats["evicted_keys"])
    if isinstance(server, dict):
        facts.version = str(server.get("redis_version")) if server.get("redis_version") else None
    configured = policy.get("maxmemory-policy") if isinstance(policy, dict) else None
    if configured is None and isinstance(memory, dict):  # managed Redis often disables CONFIG
        configured = memory.get("maxmemory_policy")
    facts.policy = None if configured is None else _text(configured)
    if isinstance(persistence, dict) and "aof_enabled" in persistence:
        facts.aof = bool(int(persistence["aof_enabled"]))
    if isinstance(save, dict) and "save" in save:
        facts.save = _text(save["save"])
    return facts


def _worker_counts(workers: Sequence[_Worker]) -> dict[str, int]:
    return {
        "total": len(workers),
        "busy": sum(1 for w in workers if w.state == "busy"),
        "idle": sum(1 for w in workers if w.state == "idle"),
    }


def _required(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply


def _optional(reply: Any) -> Any:
    """INFO/CONFIG may be disabled or denied by ACL on managed Redis: unknown, not fatal."""
    return None if isinstance(reply, Exception) else reply


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    try:
        return utcparse(_text(value)).timestamp()
    except ValueError:
        return None


# -- judging ------------------------------------------------------------------------------------


def server_warnings(server: ServerFacts) -> list[str]:
    found = []
    if server.policy is not None and server.policy != "noeviction":
        found.append(f"maxmemory-policy is {server.policy}: Redis may evict job keys under memory pressure "
                     "(lost jobs); set it to noeviction")
    if server.aof is False and server.save is not None and not server.save.strip():
        found.append("no persistence (AOF off and no RDB save points): a Redis restart loses every queued job")
    return found


def scheduled_warnings(queues: dict[str, dict[str, Any]]) -> list[str]:
    return [f"queue {name}: {counts['scheduled_overdue']} scheduled job(s) more than {SCHEDULED_OVERDUE_S:g} s "
            "past their time: no RQ scheduler is moving them (is a worker running?)"
            for name, counts in queues.items() if counts.get("scheduled_overdue")]


def eviction_problems(redis_facts: dict[str, Any]) -> list[str]:
    evicted = redis_facts.get("evicted_keys")
    if not evicted:
        return []
    return [f"Redis has evicted {evicted} key(s) since its statistics were reset (INFO evicted_keys): jobs "
            "may have been lost; set maxmemory-policy noeviction or raise maxmemory (CONFIG RESETSTAT clears this)"]


def transport_warnings(redis_url: str, *, tls: bool, latency_ms: float) -> list[str]:
    found = []
    host = urlsplit(redis_url).hostname or ""
    if not tls and not is_private_host(host):
        found.append(f"plain TCP (no TLS) to {host}, which is not a loopback or private address: "
                     "the password and job data cross the network in clear; use rediss://")
    if latency_ms > SLOW_ROUND_TRIP_MS:
        found.append(f"Redis round trip took {latency_ms:g} ms (above {SLOW_ROUND_TRIP_MS:g} ms): "
                     "is the worker in the same region as Redis?")
    return found


def worker_warnings(workers: Sequence[_Worker], *, now: float, stale_s: float) -> list[str]:
    if not workers:
        return ["no live worker serves these queues: jobs will wait"]
    stale = [w for w in workers if _silent(w, now, stale_s)]
    if len(stale) == len(workers):
        return [f"no live worker serves these queues: jobs will wait ({len(stale)} registration(s) not heard "
                f"from for more than {stale_s:g} s)"]
    if stale:
        return [f"{len(stale)} of {len(workers)} worker(s) not heard from for more than {stale_s:g} s "
                "(not counted as live)"]
    return []


def _silent(worker: _Worker, now: float, stale_s: float) -> bool:
    return worker.last_heartbeat is None or now - worker.last_heartbeat > stale_s


def is_private_host(host: str) -> bool:
    """Loopback, RFC 1918, ULA or link-local address, or a name only a private network resolves.

    Names without a dot (Render's internal ``red-xxxx``, a compose service ``redis``, a Kubernetes
    short name) are resolved through the local search domains, so they are taken as private; so are
    ``localhost`` and the reserved internal suffixes. Nothing is resolved: DNS may lie or be slow.
    """
    name = host.strip("[]").lower().rstrip(".")
    try:
        address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return name == "localhost" or "." not in name or name.endswith(PRIVATE_SUFFIXES)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_link_local or address.is_private


def evaluate(report: dict[str, Any], limits: Limits, *, strict: bool = False) -> dict[str, Any]:
    """The report with threshold breaches as ``problems`` and ``status`` set accordingly."""
    problems = [*eviction_problems(report["redis"]), *queue_problems(report["queues"], limits)]
    total = report["workers"]["total"]
    if limits.min_workers is not None and total < limits.min_workers:
        problems.append(f"workers: {total} live, below --min-workers {limits.min_workers}")
    unhealthy = bool(problems) or (strict and bool(report["warnings"]))
    return {**report, "status": "unhealthy" if unhealthy else "ok", "problems": problems}


def queue_problems(queues: dict[str, dict[str, Any]], limits: Limits) -> list[str]:
    checks = (("queued", limits.max_queued, "{value} jobs queued, above --max-queued {limit}"),
              ("failed", limits.max_failed, "{value} failed jobs, above --max-failed {limit}"),
              ("stalled", limits.max_stalled, "{value} stalled jobs, above --max-stalled {limit}"),
              ("oldest_queued_age_s", limits.max_age_s,
               "oldest queued job waited {value} s, above --max-age {limit}"))
    found = []
    for name, counts in queues.items():
        for key, limit, template in checks:
            value = counts[key]
            if limit is not None and value is not None and value > limit:
                found.append(f"queue {name}: " + template.format(value=value, limit=limit))
        found += [f"queue {name}: {text}" for text in metrics_window.problems(
            counts.get("metrics"), max_failure_rate=limits.max_failure_rate, max_p95_wait_s=limits.max_p95_wait_s,
            max_new_failed=limits.max_new_failed)]
    return found



if __name__ == "__main__":
    from worker.cli import main

    main(["stats", *sys.argv[1:]])
