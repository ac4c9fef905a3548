"""LLM_GLOBAL_CONCURRENCY against a real redis-server, real worker trees and the local model server."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs import llm_gate
from jobs.llm_gate import HOLDERS, WAITERS, LlmGate
from tests.conftest import clean_env, run_cli
from tests.llm_server import LLMServer
from tests.servers import RedisServer
from tests.workers import WorkerProcess
from worker.jsonjob import JsonQueue

QUEUE = "curriculum_generation"


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    """The suite's private redis-server (conftest); the ``conn`` fixture empties it for each test."""
    return redis_server


def start_tree(workers: list[WorkerProcess], server: RedisServer, llm: LLMServer, concurrency: int,
               **extra: str) -> WorkerProcess:
    env = clean_env(REDIS_URL=server.url, LOG_FORMAT="json", WORKER_HEARTBEAT_INTERVAL="1",
                    WORKER_STALL_TIMEOUT="3", CURRICULUM_GENERATOR="openai", OPENAI_API_KEY="sk-gate-test",
                    OPENAI_BASE_URL=llm.base_url, JOB_MAX_RETRIES="0", **extra)
    worker = WorkerProcess(env, "--concurrency", str(concurrency))
    workers.append(worker)
    return worker


def curricula(conn: redis.Redis, count: int) -> list[Job]:
    queue = JsonQueue(QUEUE, connection=conn)
    return [queue.enqueue("jobs.curriculum.generate_curriculum",
                          {"topic": f"Gate topic {i}", "duration_weeks": 2, "hours_per_week": 3})
            for i in range(count)]


def redis_ms(conn: redis.Redis) -> int:
    seconds, micros = conn.time()
    return int(seconds * 1000 + micros // 1000)


def wait_until(what: str, check: object, timeout: float = 60) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_slots_are_granted_in_arrival_order(conn: redis.Redis) -> None:
    """With one slot taken, three callers that queued one after another enter in that order."""
    gate = LlmGate(conn, limit=1, lease_s=10)
    release = threading.Event()
    order: list[int] = []

    def hold() -> None:
        with gate.slot():
            release.wait(30)

    def take(number: int) -> None:
        with gate.slot():
            order.append(number)

    threads = [threading.Thread(target=hold)]
    threads[0].start()
    wait_until("holder in", lambda: conn.zcard(HOLDERS) == 1)
    for number in range(3):
        threads.append(threading.Thread(target=take, args=(number,)))
        threads[-1].start()
        wait_until(f"waiter {number} queued", lambda n=number: conn.zcard(WAITERS) == n + 1)
    release.set()
    for thread in threads:
        thread.join(30)
    assert order == [0, 1, 2]
    assert llm_gate.read_state(conn, time.time()) == llm_gate.GateState(holders=0, waiters=0)


def test_unset_limit_lets_every_call_through_without_redis(conn: redis.Redis) -> None:
    """LLM_GLOBAL_CONCURRENCY unset: slots are not counted at all (nothing written to Redis)."""
    gate = LlmGate(conn, limit=None)
    with gate.slot(), gate.slot():
        assert conn.dbsize() == 0


def test_limit_holds_across_three_worker_trees(server: RedisServer, conn: redis.Redis,
                                               workers: list[WorkerProcess]) -> None:
    """3 processes x 2 jobs x LLM_CONCURRENCY 4: the model server never sees more than 3 calls at once."""
    with LLMServer(slow_s=0.2) as llm:
        llm.default = "slow"
        jobs = curricula(conn, 6)
        for _ in range(3):
            start_tree(workers, server, llm, 2, LLM_GLOBAL_CONCURRENCY="3", LLM_CONCURRENCY="4")

        def all_done() -> bool:
            statuses = [Job.fetch(j.id, connection=conn, serializer=JSONSerializer).get_status() for j in jobs]
            assert "failed" not in statuses, [w.text()[-2000:] for w in workers]
            return all(s == "finished" for s in statuses)

        wait_until("all six curricula generated", all_done, timeout=120)
        assert llm.requests >= 6 * 2  # a design and a writing call per curriculum at least
        assert llm.max_in_flight == 3, "the limit binds (without it up to 6 calls would run at once)"
    assert llm_gate.read_state(conn, time.time()) == llm_gate.GateState(holders=0, waiters=0)


def test_slots_of_a_killed_process_come_back_within_its_lease(server: RedisServer, conn: redis.Redis,
                                                              workers: list[WorkerProcess]) -> None:
    """stats shows both slots held; after a SIGKILL each lease ends at most LLM_GLOBAL_LEASE later."""
    lease_ms = 3000
    with LLMServer(slow_s=120) as llm:
        llm.default = "slow"
        curricula(conn, 2)
        tree = start_tree(workers, server, llm, 2, LLM_GLOBAL_CONCURRENCY="2", LLM_GLOBAL_LEASE="3")
        wait_until("both slots held", lambda: conn.zcard(HOLDERS) == 2 and llm.in_flight == 2)
        probe = run_cli("stats", "--json", env=clean_env(REDIS_URL=server.url, LLM_GLOBAL_CONCURRENCY="2"))
        assert json.loads(probe.stdout)["llm_gate"] == {"limit": 2, "holders": 2, "waiters": 0}
        tree.process.kill()
        tree.process.wait(10)
        killed_ms = redis_ms(conn)
        expiries = [score for _, score in conn.zrange(HOLDERS, 0, -1, withscores=True)]
        assert len(expiries) == 2 and max(expiries) <= killed_ms + lease_ms

        taken = threading.Event()

        def take_both() -> None:
            gate = LlmGate(conn, limit=2, lease_s=3)
            with gate.slot(), gate.slot():
                taken.set()

        thread = threading.Thread(target=take_both)
        thread.start()
        thread.join(30)
        assert taken.is_set(), "the dead process's slots never came back"
        assert redis_ms(conn) >= min(expiries), "they came back by their lease running out"


def test_instances_with_different_global_limits_are_told(redis_url: str, conn: redis.Redis,
                                                         workers: list[WorkerProcess]) -> None:
    """A worker started with another LLM_GLOBAL_CONCURRENCY than the one recorded beside the gate warns."""
    first = WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", LLM_GLOBAL_CONCURRENCY="4"))
    workers.append(first)
    first.wait_for("worker.started")
    assert not first.events("llm_gate.limit_mismatch")
    assert conn.get(llm_gate.LIMIT) == b"4"
    second = WorkerProcess(clean_env(REDIS_URL=redis_url, LOG_FORMAT="json", LLM_GLOBAL_CONCURRENCY="16"))
    workers.append(second)
    mismatch = second.wait_for("llm_gate.limit_mismatch")
    assert mismatch["configured"] == 16 and mismatch["other"] == "4"
