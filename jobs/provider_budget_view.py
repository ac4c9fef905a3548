"""What ``stats`` shows of the provider budgets (``jobs.provider_budget``), read without writing.

Two round trips however many jobs, calls or waiters there are: ``TIME`` and the set of budget ids,
then one pipeline with, per budget (at most ``MAX_BUDGETS``), its state hash, the live waiters and
calls in flight (ZCOUNT past now) and the 61 minute totals of the last hour (one HMGET). Only read
commands: the budget left is refilled here, on a copy, the way the Lua script would.
"""

from __future__ import annotations

from typing import Any

import redis

from jobs.keys import LLM_BUDGETS, llm_budget

MAX_BUDGETS = 8
UNITS = (("t", "tokens"), ("r", "requests"))


def read(connection: redis.Redis) -> list[dict[str, Any]]:
    """Every budget in use (most: one per provider and API key), as the JSON ``stats`` prints."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.smembers(LLM_BUDGETS)
        (seconds, micros), members = pipe.execute()
    now_ms = seconds * 1000 + micros // 1000
    ids = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)[:MAX_BUDGETS]
    minute = now_ms // 60000
    fields = [str(m) for m in range(minute - 60, minute + 1)]
    with connection.pipeline(transaction=False) as pipe:
        for bid in ids:
            state, _, leases, _, calls, usage = llm_budget(bid)
            pipe.hgetall(state)
            pipe.zcount(leases, f"({now_ms}", "+inf")
            pipe.zcount(calls, f"({now_ms}", "+inf")
            pipe.hmget(usage, fields)
        replies = pipe.execute()
    views = []
    for n, bid in enumerate(ids):
        raw, waiting, flying, minutes = replies[4 * n: 4 * n + 4]
        if raw:
            views.append(_view(bid, _decode(raw), waiting, flying, [int(m or 0) for m in minutes], now_ms))
    return views


def _decode(raw: dict[Any, Any]) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
            for k, v in raw.items()}


def _num(state: dict[str, str], field: str, default: float = 0.0) -> float:
    try:
        return float(state[field])
    except (KeyError, ValueError):
        return default


def _unit(state: dict[str, str], d: str, now_ms: int) -> dict[str, Any] | None:
    if f"{d}_limit" not in state:
        return None
    limit, rate = _num(state, f"{d}_limit"), _num(state, f"{d}_rate")
    since = max(0.0, now_ms - _num(state, f"{d}_ts", now_ms))
    left = min(limit, _num(state, f"{d}_avail", limit) + rate * since)
    return {"limit": round(limit), "per_minute": round(rate * 60000), "left": round(left),
            "source": state.get(f"{d}_src", "")}


def _mode(state: dict[str, str]) -> str:
    sources = {state.get("t_src"), state.get("r_src")}
    for mode in ("headers", "config", "aimd"):
        if mode in sources:
            return mode
    return "aimd" if "noheaders" in state else "learning"


def _view(bid: str, state: dict[str, str], waiting: int, flying: int, minutes: list[int],
          now_ms: int) -> dict[str, Any]:
    view: dict[str, Any] = {"id": bid, "mode": _mode(state)}
    view.update({name: _unit(state, d, now_ms) for d, name in UNITS})
    view["blocked_for_s"] = round(max(0.0, _num(state, "blocked_until") - now_ms) / 1000, 3)
    view["aimd_calls_in_flight"] = round(_num(state, "cwnd"), 2) if "cwnd" in state else None
    view["in_flight"] = int(flying)
    view["waiting"] = {"calls": int(waiting), "tokens": max(0, int(_num(state, "wait_tokens")))}
    view["tokens_used"] = {"last_minute": minutes[-2], "this_minute": minutes[-1], "last_hour": sum(minutes[1:])}
    view["totals"] = {name: int(_num(state, f"{name}_total"))
                      for name in ("prompt_tokens", "completion_tokens", "replies", "rate_limited")}
    return view
