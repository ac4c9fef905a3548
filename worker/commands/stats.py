"""``curriculum-worker stats``: the queue-statistics health probe, as a table, JSON or Prometheus text.

The measuring lives in ``worker.probe``; this module parses options, connects, renders and maps the
verdict to the contract's exit codes: 0 healthy, 1 problems (or warnings with ``--strict``),
2 bad usage, 3 Redis unreachable. Exit 1 is raised as ``Unhealthy`` (not ``click.exceptions.Exit``,
which ``cli.main``'s non-standalone click call would swallow into exit 0). ``--prometheus`` output
suits node_exporter's textfile collector and push gateways; when Redis cannot be reached it still
prints ``curriculum_worker_up 0`` and ``curriculum_worker_healthy 0`` (a pushed group must not keep
an old ``healthy 1``). ``--window`` picks the span of the rates and percentiles (``worker.metrics``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
import redis

from jobs import llm_gate, provider_budget_view
from worker import budget_exposition, exposition, metrics_window, probe
from worker.commands import ctrl_c
from worker.commands.common import redis_url_source
from worker.connection import connect, diagnose, endpoint
from worker.errors import RedisUnavailable, Unhealthy, WorkerError
from worker.settings import Settings

Renderer = Callable[[dict[str, Any]], str]
AUTO = "auto"


def _workers_or_auto(ctx: click.Context, param: click.Parameter, value: str | None) -> int | str | None:
    """Option callback: a whole number, or ``auto`` (resolved from the settings by ``stats``)."""
    if value is None or value == AUTO:
        return value
    if not value.isdigit():
        raise click.BadParameter(f"expected a whole number or {AUTO}, got {value!r}", ctx=ctx, param=param)
    return int(value)


def expected_workers(settings: Settings) -> int:
    """``--min-workers auto``: every instance runs WORKER_CONCURRENCY workers, each counted by stats."""
    return settings.worker_instances * settings.worker_concurrency


@click.command()
@click.option("-q", "--queue", "queues", multiple=True, metavar="QUEUE",
              help="Queue to report (repeatable; default: WORKER_QUEUES).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--prometheus", is_flag=True, help="Print Prometheus text exposition format.")
@click.option("--watch", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Check again every SECONDS until Ctrl+C.")
@click.option("--max-queued", type=click.IntRange(min=0), metavar="N", help="Problem: more than N jobs queued.")
@click.option("--max-failed", type=click.IntRange(min=0), metavar="N", help="Problem: more than N failed jobs.")
@click.option("--max-age", "max_age_s", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Problem: the oldest queued job waited longer than SECONDS.")
@click.option("--max-stalled", type=click.IntRange(min=0), metavar="N", help="Problem: more than N stalled jobs.")
@click.option("--min-workers", callback=_workers_or_auto, metavar="N|auto",
              help="Problem: fewer than N live workers; auto: WORKER_INSTANCES x WORKER_CONCURRENCY.")
@click.option("--max-new-failed", type=click.IntRange(min=0), metavar="N",
              help="Problem: more than N jobs failed for good within --window (a cron every 5 min with "
                   "--window 5m sees each failure once).")
@click.option("--max-failure-rate", type=click.FloatRange(min=0, max=1), metavar="RATIO",
              help="Problem: failed / (finished + failed) over the window above RATIO (0-1).")
@click.option("--max-p95-wait", "max_p95_wait_s", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Problem: 95th percentile of queue wait over the window above SECONDS.")
@click.option("--window", type=click.Choice(list(metrics_window.WINDOWS_S)), default=metrics_window.DEFAULT_WINDOW,
              show_default=True, help="Span of the rates and percentiles.")
@click.option("--strict", is_flag=True, help="Warnings are problems too (exit 1).")
@click.pass_obj
def stats(settings: Settings, /, queues: tuple[str, ...], as_json: bool, prometheus: bool, watch: float | None,
          strict: bool, window: str, **thresholds: Any) -> None:
    """Queue-statistics health probe: counts, workers, hazards; read-only."""
    if as_json and prometheus:
        raise click.UsageError("--json and --prometheus cannot be combined")
    if any(not name.strip() for name in queues):
        raise click.UsageError("--queue: empty queue name")
    render: Renderer = render_json if as_json else render_prometheus if prometheus else render_table
    if thresholds["min_workers"] == AUTO:
        thresholds["min_workers"] = expected_workers(settings)
    try:
        # One attempt: a probe must answer within about REDIS_CONNECT_TIMEOUT, not after the
        # reconnect policy's retries (cron or a load balancer would time it out first).
        connection = connect(settings, retries=0)
    except RedisUnavailable:
        if prometheus:
            click.echo(render_prometheus_down())
        raise
    check = _Check(settings, connection, queues or settings.worker_queues, probe.Limits(**thresholds), strict,
                   metrics_window.WINDOWS_S[window])
    try:
        verdict = check.watch(render, watch) if watch else check.once(render)
    finally:
        connection.close()
    if verdict is not None:
        raise verdict


class _Check:
    """One probe configuration, run once or repeatedly on one connection."""

    def __init__(self, settings: Settings, connection: redis.Redis, queues: tuple[str, ...],
                 limits: probe.Limits, strict: bool, window_s: int) -> None:
        self.settings = settings
        self.connection = connection
        self.queues = queues
        self.limits = limits
        self.strict = strict
        self.window_s = window_s
        self.url_source = redis_url_source()

    def report(self) -> dict[str, Any]:
        settings = self.settings
        try:
            # Silent for a heartbeat interval plus the stall timeout: the worker is dead.
            silent_s = settings.worker_heartbeat_interval_s + settings.worker_stall_timeout_s
            raw = probe.collect(self.connection, self.queues, redis_url=settings.redis_url_redacted,
                                tls=settings.uses_tls, heartbeat_stale_s=silent_s, window_s=self.window_s)
            gate = llm_gate.read_state(self.connection, time.time())
            budgets = provider_budget_view.read(self.connection)
        except redis.RedisError as exc:
            raise RedisUnavailable(diagnose(exc, endpoint(settings)).message) from exc
        raw["redis"]["url_source"] = self.url_source
        # Model calls in flight and waiting under LLM_GLOBAL_CONCURRENCY, over every instance.
        raw["llm_gate"] = {"limit": settings.llm_global_concurrency, "holders": gate.holders,
                           "waiters": gate.waiters}
        # The shared provider budgets: learned limits, what is left, who waits, tokens used.
        raw["llm_budgets"] = budgets
        return probe.evaluate(raw, self.limits, strict=self.strict)

    def once(self, render: Renderer) -> WorkerError | None:
        """Print one report; return the error that gives the exit code (None: healthy, exit 0)."""
        report = self.report()
        click.echo(render(report))
        if report["status"] == "ok":
            return None
        return Unhealthy(f"unhealthy: {len(report['problems'])} problem(s), {len(report['warnings'])} warning(s)"
                         + (" (--strict)" if self.strict else ""))

    def watch(self, render: Renderer, interval: float) -> WorkerError | None:
        """Re-check until Ctrl+C (exit 130, as every command); a Redis outage is shown and waited out.

        A Ctrl+C that lands in a finalizer, where Python would drop it, still ends the loop
        (``worker.commands.ctrl_c``)."""
        with ctrl_c.recorded() as pressed:
            while not pressed.is_set():
                self._show(render)
                time.sleep(interval)  # not pressed.wait: the handler sets it from this very thread
        raise KeyboardInterrupt

    def _show(self, render: Renderer) -> None:
        if render is render_table and sys.stdout.isatty():
            click.clear()
        try:
            self.once(render)
        except RedisUnavailable as exc:
            click.echo(f"error: {exc}", err=True)
            if render is render_prometheus:
                click.echo(render_prometheus_down())


# -- renderers ----------------------------------------------------------------------------------


def render_json(report: dict[str, Any]) -> str:
    """Exactly the contract's object, on one line."""
    return json.dumps(report, default=str)


def render_table(report: dict[str, Any]) -> str:
    server = report["redis"]
    lines = [f"redis    {server['url']} (from {server.get('url_source', '?')})  version {server['version'] or '?'}  "
             f"latency {server['latency_ms']} ms  tls {'on' if server['tls'] else 'off'}  "
             f"maxmemory-policy {server['maxmemory_policy'] or '?'}"]
    width = max([5, *(len(name) for name in report["queues"])])
    headers = [*probe.COUNTS, "oldest"]
    lines.append("  ".join([f"{'queue':<{width}}", *(f"{h:>9}" for h in headers)]))
    for name, counts in report["queues"].items():
        age = counts["oldest_queued_age_s"]
        cells = [*(str(counts[key]) for key in probe.COUNTS), "-" if age is None else f"{age:.1f}s"]
        lines.append("  ".join([f"{name:<{width}}", *(f"{c:>9}" for c in cells)]))
    lines += exposition.metrics_table(report, width)
    workers = report["workers"]
    lines.append(f"workers  total {workers['total']}  busy {workers['busy']}  idle {workers['idle']}")
    gate = report.get("llm_gate")
    if gate is not None:
        lines.append(f"llm gate limit {gate['limit'] or 'none'}  in flight {gate['holders']}  "
                     f"waiting {gate['waiters']}")
    lines += budget_exposition.table_lines(report.get("llm_budgets", []))
    lines += [f"problem: {text}" for text in report["problems"]]
    lines += [f"warning: {text}" for text in report["warnings"]]
    lines.append(f"status   {report['status']}  (checked at {report['checked_at']})")
    return "\n".join(lines)


_label = exposition.label
_metric = exposition.family


def _gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    return _metric(name, help_text, [(f"{name}{labels}", value) for labels, value in samples])


def render_prometheus(report: dict[str, Any]) -> str:
    queues = report["queues"]
    workers = report["workers"]
    other = workers["total"] - workers["busy"] - workers["idle"]
    checked = datetime.strptime(report["checked_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    lines = [
        *_gauge("curriculum_worker_up", "1 when the probe reached Redis.", [("", 1)]),
        *_gauge("curriculum_worker_jobs", "Jobs per queue and state (started counts executions).",
                 [(f'{{queue="{_label(q)}",state="{state}"}}', c[state])
                  for q, c in queues.items() for state in probe.COUNTS if state != "stalled"]),
        *_gauge("curriculum_worker_stalled_jobs", "Started executions whose lease has expired.",
                 [(f'{{queue="{_label(q)}"}}', c["stalled"]) for q, c in queues.items()]),
        *_gauge("curriculum_worker_oldest_queued_age_seconds", "Wait of the queue's head job (0 when empty).",
                 [(f'{{queue="{_label(q)}"}}', c["oldest_queued_age_s"] or 0) for q, c in queues.items()]),
        *_gauge("curriculum_worker_workers", "Live workers serving these queues, by state.",
                 [('{state="busy"}', workers["busy"]), ('{state="idle"}', workers["idle"]),
                  ('{state="other"}', other)]),
        *_gauge("curriculum_worker_llm_gate_calls", "Model calls under LLM_GLOBAL_CONCURRENCY, by state.",
                [('{state="in_flight"}', report["llm_gate"]["holders"]),
                 ('{state="waiting"}', report["llm_gate"]["waiters"])]),
        *_gauge("curriculum_worker_redis_latency_seconds", "Round trip of one PING.",
                 [("", report["redis"]["latency_ms"] / 1000)]),
        *_gauge("curriculum_worker_problems", "Thresholds breached.", [("", len(report["problems"]))]),
        *_gauge("curriculum_worker_warnings", "Hazards found.", [("", len(report["warnings"]))]),
        *_gauge("curriculum_worker_healthy", "1 when status is ok.", [("", report["status"] == "ok")]),
        *_gauge("curriculum_worker_last_check_timestamp_seconds", "When the probe ran (Unix time).",
                 [("", checked)]),
        *exposition.rq_exporter_gauges(queues),
        *exposition.metrics_families(report),
        *budget_exposition.families(report.get("llm_budgets", [])),
    ]
    return "\n".join(lines)


def render_prometheus_down() -> str:
    return "\n".join([*_gauge("curriculum_worker_up", "1 when the probe reached Redis.", [("", 0)]),
                      *_gauge("curriculum_worker_healthy", "1 when status is ok.", [("", 0)])])
