"""Library log lines never contradict the worker's events, and the HTTP client's chatter is DEBUG."""

from __future__ import annotations

import inspect
import logging

import pytest
import redis
import rq.worker.worker_classes

from tests.conftest import clean_env, run_cli
from tests.llm_server import LLMServer
from tests.servers import RedisServer
from tests.workers import WorkerProcess
from worker.jsonjob import JsonQueue
from worker.logfilters import RQ_HORSE_DIED, DemoteChatter, DropContradictions


def test_rq_still_words_a_dead_work_horse_as_the_filter_expects() -> None:
    """The filter matches RQ's wording; an RQ upgrade that changes it fails here, not silently."""
    assert RQ_HORSE_DIED in inspect.getsource(rq.worker.worker_classes)


def test_filters_drop_rqs_dead_horse_line_and_demote_http_lines() -> None:
    """RQ's dead-horse warning is dropped; an httpx INFO line passes only at DEBUG, relabelled."""
    dead = logging.makeLogRecord({"name": "rq.worker", "levelno": logging.WARNING,
                                  "msg": "Worker %s: job %s failed (%s)",
                                  "args": ("w", "j", f"{RQ_HORSE_DIED}; waitpid returned 9")})
    other = logging.makeLogRecord({"name": "rq.worker", "levelno": logging.WARNING, "msg": "anything else"})
    assert not DropContradictions().filter(dead) and DropContradictions().filter(other)

    def http_line() -> logging.LogRecord:
        return logging.makeLogRecord({"name": "httpx", "levelno": logging.INFO, "levelname": "INFO",
                                      "msg": "HTTP Request: POST http://x/v1/chat/completions"})

    assert not DemoteChatter(logging.INFO).filter(http_line())
    shown = http_line()
    assert DemoteChatter(logging.DEBUG).filter(shown) and shown.levelname == "DEBUG"


@pytest.mark.slow
def test_a_job_requeued_at_shutdown_is_never_logged_as_failed(redis_server: RedisServer, conn: redis.Redis) -> None:
    """SIGTERM past the deadline: the log says job.requeued, and no line says the job failed."""
    job = JsonQueue("curriculum_generation", connection=conn).enqueue("jobs.diagnostics.canary", 30)
    worker = WorkerProcess(clean_env(REDIS_URL=redis_server.url, LOG_FORMAT="json", WORKER_SHUTDOWN_TIMEOUT="1"))
    try:
        worker.wait_for("job.started", job_id=job.id)
        worker.terminate()
        assert worker.wait(timeout=30) == 0
        worker.wait_for("job.requeued", job_id=job.id, reason="shutdown")
        lines = [line for line in worker.text().splitlines() if job.id in line]
        assert lines and not [line for line in lines if "failed" in line.lower()], lines
    finally:
        worker.stop()


def test_model_http_calls_are_not_logged_at_info(redis_url: str, conn: redis.Redis) -> None:
    """With the openai generator at LOG_LEVEL=INFO, no per-request HTTP line reaches the log."""
    with LLMServer() as llm:
        JsonQueue("curriculum_generation", connection=conn).enqueue(
            "jobs.curriculum.generate_curriculum", {"topic": "Knots", "duration_weeks": 1})
        env = clean_env(REDIS_URL=redis_url, CURRICULUM_GENERATOR="openai", OPENAI_API_KEY="sk-test-log-lines",
                        OPENAI_BASE_URL=llm.base_url, LOG_LEVEL="INFO")
        result = run_cli("run", "--burst", env=env)
        assert result.returncode == 0, result.stderr
        assert llm.requests > 0 and "job.finished" in result.stderr
        assert "HTTP Request" not in result.stderr and "chat/completions" not in result.stderr
        JsonQueue("curriculum_generation", connection=conn).enqueue(
            "jobs.curriculum.generate_curriculum", {"topic": "Sailing", "duration_weeks": 1})
        debug = run_cli("run", "--burst", env={**env, "LOG_LEVEL": "DEBUG"})
        assert "HTTP Request" in debug.stderr, "still there for LOG_LEVEL=DEBUG"
