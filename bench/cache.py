"""Cache: the same curriculum request a second time costs no model call and is much faster.

Same setup as ``bench.curriculum_latency`` (openai generator, L per call, LLM_CONCURRENCY=4) plus
``jobs.cache.Cache`` on a private redis-server. The first (cold) run is the baseline; the repeat is
served from the content cache. A third figure drops the content entries and keeps the per-call
``llm`` entries, to show that second layer alone also saves every call.
"""

from __future__ import annotations

from typing import Any

from bench.common import median, private_redis, table, verdict
from bench.curriculum_latency import nodelay, timed
from jobs import keys
from jobs.cache import Cache
from tests.llm_server import LLMServer


def measure(latency_s: float = 0.2, repeats: int = 5) -> dict[str, Any]:
    with private_redis() as server, LLMServer(slow_s=latency_s) as llm:
        nodelay(llm)
        conn = server.client()
        llm.default = "good"
        timed(llm, 4)  # warm-up without cache: imports, first connection
        llm.default = "slow"
        cache = Cache(conn)
        cold_s, cold_calls = timed(llm, 4, cache=cache)
        warm = [timed(llm, 4, cache=cache) for _ in range(repeats)]
        for key in conn.scan_iter(keys.cache("content", "*")):
            conn.delete(key)
        llm_only_s, llm_only_calls = timed(llm, 4, cache=cache)
        conn.close()
    warm_s = median([w for w, _ in warm])
    out = {"latency_s": latency_s, "cold_s": cold_s, "cold_calls": cold_calls, "warm_s": warm_s,
           "warm_calls": max(c for _, c in warm), "speedup": cold_s / warm_s,
           "llm_layer_only_s": llm_only_s, "llm_layer_only_calls": llm_only_calls,
           "targets": {"warm_calls": "0", "speedup": ">= 20"}}
    out["met"] = {"warm_calls": out["warm_calls"] == 0, "speedup": out["speedup"] >= 20}
    return out


def render(r: dict[str, Any]) -> str:
    rows = [
        ("model calls", r["warm_calls"], r["cold_calls"], r["llm_layer_only_calls"], "0",
         verdict(r["met"]["warm_calls"])),
        ("wall s", r["warm_s"], r["cold_s"], r["llm_layer_only_s"], "", ""),
        ("speed-up vs cold", r["speedup"], 1.0, r["cold_s"] / r["llm_layer_only_s"], ">= 20x",
         verdict(r["met"]["speedup"])),
    ]
    return table(f"cache: same request again (L = {r['latency_s'] * 1000:.0f} ms, c = 4)", rows,
                 ("figure", "repeat (content hit)", "cold (baseline)", "llm layer only", "target", ""))


if __name__ == "__main__":
    print(render(measure()))
