"""Every Redis key the service itself writes, in one list, under one prefix: ``curriculum-worker:``.

One module names them all (as BullMQ's ``queue-keys.ts`` does), so a new key family is added here,
next to the others, and a reader sees at once what the service keeps in Redis, of what type, for
how long and which module writes it. ``tests/test_keys.py`` fails when a module under ``worker/``
or ``jobs/`` spells a key of ours itself, and when a name here leaves the prefix.

It lives in ``jobs/`` because that is the bottom layer: ``worker/`` imports ``jobs``, never the
other way round (``tests/test_layering.py``), and both need these names. It imports nothing.

Three kinds of names are not ours to choose and are kept apart:

* **Wire contract** (``WIRE_CONTRACT``): names other programs compute or subscribe to, so they
  must never change: the idempotency key (the TypeScript client, docs/wire-format.md,
  tests/vectors/canonical.json) and the job-events channel.
* **Legacy** (``LEGACY``): names an older release wrote, read only while a rolling upgrade runs
  old and new workers side by side (docs/operations.md, "Upgrading").
* **RQ's** keys (``rq:*``) are RQ's: ``worker.storage`` takes them from RQ's own classes.

Cluster hash tags (``{...}``) are kept where a Lua script touches several keys of one family.
"""

from __future__ import annotations

PREFIX = "curriculum-worker:"

# --- The worker's runtime (worker/) ---

#: string counter per job, times taken off its queue without starting; 1 day; worker.intake.
TAKES = PREFIX + "takes:"
#: zset per queue, execution -> lease end (Redis TIME s); no TTL, members removed; worker.stalls.
LEASES = PREFIX + "leases:"
#: hash per queue, execution -> when a sweep first found its lease ended; no TTL; worker.stalls.
LEASE_SUSPECTS = PREFIX + "lease-suspects:"
#: hash per queue, job id -> when a sweep first saw it queued in RQ's intermediate list; worker.stalls.
ORPHANS = PREFIX + "orphans:"
#: string per job, the execution that may write its outcome; 10 min after its run, 7 days at most;
#: worker.stalls / worker.fencing.
FENCE = PREFIX + "fence:"
#: hash per job, retries / stalls / failure / attempt:<n>; 30 days after its last change; worker.budget.
BUDGET = PREFIX + "budget:"
#: hashes ``<base>:m:<minute>`` (25 h 10 min), ``:h:<hour>`` (30 days 1 h), ``:total`` (400 days)
#: per base: ``METRICS_JOB<queue>`` and ``METRICS_LLM``; worker.metrics.
METRICS = PREFIX + "metrics"
METRICS_JOB = METRICS + ":job:"
METRICS_LLM = METRICS + ":llm"
#: hash, RQ scheduler lock key -> holder|heartbeat|first seen; 1 h after its last write; worker.scheduler_watch.
SCHEDULER_WATCH = PREFIX + "scheduler-watch"
#: string, a random suffix, written and deleted by one check; 60 s; worker.commands.doctor.
DOCTOR_SCRATCH = PREFIX + "doctor:"

# --- The jobs (jobs/) ---

#: strings ``<namespace>:<sha256>``: model replies (``llm``, 1 h) and curricula (``content``, 24 h); jobs.cache.
CACHE = PREFIX + "cache"
#: string per content key, redis-py Lock token; 30 s, renewed while generating; jobs.singleflight.
LOCK = PREFIX + "lock"
#: hash per job, lock name and token of the generation lock it holds; expires with the lock; jobs.singleflight.
LOCK_HOLDER = PREFIX + "lock-holder:"
#: The global model-call gate's keys share one hash tag (one Lua script touches them all); jobs.llm_gate.
LLM_GATE = PREFIX + "{llm_gate}"
LLM_GATE_HOLDERS = LLM_GATE + ":holders"  # zset, token -> lease expiry (ms); no TTL, leases expire
LLM_GATE_WAITERS = LLM_GATE + ":waiters"  # zset, token -> ticket (arrival order); no TTL
LLM_GATE_WAITER_LEASES = LLM_GATE + ":waiter_leases"  # zset, token -> expiry of a waiter's place (ms)
LLM_GATE_TICKETS = LLM_GATE + ":tickets"  # counter; no TTL
LLM_GATE_LIMIT = LLM_GATE + ":limit"  # string, the last starter's LLM_GLOBAL_CONCURRENCY; 1 day
#: set of the provider budget ids in use (for ``stats``); no TTL; jobs.provider_budget.
LLM_BUDGETS = PREFIX + "llm_budgets"
#: The parts of one provider budget, each ``LLM_BUDGET_PARTS`` key under the budget's hash tag:
#: state hash (1 day after its last write), waiters / leases / calls zsets, needs hash, usage hash
#: (2 h); jobs.provider_budget (and provider_budget.lua, which documents each).
LLM_BUDGET_PARTS = ("state", "waiters", "leases", "needs", "calls", "usage")


def takes(job_id: str) -> str:
    return TAKES + job_id


def leases(queue: str) -> str:
    return LEASES + queue


def lease_suspects(queue: str) -> str:
    return LEASE_SUSPECTS + queue


def orphans(queue: str) -> str:
    return ORPHANS + queue


def fence(job_id: str) -> str:
    return FENCE + job_id


def budget(job_id: str) -> str:
    return BUDGET + job_id


def metrics_job(queue: str) -> str:
    return METRICS_JOB + queue


def cache(namespace: str, key: str, prefix: str = CACHE) -> str:
    return f"{prefix}:{namespace}:{key}"


def lock(content_key: str, prefix: str = LOCK) -> str:
    return f"{prefix}:{content_key}"


def lock_holder(job_id: str) -> str:
    return LOCK_HOLDER + job_id


def llm_budget(budget_id: str) -> list[str]:
    """The keys of one provider budget, in ``LLM_BUDGET_PARTS`` order (provider_budget.lua's KEYS)."""
    return [f"{PREFIX}{{llm_budget:{budget_id}}}:{part}" for part in LLM_BUDGET_PARTS]


# --- Wire contract: other programs use these names; they must not change ---

#: string per request digest -> the job id answering it; TTL as enqueued; worker.idempotency, any client.
IDEMPOTENCY = "curriculum:idempotency"
#: Pub/Sub channel per job (nothing stored); jobs.notify publishes, clients subscribe.
JOB_EVENTS = PREFIX + "job-events:"
WIRE_CONTRACT = frozenset({IDEMPOTENCY, JOB_EVENTS})


def idempotency(digest: str) -> str:
    return f"{IDEMPOTENCY}:{digest}"


def job_events(job_id: str) -> str:
    return JOB_EVENTS + job_id


# --- Legacy: written by releases before this registry; read only, during a rolling upgrade ---

#: The cache's old prefix: a miss under ``CACHE`` is looked up here too, so curricula and replies
#: paid for before the upgrade are still served until they expire (24 h at most). Remove later.
LEGACY_CACHE = "curriculum:cache"
#: Old names nothing reads any more; listed so docs/operations.md can say what to delete.
LEGACY_PATTERNS = ("curriculum:lock:*", "curriculum:lock-holder:*", "cw:{llm_gate}:*", "cw:llm_budgets",
                   "cw:{llm_budget:*")
LEGACY = frozenset({LEGACY_CACHE, *LEGACY_PATTERNS})
