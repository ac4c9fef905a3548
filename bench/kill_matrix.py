"""Kill matrix: workers are SIGKILLed and SIGTERMed at random moments while they work a queue.

``python -m bench.kill_matrix --jobs 200 --kills 100``

Several ``curriculum-worker run`` processes work canary jobs with small random sleeps. At random
moments one of them is hit with one of three signals and replaced at once by a fresh worker:

* ``sigkill``        the worker and its children (work horse, scheduler) together, as when a
                     container or machine dies (``WorkerProcess.kill_hard``);
* ``sigkill-parent`` the worker alone; its children must die with it (PR_SET_PDEATHSIG);
* ``sigterm``        a deploy: the running job gets WORKER_SHUTDOWN_TIMEOUT, then goes back;
* ``sigstop``        (``--stop-share``) the worker, or the worker and its children, paused with
                     SIGSTOP for twice the lease, then SIGCONT: its jobs are taken back meanwhile,
                     and on return its stale runs must neither finish a job nor overwrite a result;
* ``scheduler``      (``--scheduler-share``) SIGKILL of the worker tree whose scheduler child holds
                     RQ's scheduler lock: another worker takes the lock over (``--scheduled``
                     jobs, enqueued with ``enqueue_in``, must still run, and soon).

When the kills are done the survivors keep working until every job has ended (bounded), are
stopped with SIGTERM, and a final ``--burst`` worker drains whatever is left. Reported:

* lost jobs: not ``finished`` in Redis at the end (must be 0);
* jobs run more than once (``job.started`` > 1): expected after kills, split into runs that were
  interrupted and re-run, and jobs completed twice (``job.finished`` > 1, must be 0);
* the same counted by the function itself (the canary's own run/return counters in its job hash):
  a function that returned and whose worker died before logging it shows up here only;
* stall-detection latency: from a SIGKILL to the ``job.stalled`` event naming the killed worker,
  worst case and p50, beside the designed bound (stall timeout + three heartbeat intervals + 1 s:
  the lease, then two sweeps that agree it ended, see ``worker.stalls``);
* children of a ``sigkill-parent`` victim still alive afterwards (must be 0).

Variants: ``--queues 2`` spreads the jobs over two queues that every worker serves (RQ would
dequeue with BLPOP there; ``worker.intake`` moves each job atomically into an intermediate list);
``--pause-ms 6000 --pause-every 8`` also CLIENT PAUSEs Redis that long, that often, during the kills
(twice the 3 s lease: a live worker's job must not be taken back and run twice).
``--foreign-origin 0.2`` gives that share of the jobs an ``origin`` naming a queue nobody serves:
each must still finish, and no key may be left named after those origins.

Exits 1 if a job is lost or finished twice.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis

from bench.common import QUEUE, median, parse_ts, percentile, private_redis, table, worker_env, write_results
from jobs.diagnostics import COUNT_RUNS, RETURNS_FIELD, RUNS_FIELD
from tests.workers import WorkerProcess, descendants
from worker.jsonjob import JsonQueue

HEARTBEAT_S = 1
STALL_TIMEOUT_S = 3
STALL_BOUND_S = STALL_TIMEOUT_S + 3 * HEARTBEAT_S + 1
SHUTDOWN_TIMEOUT_S = 1
KINDS = ("sigkill", "sigkill-parent", "sigterm")
KIND_WEIGHTS = (0.4, 0.3, 0.3)
STOP_S = 2 * STALL_TIMEOUT_S  # a pause past the lease: the job is taken back meanwhile
FOREIGN_PREFIX = "elsewhere-"
PER_JOB_OVERHEAD_S = 0.15  # fork + bookkeeping per job on this machine, for pacing the kills only


@dataclass
class Kill:
    kind: str
    at: float  # epoch seconds, taken just before the signal
    victim: WorkerProcess
    orphans: list[tuple[int, str]] = field(default_factory=list)  # (pid, /proc stat start time)


def settings_env(redis_url: str) -> dict[str, str]:
    return worker_env(redis_url, WORKER_HEARTBEAT_INTERVAL=str(HEARTBEAT_S),
                      WORKER_STALL_TIMEOUT=str(STALL_TIMEOUT_S), WORKER_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT_S),
                      JOB_MAX_STALLS="50", JOB_RETRY_DELAY="1", LOG_LEVEL="INFO",
                      # SIGABRT then dumps every thread's stack into the log: see ``stuck_after_sigterm``.
                      PYTHONFAULTHANDLER="1")


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time), or None if the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = stat.rsplit(")", 1)[1].split()
    return None if rest[0] in ("Z", "X") else rest[19]


def pause_then_resume(pids: list[int], stop_s: float) -> None:
    """SIGSTOP the processes now, SIGCONT them ``stop_s`` later (from a timer thread)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)

    def resume() -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    threading.Timer(stop_s, resume).start()


def scheduler_holder(conn: redis.Redis, live: list[WorkerProcess]) -> WorkerProcess | None:
    """The live worker tree whose descendant is the scheduler holding the lock of QUEUE."""
    holder = conn.get(f"rq:scheduler-lock:{QUEUE}")
    name = holder.decode() if isinstance(holder, bytes) else holder
    pid = conn.hget(f"rq:scheduler:{name}", "pid") if name else None
    return next((proc for proc in live if pid and int(pid) in descendants(proc.pid)), None)


def hit(victim: WorkerProcess, kind: str) -> Kill:
    kill = Kill(kind, time.time(), victim)
    if kind in ("sigstop-parent", "sigstop-tree"):
        pids = [victim.pid, *(descendants(victim.pid) if kind == "sigstop-tree" else [])]
        pause_then_resume(pids, STOP_S)
    elif kind in ("sigkill", "scheduler"):
        with contextlib.suppress(ProcessLookupError):
            victim.kill_hard()
    elif kind == "sigkill-parent":
        kill.orphans = [(pid, start_time(pid) or "") for pid in descendants(victim.pid)]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
    else:
        victim.terminate()
    return kill


def function_counts(conn: redis.Redis, job_ids: list[str]) -> list[tuple[int, int]]:
    """(runs, returns) of each job as counted by the canary function itself."""
    pipe = conn.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(f"rq:job:{job_id}", [RUNS_FIELD, RETURNS_FIELD])
    return [(int(runs or 0), int(returns or 0)) for runs, returns in pipe.execute()]


def statuses(conn: redis.Redis, job_ids: list[str]) -> list[str]:
    pipe = conn.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(f"rq:job:{job_id}", "status")
    return [(s.decode() if s else "missing") for s in pipe.execute()]


class Matrix:
    def __init__(self, args: argparse.Namespace, redis_url: str, conn: redis.Redis) -> None:
        self.args = args
        self.env = settings_env(redis_url)
        self.conn = conn
        self.rng = random.Random(args.seed)
        self.procs: list[WorkerProcess] = []
        self.live: list[WorkerProcess] = []
        self.kills: list[Kill] = []
        self.unexpected_exits = 0
        self.job_ids: list[str] = []
        self.stuck: list[dict[str, Any]] = []
        self.pauses = 0
        self.scheduled: dict[str, float] = {}  # job id -> when it was due (epoch s)

    def queue_names(self) -> list[str]:
        """The queues, highest priority first: QUEUE alone, or QUEUE and ``low_priority``."""
        return [QUEUE, *(f"low_priority_{n}" for n in range(1, self.args.queues))]

    def spawn(self, *args: str) -> WorkerProcess:
        queues = [part for name in self.queue_names() for part in ("-q", name)]
        proc = WorkerProcess(self.env, *queues, "--concurrency", str(self.args.concurrency), *args)
        self.procs.append(proc)
        return proc

    def enqueue(self) -> None:
        queues = [JsonQueue(name, connection=self.conn) for name in self.queue_names()]
        for number in range(self.args.jobs):
            queue = queues[number % len(queues)]
            sleep_s = round(self.rng.uniform(self.args.min_sleep, self.args.max_sleep), 3)
            # Keep results for the whole run: RQ's default 500 s result TTL would look like loss.
            job = queue.enqueue("jobs.diagnostics.canary", sleep_s, result_ttl=-1, failure_ttl=-1,
                                meta={COUNT_RUNS: True})
            if self.rng.random() < self.args.foreign_origin:
                self.conn.hset(job.key, "origin", f"{FOREIGN_PREFIX}{number}")
            self.job_ids.append(job.id)

    def enqueue_scheduled(self) -> None:
        """``--scheduled``: jobs enqueued with enqueue_in (spread over the kill phase)."""
        queue = JsonQueue(QUEUE, connection=self.conn)
        for _ in range(self.args.scheduled):
            delay = timedelta(seconds=self.rng.uniform(1, 2 + self.args.kills))
            job = queue.enqueue_in(delay, "jobs.diagnostics.canary", 0, result_ttl=-1, failure_ttl=-1,
                                   meta={COUNT_RUNS: True})
            self.job_ids.append(job.id)
            self.scheduled[job.id] = time.time() + delay.total_seconds()

    def pause_redis(self, stop: threading.Event) -> None:
        """``--pause-ms``: CLIENT PAUSE the server for that long every ``--pause-every`` seconds."""
        while not stop.wait(self.args.pause_every):
            with contextlib.suppress(redis.RedisError):
                self.conn.execute_command("CLIENT", "PAUSE", str(self.args.pause_ms), "ALL")
                self.pauses += 1

    def kill_phase(self) -> None:
        stop = threading.Event()
        pauser = threading.Thread(target=self.pause_redis, args=(stop,), daemon=True)
        if self.args.pause_ms:
            pauser.start()
        try:
            self._kill_phase()
        finally:
            stop.set()
            if pauser.is_alive():
                pauser.join()

    def _kill_phase(self) -> None:
        a = self.args
        self.live = [self.spawn() for _ in range(a.workers)]
        for proc in self.live:
            proc.wait_for("worker.started", timeout=30, count=a.concurrency)
        work_s = a.jobs * ((a.min_sleep + a.max_sleep) / 2 + PER_JOB_OVERHEAD_S) / (a.workers * a.concurrency)
        mean_gap = max(0.2, work_s / max(1, a.kills))
        self.enqueue_scheduled()
        for _ in range(a.kills):
            time.sleep(self.rng.uniform(0.3 * mean_gap, 1.7 * mean_gap))
            self.replace_dead()
            index = self.rng.randrange(len(self.live))
            kind = self.choose_kind()
            if kind == "scheduler":
                holder = scheduler_holder(self.conn, self.live)
                index = self.live.index(holder) if holder is not None else index
            self.kills.append(hit(self.live[index], kind))
            if not kind.startswith("sigstop"):
                self.live[index] = self.spawn()

    def choose_kind(self) -> str:
        draw = self.rng.random()
        if draw < self.args.stop_share:
            return self.rng.choice(("sigstop-parent", "sigstop-tree"))
        if draw < self.args.stop_share + self.args.scheduler_share:
            return "scheduler"
        return self.rng.choices(KINDS, KIND_WEIGHTS)[0]

    def replace_dead(self) -> None:
        for index, proc in enumerate(self.live):
            if proc.process.poll() is not None:
                self.unexpected_exits += 1
                self.live[index] = self.spawn()

    def wait_all_ended(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s in ("finished", "failed") for s in statuses(self.conn, self.job_ids)):
                return True
            self.replace_dead()
            time.sleep(0.5)
        return False

    def stuck_after_sigterm(self, grace_s: float = SHUTDOWN_TIMEOUT_S + 10) -> list[dict[str, Any]]:
        """SIGTERMed workers still running ``grace_s`` after the signal; SIGABRT logs where they are stuck."""
        stuck = []
        for kill in self.kills:
            proc = kill.victim
            if kill.kind != "sigterm":
                continue
            with contextlib.suppress(Exception):
                proc.wait(timeout=max(0.0, kill.at + grace_s - time.time()))
            if proc.process.poll() is not None:
                continue
            after_s = round(time.time() - kill.at, 1)
            proc.process.send_signal(signal.SIGABRT)
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
            lines = proc.text().splitlines()
            events = [json.loads(x) for x in lines if x.startswith("{")]
            stuck.append({"still_running_after_s": after_s, "log": str(proc.log_path),
                          "last_event": events[-1]["event"] if events else None,
                          "alive_before_sigterm_s": round(kill.at - parse_ts(events[0]["timestamp"]), 2)
                          if events else None,
                          "stack": [x for x in lines if not x.startswith("{")][-60:]})
        return stuck

    def drain(self) -> int:
        """Survivors finish what they can, stop on SIGTERM; then burst workers drain the rest."""
        self.wait_all_ended(timeout=60 + 2 * STALL_TIMEOUT_S + self.args.jobs * self.args.max_sleep / 3)
        self.stuck = self.stuck_after_sigterm()
        for proc in self.live:
            proc.terminate()
        for proc in self.live:
            with contextlib.suppress(Exception):
                proc.wait(timeout=SHUTDOWN_TIMEOUT_S + 20)
        bursts = 0
        for _ in range(3):
            if all(s == "finished" for s in statuses(self.conn, self.job_ids)):
                break
            time.sleep(STALL_BOUND_S)  # let any lease that is still running expire and be settled
            bursts += 1
            self.spawn("--burst").wait(timeout=300)
        return bursts

    def stop_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.stop()


def event_index(procs: list[WorkerProcess]) -> tuple[dict[int, set[str]], list[dict[str, Any]]]:
    """Worker names per process tree (by id(); one per --concurrency child), and every event."""
    names: dict[int, set[str]] = {}
    everything: list[dict[str, Any]] = []
    for proc in procs:
        events = proc.events()
        everything.extend(events)
        names[id(proc)] = {e["worker"] for e in events if e.get("event") == "worker.started"}
    return names, everything


def unfinished_jobs(victim: WorkerProcess) -> set[str]:
    """Jobs the victim started and did not end (finished, failed or requeued) before it died."""
    started, ended = set(), set()
    for e in victim.events():
        if e.get("event") == "job.started":
            started.add(e["job_id"])
        elif e.get("event") in ("job.finished", "job.failed", "job.requeued"):
            ended.add(e["job_id"])
    return started - ended


def analyse(m: Matrix, final: list[str], bursts: int, wall_s: float,
            counts: list[tuple[int, int]] | None = None) -> dict[str, Any]:
    names, events = event_index(m.procs)
    started = Counter(e["job_id"] for e in events if e.get("event") == "job.started")
    finished = Counter(e["job_id"] for e in events if e.get("event") == "job.finished")
    stalled = [e for e in events if e.get("event") == "job.stalled"]
    requeued_shutdown = sum(1 for e in events if e.get("event") == "job.requeued" and e.get("reason") == "shutdown")
    by_status = Counter(final)
    lost = [j for j, s in zip(m.job_ids, final, strict=True) if s != "finished"]

    latencies: list[float] = []
    busy_sigkills = undetected = 0
    for kill in m.kills:
        if kill.kind == "sigterm" or kill.kind.startswith("sigstop"):
            continue  # a paused worker comes back: its stalls are not a death to detect
        victims = names.get(id(kill.victim), set())
        # A victim paused earlier (not replaced) may have stalls of its own from before this kill.
        hits = [e for e in stalled if e.get("worker") in victims and parse_ts(e["timestamp"]) >= kill.at]
        latencies.extend(parse_ts(e["timestamp"]) - kill.at for e in hits)
        interrupted = unfinished_jobs(kill.victim)
        busy_sigkills += bool(interrupted)
        undetected += len(interrupted - {e["job_id"] for e in hits})
    orphans = sum(1 for k in m.kills for pid, st in k.orphans if st and start_time(pid) == st)
    # Re-runs no signal explains: the job was not running on a killed or stopped worker. With Redis
    # pauses this is what a lease taken back from a live worker would show. Must be 0.
    signalled: set[str] = set().union(*(unfinished_jobs(k.victim) for k in m.kills))
    signalled |= {e["job_id"] for e in events if e.get("event") == "job.requeued" and e.get("reason") == "shutdown"}
    # A paused worker's runs were taken back (stalled) while it slept: their re-runs are explained.
    signalled |= {e["job_id"] for e in events if e.get("event") in ("job.stalled", "job.outcome_dropped",
                                                                        "worker.stopping_job")}
    runs = {job_id: max(started[job_id], own[0]) for job_id, own in zip(m.job_ids, counts or [(0, 0)] * len(
        m.job_ids), strict=True)}
    reruns_unexplained = sorted(j for j, n in runs.items() if n > 1 and j not in signalled)
    sigterm_busy = sum(1 for k in m.kills if k.kind == "sigterm"
                       and any(e.get("event") == "worker.stopping" and e.get("busy") for e in k.victim.events()))
    sigterm_exits = Counter(k.victim.process.poll() for k in m.kills if k.kind == "sigterm")
    # A SIGTERM that lands while Python is still importing (before any handler) ends the process
    # by the signal (-15); it held no job. Counted apart so a real shutdown failure stands out.
    sigterm_before_start = sum(1 for k in m.kills if k.kind == "sigterm" and not k.victim.events())

    return {
        "jobs": m.args.jobs, "kills": len(m.kills), "workers": m.args.workers, "seed": m.args.seed,
        "queues": m.queue_names(), "redis_pauses": {"count": m.pauses, "ms": m.args.pause_ms,
                                                     "every_s": m.args.pause_every},
        "concurrency": m.args.concurrency,
        "kinds": dict(Counter(k.kind for k in m.kills)),
        "settings": {"heartbeat_s": HEARTBEAT_S, "stall_timeout_s": STALL_TIMEOUT_S,
                     "shutdown_timeout_s": SHUTDOWN_TIMEOUT_S, "max_stalls": 50,
                     "sleep_s": [m.args.min_sleep, m.args.max_sleep]},
        "final_status": dict(by_status), "lost": len(lost), "lost_ids": lost[:20],
        "ran_more_than_once": sum(1 for c in started.values() if c > 1),
        "interrupted_and_rerun": sum(1 for j, c in started.items() if c > 1 and finished[j] <= 1),
        "finished_twice": sum(1 for c in finished.values() if c > 1),
        "reruns_without_a_signal": len(reruns_unexplained), "reruns_without_a_signal_ids": reruns_unexplained[:20],
        "never_started": sum(1 for j in m.job_ids if started[j] == 0),
        "max_runs_of_one_job": max(started.values(), default=0),
        "job_started_events": sum(started.values()),
        "busy_sigkills": busy_sigkills, "stalls_detected": len(stalled), "interrupted_not_detected": undetected,
        "requeued_on_sigterm": requeued_shutdown, "sigterm_while_busy": sigterm_busy,
        "sigterm_exit_codes": {str(k): v for k, v in sigterm_exits.items()},
        "sigterm_before_start": sigterm_before_start,
        "stuck_after_sigterm": m.stuck,
        "orphans_alive_after_parent_kill": orphans,
        "unexpected_worker_exits": m.unexpected_exits,
        "stall_latency_s": {"n": len(latencies), "p50": median(latencies),
                            "worst": max(latencies, default=float("nan")),
                            "best": min(latencies, default=float("nan")),
                            "p90": percentile(latencies, 90) if latencies else float("nan"),
                            "bound": STALL_BOUND_S},
        "final_bursts": bursts, "wall_s": round(wall_s, 1),
        "outcomes_dropped": dict(Counter(e.get("outcome") for e in events
                                         if e.get("event") == "job.outcome_dropped")),
        "stale_runs_killed": sum(1 for e in events if e.get("event") == "worker.stopping_job"
                                 and "lease lost" in str(e.get("reason"))),
        "foreign_origin_jobs": sum(1 for e in events if e.get("event") == "job.origin_rewritten"),
        "foreign_origin_keys_left": len(m.conn.keys(f"*{FOREIGN_PREFIX}*")),
        "scheduled_jobs": len(m.scheduled),
        "scheduled_max_late_s": scheduled_lateness(m),
        "scheduler_takeovers": sum(1 for e in events if e.get("event") == "worker.scheduler_taken_over"),
        **function_figures(counts or []),
    }


def scheduled_lateness(m: Matrix) -> float | None:
    """Worst delay from a scheduled job's due time to the scheduler moving it onto its queue
    (RQ's ``enqueued_at``; waiting on the queue behind other jobs is not the scheduler's)."""
    late = []
    for job_id, due in m.scheduled.items():
        enqueued = m.conn.hget(f"rq:job:{job_id}", "enqueued_at")
        if enqueued:
            late.append(parse_ts(enqueued.decode()) - due)
    return round(max(late), 2) if late else None


def function_figures(counts: list[tuple[int, int]]) -> dict[str, Any]:
    """Duplicates counted by the function itself, not by the worker's events: a function whose
    worker died after it returned but before ``job.finished`` was logged ran twice all the same."""
    return {
        "function_ran_more_than_once": sum(1 for runs, _ in counts if runs > 1),
        "function_returned_twice": sum(1 for _, returns in counts if returns > 1),
        "function_runs": sum(runs for runs, _ in counts),
        "function_never_returned": sum(1 for _, returns in counts if returns == 0),
    }


def summary(r: dict[str, Any]) -> str:
    lat = r["stall_latency_s"]
    rows = [
        ("jobs / kills / workers x concurrency",
         f"{r['jobs']} / {r['kills']} / {r['workers']} x {r.get('concurrency', 1)}", "", ""),
        ("queues (priority order)", ",".join(r["queues"]), "", ""),
        ("Redis pauses (CLIENT PAUSE)", f"{r['redis_pauses']['count']} x {r['redis_pauses']['ms']} ms", "", ""),
        ("kills by kind", ", ".join(f"{k}={v}" for k, v in sorted(r["kinds"].items())), "", ""),
        ("lost (not finished at the end)", r["lost"], "0", "ok" if r["lost"] == 0 else "FAIL"),
        ("finished twice", r["finished_twice"], "0", "ok" if r["finished_twice"] == 0 else "FAIL"),
        ("ran more than once", r["ran_more_than_once"], "expected after kills", ""),
        ("function ran more than once (its own count)", r["function_ran_more_than_once"], "", ""),
        ("function returned twice (its own count)", r["function_returned_twice"], "explained", ""),
        ("  of which interrupted, then re-run", r["interrupted_and_rerun"], "", ""),
        ("re-runs no kill or stop explains", r["reruns_without_a_signal"], "0",
         "ok" if r["reruns_without_a_signal"] == 0 else "CHECK"),
        ("max runs of one job", r["max_runs_of_one_job"], "", ""),
        ("SIGKILLs that hit a running job", r["busy_sigkills"], "", ""),
        ("job.stalled events", r["stalls_detected"], "", ""),
        ("interrupted jobs never detected", r["interrupted_not_detected"], "0",
         "ok" if r["interrupted_not_detected"] == 0 else "CHECK"),
        ("stall latency p50 (s)", lat["p50"], f"<= {lat['bound']} (lease + 3 beats + 1 s)", ""),
        ("stall latency worst (s)", lat["worst"], f"<= {lat['bound']}",
         "ok" if lat["worst"] <= lat["bound"] else "over"),
        ("SIGTERMs that hit a busy worker", r["sigterm_while_busy"], "", ""),
        ("  jobs requeued at the shutdown deadline", r["requeued_on_sigterm"], "", ""),
        ("SIGTERM exit codes (-6: stuck, see below)", r["sigterm_exit_codes"], "all 0", ""),
        ("  SIGTERMs before the worker had started", r["sigterm_before_start"], "the -15s", ""),
        ("SIGTERMed workers still running at the end", len(r["stuck_after_sigterm"]), "0",
         "ok" if not r["stuck_after_sigterm"] else "FINDING"),
        ("children alive after parent SIGKILL", r["orphans_alive_after_parent_kill"], "0", ""),
        ("stale outcomes dropped (fencing)", r["outcomes_dropped"], "after SIGSTOPs", ""),
        ("stale runs killed on SIGCONT", r["stale_runs_killed"], "", ""),
        ("jobs with a foreign origin / keys left named after one", f"{r['foreign_origin_jobs']} / "
         f"{r['foreign_origin_keys_left']}", "- / 0", "ok" if r["foreign_origin_keys_left"] == 0 else "FAIL"),
        ("scheduled jobs / worst lateness (s) / lock takeovers",
         f"{r['scheduled_jobs']} / {r['scheduled_max_late_s']} / {r['scheduler_takeovers']}",
         "late well under RQ's 61 s lock", ""),
        ("final status", r["final_status"], "", ""),
        ("wall time (s)", r["wall_s"], "", ""),
    ]
    return table("kill matrix", rows, ("figure", "value", "target", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kill_matrix", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1, help="run --concurrency N for every worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-sleep", type=float, default=0.1)
    parser.add_argument("--max-sleep", type=float, default=1.5)
    parser.add_argument("--queues", type=int, default=1, choices=(1, 2, 3),
                        help="queues each worker serves (jobs spread over them): 2 is the two-queue variant")
    parser.add_argument("--pause-ms", type=int, default=0,
                        help="the Redis-pause variant: CLIENT PAUSE for this long, every --pause-every s")
    parser.add_argument("--pause-every", type=float, default=8.0)
    parser.add_argument("--stop-share", type=float, default=0.0,
                        help="share of the signals that SIGSTOP a worker (or its tree) past its lease, then SIGCONT")
    parser.add_argument("--scheduler-share", type=float, default=0.0,
                        help="share of the signals that SIGKILL the worker tree holding RQ's scheduler lock")
    parser.add_argument("--scheduled", type=int, default=0, help="extra jobs enqueued with enqueue_in")
    parser.add_argument("--foreign-origin", type=float, default=0.0,
                        help="share of the jobs whose origin names a queue nobody serves")
    parser.add_argument("--out", default=None, help="results file name under bench/results")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with private_redis() as server:
        conn = server.client()
        matrix = Matrix(args, server.url, conn)
        try:
            matrix.enqueue()
            matrix.kill_phase()
            bursts = matrix.drain()
            final = statuses(conn, matrix.job_ids)
            counts = function_counts(conn, matrix.job_ids)
        finally:
            matrix.stop_all()
        result = analyse(matrix, final, bursts, time.monotonic() - began, counts)
        conn.close()
    print(summary(result))
    for stuck in result["stuck_after_sigterm"]:
        print(f"\nstill running {stuck['still_running_after_s']} s after SIGTERM (last event {stuck['last_event']}), "
              f"log {stuck['log']}; its stack on SIGABRT:")
        print("\n".join(stuck["stack"]))
    default = "kill_matrix.json" if args.concurrency == 1 else f"kill_matrix_concurrency_{args.concurrency}.json"
    name = args.out or default
    print(f"written to {write_results({'kill_matrix': result}, name)}")
    failed = result["lost"] or result["finished_twice"] or result["foreign_origin_keys_left"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
