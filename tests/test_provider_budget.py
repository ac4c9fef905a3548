"""The shared provider budget (issue 20) against a real redis-server, real processes and a rate-limited
local model server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs import keys, provider_budget, provider_budget_view, ratelimit_headers
from jobs.provider_budget import Ask, BudgetConfig, ProviderBudget, Usage
from tests import budget_client
from tests.conftest import ROOT, clean_env, run_cli
from tests.llm_server import LLMServer
from tests.rate_limits import RateLimiter, go_duration
from tests.servers import RedisServer
from tests.test_probe import CountingRedis
from tests.workers import WorkerProcess
from worker.errors import ConfigError
from worker.jsonjob import JsonQueue
from worker.settings import Settings

QUEUE = "curriculum_generation"
API_KEY = "sk-budget-test-7c1e9a"


def start_tree(workers: list[WorkerProcess], url: str, llm: LLMServer, concurrency: int = 2,
               **extra: str) -> WorkerProcess:
    env = clean_env(**{"REDIS_URL": url, "LOG_FORMAT": "json", "WORKER_HEARTBEAT_INTERVAL": "1",
                       "WORKER_STALL_TIMEOUT": "3", "CURRICULUM_GENERATOR": "openai", "OPENAI_API_KEY": API_KEY,
                       "OPENAI_BASE_URL": llm.base_url, "JOB_MAX_RETRIES": "0", "OPENAI_MAX_RETRIES": "0",
                       "LLM_CONCURRENCY": "4", **extra})
    worker = WorkerProcess(env, "--concurrency", str(concurrency))
    workers.append(worker)
    return worker


def curricula(conn: redis.Redis, count: int, prefix: str = "Budget") -> list[Job]:
    queue = JsonQueue(QUEUE, connection=conn)
    return [queue.enqueue("jobs.curriculum.generate_curriculum",
                          {"topic": f"{prefix} topic {i}", "duration_weeks": 2, "hours_per_week": 3})
            for i in range(count)]


def wait_finished(conn: redis.Redis, jobs: list[Job], workers: list[WorkerProcess], timeout: float = 150) -> None:
    """Every job finished; the first failure fails the test with its worker logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = [Job.fetch(j.id, connection=conn, serializer=JSONSerializer).get_status() for j in jobs]
        assert "failed" not in statuses, [w.text()[-3000:] for w in workers]
        if all(s == "finished" for s in statuses):
            return
        time.sleep(0.1)
    raise AssertionError(f"not all {len(jobs)} jobs finished within {timeout}s")


def budget_state(conn: redis.Redis, base_url: str) -> dict[str, str]:
    bid = provider_budget.budget_id(base_url, API_KEY)
    return {k.decode(): v.decode() for k, v in conn.hgetall(keys.llm_budget(bid)[0]).items()}


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may kill, restart or flush."""
    server = RedisServer().start()
    yield server
    server.stop(kill=True)


# --- the headers ---


def test_reset_durations_in_openai_formats_are_read() -> None:
    """6m0s, 1s, 250ms, 1h2m3.5s and plain seconds are read; anything else counts as absent."""
    cases = {"6m0s": 360.0, "1s": 1.0, "250ms": 0.25, "1h2m3.5s": 3723.5, "0.5": 0.5, "20ms": 0.02}
    assert {raw: ratelimit_headers.duration_s(raw) for raw in cases} == cases
    for bad in ("", "soon", "5x", "-1", "1s garbage", "nan"):
        assert ratelimit_headers.duration_s(bad) is None, bad
    assert go_duration(360) == "6m0s" and ratelimit_headers.duration_s(go_duration(61.25)) == 61.25


def test_headers_give_limits_per_unit_and_absent_ones_none() -> None:
    """Both units are read from OpenAI's header names; a reply without them has no limits."""
    limits = ratelimit_headers.parse({"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "29000",
                                      "x-ratelimit-reset-tokens": "2s", "x-ratelimit-limit-requests": "500",
                                      "x-ratelimit-remaining-requests": "499", "x-ratelimit-reset-requests": "120ms"})
    assert limits.tokens == ratelimit_headers.Window(30000, 29000, 2.0)
    assert limits.requests == ratelimit_headers.Window(500, 499, 0.12)
    assert not ratelimit_headers.parse({"content-type": "application/json"}).present


# --- the budget itself, several processes ---


def test_processes_are_served_in_turn(private_redis: RedisServer) -> None:
    """Four processes asking as fast as they can: once the budget binds, every one is served in every
    run of sixteen grants (first come, first served, so turns go round; nobody starves). Sixteen
    grants take 1.6 s, room for a process the loaded machine did not schedule for a while."""
    count = 25
    procs = [subprocess.Popen([sys.executable, "-m", "tests.budget_client", private_redis.url, f"p{n}", str(count)],
                              cwd=ROOT, env=clean_env()) for n in range(4)]
    for proc in procs:
        assert proc.wait(120) == 0
    conn = private_redis.client()
    order = [name.decode() for name in conn.lrange(budget_client.GRANTS, 0, -1)]
    assert sorted(set(order)) == ["p0", "p1", "p2", "p3"] and len(order) == 4 * count
    bound = order[20: 3 * count]  # past the first bucketful, while all four are still asking
    for start in range(len(bound) - 16):
        assert set(bound[start: start + 16]) == {"p0", "p1", "p2", "p3"}, (start, bound)


def test_a_large_caller_is_not_starved_by_small_ones(private_redis: RedisServer) -> None:
    """One process asking 500 tokens a call among three asking 100: it is served in every run of
    sixteen grants, though the small ones alone could keep the budget below 500 for ever."""
    count = 20
    sizes = {"big": 500, "s1": 100, "s2": 100, "s3": 100}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.budget_client", private_redis.url, name, str(count),
                               str(size)], cwd=ROOT, env=clean_env()) for name, size in sizes.items()]
    for proc in procs:
        assert proc.wait(120) == 0
    order = [name.decode() for name in private_redis.client().lrange(budget_client.GRANTS, 0, -1)]
    last_big = max(i for i, name in enumerate(order) if name == "big")
    bound = order[20: min(last_big, 3 * count)]
    assert len(bound) > 16, order
    for start in range(len(bound) - 16):
        assert "big" in bound[start: start + 16], (start, order)


def test_waiters_enter_in_arrival_order_and_a_429_blocks_until_its_reset(conn: redis.Redis) -> None:
    """A spent budget makes callers wait; a 429 naming 1.5 s keeps every caller out for that long."""
    budget = ProviderBudget(conn, BudgetConfig("http://order.invalid/v1", API_KEY))
    ask = Ask(prompt_tokens=50, max_tokens=50, name="order")
    first = budget.reserve(ask)
    budget.settle(first, {"x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "0",
                          "x-ratelimit-reset-tokens": "10s", "retry-after-ms": "1500"}, Usage(50, 50), 429)
    t0 = conn.time()
    second = budget.reserve(ask, retry_of=first)
    t1 = conn.time()
    waited = (t1[0] - t0[0]) + (t1[1] - t0[1]) / 1e6
    assert waited >= 1.4, waited
    assert second.ticket == first.ticket, "a throttled call keeps its place in line"
    learned = budget_state(conn, "http://order.invalid/v1")
    assert (learned["t_limit"], learned["t_src"], learned["rate_limited_total"]) == ("1000", "headers", "1")


def test_a_429_without_retry_after_waits_for_the_exhausted_units_reset(conn: redis.Redis) -> None:
    """A 429 naming no wait, with the tokens exhausted and their reset at 2 s: blocked for about 2 s."""
    base_url = "http://reset.invalid/v1"
    budget = ProviderBudget(conn, BudgetConfig(base_url, API_KEY))
    held = budget.reserve(Ask(10, 10, "reset"))
    budget.settle(held, {"x-ratelimit-limit-tokens": "500", "x-ratelimit-remaining-tokens": "0",
                         "x-ratelimit-reset-tokens": "2s", "x-ratelimit-limit-requests": "100",
                         "x-ratelimit-remaining-requests": "90", "x-ratelimit-reset-requests": "6m0s"}, None, 429)
    [view] = provider_budget_view.read(conn)
    assert 1.5 <= view["blocked_for_s"] <= 2.0, view
    assert (view["tokens"]["left"], view["requests"]["limit"], view["totals"]["rate_limited"]) == (0, 100, 1)


def test_budget_off_writes_nothing_and_never_waits(conn: redis.Redis) -> None:
    """LLM_BUDGET=false: reservations are granted at once and nothing is written to Redis."""
    budget = ProviderBudget(conn, BudgetConfig("http://off.invalid/v1", API_KEY, enabled=False))
    for _ in range(50):
        held = budget.reserve(Ask(10_000, 10_000, "off"))
        budget.settle(held, budget_client.HEADERS, Usage(10_000, 10_000), 200)
    assert not held.counted and conn.dbsize() == 0


def test_a_redis_error_lets_the_call_through(private_redis: RedisServer) -> None:
    """With Redis gone the budget steps aside (the provider's own 429s still hold the line)."""
    conn = redis.Redis.from_url(private_redis.url, socket_timeout=1)
    budget = ProviderBudget(conn, BudgetConfig("http://gone.invalid/v1", API_KEY))
    private_redis.stop(kill=True)
    held = budget.reserve(Ask(10, 10, "gone"))
    assert held.epoch is None
    budget.settle(held, {}, Usage(1, 1), 200)  # nothing to settle, and no error


# --- worker trees against a rate-limited provider ---


def all_values(conn: redis.Redis) -> Iterator[bytes]:
    """Every key and every stored value in the database, whatever its type."""
    for key in conn.scan_iter(count=500):
        yield key
        kind = conn.type(key).decode()
        if kind == "string":
            yield conn.get(key) or b""
        elif kind == "hash":
            for field, value in conn.hgetall(key).items():
                yield field
                yield value
        elif kind == "list":
            yield from conn.lrange(key, 0, -1)
        elif kind == "set":
            yield from conn.smembers(key)
        elif kind == "zset":
            yield from (member for member, _ in conn.zrange(key, 0, -1, withscores=True))
        elif kind == "stream":
            for _, fields in conn.xrange(key):
                yield from (part for pair in fields.items() for part in pair)


@pytest.mark.slow
def test_two_trees_share_the_budget_without_a_429_storm(redis_server: RedisServer, conn: redis.Redis,
                                                        workers: list[WorkerProcess]) -> None:
    """2 trees x 2 jobs x 4 calls against 4000 tokens per 5 s: every course finishes with no per-call
    retry at all (OPENAI_MAX_RETRIES=0), at most 5 % of calls see a 429, and the key is nowhere in Redis."""
    with LLMServer(slow_s=0.2) as llm:
        llm.default = "slow"
        llm.limiter = RateLimiter(tokens=4000, requests=100, window_s=5)
        jobs = curricula(conn, 6)
        for _ in range(2):
            start_tree(workers, redis_server.url, llm)
        wait_finished(conn, jobs, workers)
        assert llm.limiter.refused_share() <= 0.05, (llm.limiter.refused, llm.limiter.admitted)
        assert sum(cost for _, cost in llm.limiter.charged) > 3 * 4000, "the limit bound for several windows"
        learned = budget_state(conn, llm.base_url)
        assert (learned["t_limit"], learned["t_src"], learned["r_limit"]) == ("4000", "headers", "100")
        assert int(learned["prompt_tokens_total"]) + int(learned["completion_tokens_total"]) == sum(
            cost for _, cost in llm.limiter.charged)
    leaked = [value for value in all_values(conn) if API_KEY.encode() in value or b"budget-test" in value]
    assert leaked == []


@pytest.mark.slow
def test_budget_is_relearned_after_a_flush_and_a_restart(private_redis: RedisServer,
                                                         workers: list[WorkerProcess]) -> None:
    """Budget keys deleted mid-run, then Redis restarted empty: the courses still finish, the limits
    come back from the next replies' headers, and each loss costs at most the two calls let
    through while the budget relearns."""
    conn = private_redis.client()
    with LLMServer(slow_s=0.2) as llm:
        llm.default = "slow"
        llm.limiter = RateLimiter(tokens=4000, requests=100, window_s=5)
        start_tree(workers, private_redis.url, llm)
        first = curricula(conn, 3, "Before")
        while not conn.exists(keys.llm_budget(provider_budget.budget_id(llm.base_url, API_KEY))[0]):
            time.sleep(0.05)
        time.sleep(1)
        for key in conn.scan_iter(keys.PREFIX + "{llm_budget:*"):
            conn.delete(key)
        wait_finished(conn, first, workers)
        private_redis.restart()  # no AOF: everything is gone, queues included
        conn = private_redis.client()
        second = curricula(conn, 3, "After")
        wait_finished(conn, second, workers)
        learned = budget_state(conn, llm.base_url)
        assert (learned["t_limit"], learned["t_src"]) == ("4000", "headers")
        assert llm.limiter.refused <= 2 * 2, (llm.limiter.refused, llm.limiter.admitted)


@pytest.mark.slow
def test_provider_without_headers_uses_the_configured_rates(redis_server: RedisServer, conn: redis.Redis,
                                                            workers: list[WorkerProcess]) -> None:
    """No x-ratelimit-* headers, LLM_TOKENS_PER_MINUTE / LLM_REQUESTS_PER_MINUTE set to the provider's
    rates: the budget is the configured one and every course finishes without per-call retries.
    Without headers only usage corrects the estimates, so the first calls of a kind may misjudge:
    at most two 429s in the run."""
    with LLMServer(slow_s=0.2) as llm:
        llm.default = "slow"
        # The provider's bucket holds ten seconds' worth, as the configured budget assumes.
        llm.limiter = RateLimiter(tokens=6000, requests=200, window_s=10, headers=False)
        jobs = curricula(conn, 4)
        start_tree(workers, redis_server.url, llm, LLM_TOKENS_PER_MINUTE="36000", LLM_REQUESTS_PER_MINUTE="1200")
        wait_finished(conn, jobs, workers)
        learned = budget_state(conn, llm.base_url)
        assert (learned["t_src"], float(learned["t_rate"]) * 60000, learned["r_src"]) == ("config", 36000, "config")
        assert "noheaders" in learned
        assert llm.limiter.refused <= 2, (llm.limiter.refused, llm.limiter.admitted)


@pytest.mark.slow
def test_provider_without_headers_or_rates_is_met_with_aimd(redis_server: RedisServer, conn: redis.Redis,
                                                            workers: list[WorkerProcess]) -> None:
    """No headers, no configured rates: 429s halve the calls in flight and every course finishes."""
    with LLMServer(slow_s=0.2) as llm:
        llm.default = "slow"
        llm.limiter = RateLimiter(tokens=3000, requests=100, window_s=5, headers=False)
        jobs = curricula(conn, 4)
        start_tree(workers, redis_server.url, llm)
        wait_finished(conn, jobs, workers)
        learned = budget_state(conn, llm.base_url)
        assert "noheaders" in learned and learned["t_src"] == "aimd"
        assert int(learned["rate_limited_total"]) == llm.limiter.refused > 0
        assert "cut_at" in learned, "a 429 halved the window"
        assert llm.limiter.refused_share() <= 0.4, (llm.limiter.refused, llm.limiter.admitted)


@pytest.mark.slow
def test_a_429_mid_course_waits_and_shows_the_stage(redis_server: RedisServer, conn: redis.Redis,
                                                    workers: list[WorkerProcess]) -> None:
    """Three 429s asking for 2 s after the outline, no per-call or job retries allowed: the job waits
    (stage 'waiting for the model provider'), no call comes early, and the course finishes. One call
    at a time, so that no call was already on its way when a 429 was sent."""
    with LLMServer() as llm:
        llm.queue("good", "429", "429", "429")
        llm.retry_headers = {"Retry-After": "2"}
        [job] = curricula(conn, 1)
        start_tree(workers, redis_server.url, llm, 1, LLM_CONCURRENCY="1")
        stages = set()
        while Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() not in ("finished", "failed"):
            meta = Job.fetch(job.id, connection=conn, serializer=JSONSerializer).meta
            stages.add((meta.get("progress") or {}).get("stage"))
            time.sleep(0.05)
        wait_finished(conn, [job], workers)
        assert provider_budget.WAITING_STAGE in stages
        assert llm.early == [], "a call came before the provider's wait was over"


@pytest.mark.slow
def test_a_wait_past_the_job_deadline_fails_the_run_at_once(redis_server: RedisServer, conn: redis.Redis,
                                                            workers: list[WorkerProcess]) -> None:
    """A 429 asking for longer than the job has left: the run ends now with a rate-limit error
    instead of sleeping into its timeout."""
    with LLMServer() as llm:
        llm.queue("good", "429")
        llm.retry_headers = {"Retry-After": "120"}
        [job] = curricula(conn, 1)
        start_tree(workers, redis_server.url, llm, 1, JOB_TIMEOUT="60", OPENAI_TIMEOUT="10")
        started = time.monotonic()
        while Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() != "failed":
            assert time.monotonic() - started < 40, "the run sat out the wait"
            time.sleep(0.1)
        result = Job.fetch(job.id, connection=conn, serializer=JSONSerializer).latest_result()
        assert result is not None and "rate limit" in (result.exc_string or "")


# --- what stats shows ---


def test_rate_variables_are_typed_and_named_when_bad() -> None:
    """LLM_TOKENS_PER_MINUTE / LLM_REQUESTS_PER_MINUTE default to unset, LLM_BUDGET to on; bad values are named."""
    defaults = Settings.from_env({})
    assert (defaults.llm_tokens_per_minute, defaults.llm_requests_per_minute, defaults.llm_budget) == (None, None, True)
    tuned = Settings.from_env({"LLM_TOKENS_PER_MINUTE": "200000", "LLM_REQUESTS_PER_MINUTE": "500", "LLM_BUDGET": "0"})
    assert (tuned.llm_tokens_per_minute, tuned.llm_requests_per_minute, tuned.llm_budget) == (200000, 500, False)
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({"LLM_TOKENS_PER_MINUTE": "lots", "LLM_REQUESTS_PER_MINUTE": "0", "LLM_BUDGET": "maybe"})
    for name in ("LLM_TOKENS_PER_MINUTE", "LLM_REQUESTS_PER_MINUTE", "LLM_BUDGET"):
        assert name in str(bad.value)


def spend(conn: redis.Redis, base_url: str, calls: int) -> None:
    """``calls`` calls through a budget that learns 1000 tokens per second from the headers."""
    budget = ProviderBudget(conn, BudgetConfig(base_url, API_KEY))
    for _ in range(calls):
        held = budget.reserve(Ask(prompt_tokens=60, max_tokens=40, name="view"))
        budget.settle(held, budget_client.HEADERS, Usage(60, 40), 200)


def test_the_view_costs_two_round_trips_however_many_budgets(redis_url: str) -> None:
    """One budget or five, many calls or few: reading them is TIME+SMEMBERS, then one pipeline."""
    counting = CountingRedis.from_url(redis_url)
    for n, calls in enumerate((1, 3, 10, 2, 5)):
        spend(counting, f"http://view-{n}.invalid/v1", calls)
        counting.round_trips = 0
        views = provider_budget_view.read(counting)
        assert counting.round_trips == 2 and len(views) == n + 1
    by_id = {v["id"]: v for v in views}
    five = by_id[provider_budget.budget_id("http://view-4.invalid/v1", API_KEY)]
    assert five["totals"] == {"prompt_tokens": 300, "completion_tokens": 200, "replies": 5, "rate_limited": 0}
    assert five["tokens_used"]["this_minute"] + five["tokens_used"]["last_minute"] == 500
    assert five["tokens"] is not None and five["tokens"]["limit"] == 1000 and five["mode"] == "headers"
    counting.close()


def test_the_view_counts_the_calls_and_tokens_waiting(conn: redis.Redis) -> None:
    """With the budget spent by a 429 naming 3 s, three waiting calls of 100 tokens show as 3 calls and
    300 tokens waiting, and as none once they are through."""
    base_url = "http://waiting.invalid/v1"
    budget = ProviderBudget(conn, BudgetConfig(base_url, API_KEY))
    ask = Ask(prompt_tokens=50, max_tokens=50, name="waiting")
    first = budget.reserve(ask)
    budget.settle(first, {**budget_client.HEADERS, "retry-after-ms": "3000"}, Usage(50, 50), 429)
    threads = [threading.Thread(target=budget.reserve, args=(ask,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 2.5
    while provider_budget_view.read(conn)[0]["waiting"]["calls"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    [view] = provider_budget_view.read(conn)
    assert view["waiting"] == {"calls": 3, "tokens": 300} and view["blocked_for_s"] > 0, view
    for thread in threads:
        thread.join(30)
    [view] = provider_budget_view.read(conn)
    assert view["waiting"] == {"calls": 0, "tokens": 0} and view["in_flight"] == 3


def test_stats_shows_the_budget_and_changes_nothing(redis_url: str, conn: redis.Redis) -> None:
    """stats --json and --prometheus show limits, what is left and the token counters; every key and
    value in Redis is the same afterwards."""
    base_url = "http://stats.invalid/v1"
    spend(conn, base_url, 4)
    before = sorted(all_values(conn))
    env = clean_env(REDIS_URL=redis_url)
    [view] = json.loads(run_cli("stats", "--json", env=env).stdout)["llm_budgets"]
    text = run_cli("stats", "--prometheus", env=env).stdout
    table = run_cli("stats", env=env).stdout
    assert sorted(all_values(conn)) == before
    assert view["id"] == provider_budget.budget_id(base_url, API_KEY) and view["mode"] == "headers"
    assert (view["tokens"]["limit"], view["requests"], view["waiting"]) == (1000, None, {"calls": 0, "tokens": 0})
    samples = {(s.name, s.labels.get("kind")): s.value for f in text_string_to_metric_families(text)
               for s in f.samples if s.labels.get("budget") == view["id"]}
    assert samples[("curriculum_worker_llm_budget_tokens_total", "prompt")] == 240
    assert samples[("curriculum_worker_llm_budget_tokens_total", "completion")] == 160
    assert samples[("curriculum_worker_llm_budget_limit", None)] == 1000
    assert f"provider budget {view['id']}  mode headers" in table
