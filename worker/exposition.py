"""How the job metrics are shown: Prometheus families (counters, histograms) and the table's lines.

Counters come from the lifetime hashes (``worker.metrics``), so they only go up (until a queue has
been idle for the lifetime key's 400-day TTL, which Prometheus reads as a counter reset). Window
figures (rates, percentiles) are gauges labelled with the window, one family per percentile.
``rq_jobs{queue,status}`` is rq-exporter's name and labels (as its collector emits them) for the registry sizes, so its
dashboards find our jobs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from worker.metrics import BOUNDS_MS, LABELS, OUTCOMES
from worker.metrics_window import WINDOWS_S

JOB_STATES = ("queued", "started", "finished", "failed", "deferred", "scheduled", "canceled")


def label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    return str(int(value)) if isinstance(value, bool | int) else repr(float(value))


def family(name: str, help_text: str, samples: list[tuple[str, float]], kind: str = "gauge") -> list[str]:
    """One metric family: HELP, TYPE and ``name{labels} value`` lines (samples carry their full name)."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    return lines + [f"{sample} {number(value)}" for sample, value in samples]


def _labels(**pairs: str) -> str:
    return "{" + ",".join(f'{k}="{label(v)}"' for k, v in pairs.items()) + "}" if pairs else ""


def rq_exporter_gauges(queues: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return family("rq_jobs", "RQ jobs by queue and status (rq-exporter's metric).",
                  [(f"rq_jobs{_labels(queue=q, status=state)}", c[state]) for q, c in queues.items()
                   for state in JOB_STATES])


def histogram(name: str, help_text: str, series: list[tuple[dict[str, str], Mapping[str, float], str]]) -> list[str]:
    """A histogram family in seconds from stored per-bucket counts (``<field>:<le ms>``) and ``<field>_sum_ms``."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for pairs, counts, field in series:
        cumulative = 0.0
        for bound, bucket in zip(BOUNDS_MS, LABELS, strict=True):
            cumulative += counts.get(f"{field}:{bucket}", 0)
            le = "+Inf" if math.isinf(bound) else repr(bound / 1000)
            lines.append(f"{name}_bucket{_labels(**pairs, le=le)} {number(int(cumulative))}")
        lines.append(f"{name}_sum{_labels(**pairs)} {number(round(counts.get(f'{field}_sum_ms', 0) / 1000, 6))}")
        lines.append(f"{name}_count{_labels(**pairs)} {number(int(cumulative))}")
    return lines


def percentile_gauges(stem: str, what: str, series: list[tuple[dict[str, str], Mapping[str, float | None]]]
                      ) -> list[str]:
    """One gauge family per percentile (``<stem>_p50_seconds``, ``<stem>_p95_seconds``).

    Not one family with a ``quantile`` label: that label belongs to summaries (which also carry
    ``_sum`` and ``_count``), and ``promtool check metrics`` rejects it on a gauge."""
    lines = []
    for key, share in (("p50", "50th"), ("p95", "95th")):
        name = f"{stem}_{key}_seconds"
        samples = [(f"{name}{_labels(**pairs)}", values[key]) for pairs, values in series]
        lines += family(name, f"{what}, {share} percentile over the window.",
                        [(sample, round(ms / 1000, 6)) for sample, ms in samples if ms is not None])
    return lines


def metrics_families(report: Mapping[str, Any]) -> list[str]:
    totals, llm = report["totals"], report["llm"]
    window = window_name(llm["window_s"])
    queues = {q: c["metrics"] for q, c in report["queues"].items()}
    llm_total = totals["llm"]
    return [
        *family("curriculum_worker_job_outcomes_total", "Job outcomes since metrics began, per queue.",
                [(f"curriculum_worker_job_outcomes_total{_labels(queue=q, outcome=o)}", int(t.get(o, 0)))
                 for q, t in totals["queues"].items() for o in OUTCOMES], "counter"),
        *histogram("curriculum_worker_job_run_seconds", "Run time of finished jobs.",
                   [({"queue": q}, t, "run") for q, t in totals["queues"].items()]),
        *histogram("curriculum_worker_job_wait_seconds", "Queue wait (enqueued to started) of each attempt.",
                   [({"queue": q}, t, "wait") for q, t in totals["queues"].items()]),
        *family("curriculum_worker_llm_calls_total", "Model API calls.",
                [("curriculum_worker_llm_calls_total", int(llm_total.get("calls", 0)))], "counter"),
        *family("curriculum_worker_llm_errors_total", "Model API calls that raised, by exception class.",
                [(f"curriculum_worker_llm_errors_total{_labels(kind=k.removeprefix('error:'))}", int(v))
                 for k, v in sorted(llm_total.items()) if k.startswith("error:")], "counter"),
        *histogram("curriculum_worker_llm_latency_seconds", "Model API call latency.", [({}, llm_total, "latency")]),
        *family("curriculum_worker_llm_tokens_total", "Model tokens as providers reported them, by kind.",
                [(f"curriculum_worker_llm_tokens_total{_labels(kind=k)}", int(llm_total.get(f"{k}_tokens", 0)))
                 for k in ("prompt", "completion")], "counter"),
        *family("curriculum_worker_throughput_per_minute", "Finished jobs per minute over the window.",
                [(f"curriculum_worker_throughput_per_minute{_labels(queue=q, window=window)}", m["throughput_per_min"])
                 for q, m in queues.items()]),
        *family("curriculum_worker_failure_ratio", "failed / (finished + failed) over the window.",
                [(f"curriculum_worker_failure_ratio{_labels(queue=q, window=window)}", m["failure_rate"])
                 for q, m in queues.items() if m["failure_rate"] is not None]),
        *percentile_gauges("curriculum_worker_window_run", "Run time of finished jobs",
                           [({"queue": q, "window": window}, m["run_time_ms"]) for q, m in queues.items()]),
        *percentile_gauges("curriculum_worker_window_wait", "Queue wait",
                           [({"queue": q, "window": window}, m["wait_time_ms"]) for q, m in queues.items()]),
        *percentile_gauges("curriculum_worker_window_llm_latency", "Model-call latency",
                           [({"window": window}, llm["latency_ms"])]),
    ]


def window_name(window_s: int) -> str:
    return next((name for name, span in WINDOWS_S.items() if span == window_s), f"{window_s}s")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}ms" if value < 10_000 else f"{value / 1000:.1f}s"


def metrics_table(report: Mapping[str, Any], width: int) -> list[str]:
    """The table's rate lines: one per queue, then the model calls."""
    llm = report["llm"]
    head = f"{'last ' + window_name(llm['window_s']):<{width}}"
    lines = ["  ".join([head, *(f"{h:>9}" for h in ("finished", "failed", "retried", "per min", "fail %",
                                                  "run p50", "run p95", "wait p50", "wait p95"))])]
    for name, counts in report["queues"].items():
        m = counts["metrics"]
        rate = "-" if m["failure_rate"] is None else f"{m['failure_rate'] * 100:.1f}"
        cells = [str(m["finished"]), str(m["failed"]), str(m["retried"]), f"{m['throughput_per_min']:g}", rate,
                 *(_ms(m[k][p]) for k in ("run_time_ms", "wait_time_ms") for p in ("p50", "p95"))]
        lines.append("  ".join([f"{name:<{width}}", *(f"{c:>9}" for c in cells)]))
    kinds = ", ".join(f"{k} {v}" for k, v in llm["errors_by_kind"].items())
    lines.append(f"llm      calls {llm['calls']}  errors {llm['errors']}{f' ({kinds})' if kinds else ''}  "
                 f"latency p50 {_ms(llm['latency_ms']['p50'])}  p95 {_ms(llm['latency_ms']['p95'])}  "
                 f"tokens in {llm['prompt_tokens']} out {llm['completion_tokens']}")
    return lines
