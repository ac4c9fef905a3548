"""How ``stats`` shows the provider budgets (``jobs.provider_budget_view``): table lines, Prometheus.

Gauges for what the budget is now (limits, what is left, calls and tokens waiting, tokens used in
the last complete minute); counters (``_total``) for tokens and replies since the budget's keys
were made (a Redis flush or a day without calls starts them again, which Prometheus reads as a
counter reset). Every series is labelled with the budget's id: a digest, never the API key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from worker.exposition import family, label

Budget = Mapping[str, Any]


def table_lines(budgets: Sequence[Budget]) -> list[str]:
    lines = []
    for b in budgets:
        units = "  ".join(f"{name} {u['left']}/{u['limit']} left ({u['per_minute']}/min, {u['source']})"
                          for name in ("tokens", "requests") if (u := b[name]) is not None)
        lines.append(f"provider budget {b['id']}  mode {b['mode']}  {units or 'no limits known'}")
        waiting, used = b["waiting"], b["tokens_used"]
        blocked = f"  blocked {b['blocked_for_s']:g}s" if b["blocked_for_s"] else ""
        lines.append(f"  in flight {b['in_flight']}  waiting {waiting['calls']} calls / {waiting['tokens']} tokens"
                     f"  used {used['last_minute']} tokens last minute, {used['last_hour']} last hour"
                     f"  429s {b['totals']['rate_limited']} of {b['totals']['replies']} replies{blocked}")
    return lines


def _series(name: str, budgets: Sequence[Budget], value: Any, **extra: str) -> list[tuple[str, float]]:
    more = "".join(f',{k}="{label(v)}"' for k, v in extra.items())
    return [(f'{name}{{budget="{label(b["id"])}"{more}}}', value(b)) for b in budgets]


def _unit_series(name: str, budgets: Sequence[Budget], field: str) -> list[tuple[str, float]]:
    return [(f'{name}{{budget="{label(b["id"])}",unit="{unit}"}}', b[unit][field])
            for b in budgets for unit in ("tokens", "requests") if b[unit] is not None]


def families(budgets: Sequence[Budget]) -> list[str]:
    p = "curriculum_worker_llm_budget"
    return [
        *family(f"{p}_limit", "Provider budget: what the bucket holds (learned or configured), per unit.",
                _unit_series(f"{p}_limit", budgets, "limit")),
        *family(f"{p}_per_minute", "Provider budget: refill per minute, per unit.",
                _unit_series(f"{p}_per_minute", budgets, "per_minute")),
        *family(f"{p}_left", "Provider budget: what is left now, per unit.",
                _unit_series(f"{p}_left", budgets, "left")),
        *family(f"{p}_in_flight_calls", "Model calls holding a reservation.",
                _series(f"{p}_in_flight_calls", budgets, lambda b: b["in_flight"])),
        *family(f"{p}_waiting_calls", "Model calls waiting for the budget.",
                _series(f"{p}_waiting_calls", budgets, lambda b: b["waiting"]["calls"])),
        *family(f"{p}_waiting_tokens", "Tokens the waiting calls will reserve.",
                _series(f"{p}_waiting_tokens", budgets, lambda b: b["waiting"]["tokens"])),
        *family(f"{p}_blocked_seconds", "Seconds until the wait a 429 named is over.",
                _series(f"{p}_blocked_seconds", budgets, lambda b: b["blocked_for_s"])),
        *family("curriculum_worker_llm_tokens_last_minute", "Tokens used in the last complete minute.",
                _series("curriculum_worker_llm_tokens_last_minute", budgets,
                        lambda b: b["tokens_used"]["last_minute"])),
        *family(f"{p}_tokens_total", "Tokens the provider counted (usage) in this budget, by kind.",
                [*_series(f"{p}_tokens_total", budgets, lambda b: b["totals"]["prompt_tokens"], kind="prompt"),
                 *_series(f"{p}_tokens_total", budgets, lambda b: b["totals"]["completion_tokens"],
                          kind="completion")], "counter"),
        *family("curriculum_worker_llm_budget_replies_total", "Provider replies settled in the budget.",
                _series("curriculum_worker_llm_budget_replies_total", budgets, lambda b: b["totals"]["replies"]),
                "counter"),
        *family("curriculum_worker_llm_rate_limited_total", "Provider replies that were HTTP 429.",
                _series("curriculum_worker_llm_rate_limited_total", budgets, lambda b: b["totals"]["rate_limited"]),
                "counter"),
    ]
