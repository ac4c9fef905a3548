"""`stats --prometheus` passes Prometheus' own linter, `promtool check metrics`, with every family
holding samples (real jobs run first, model calls included). In CI (CI=true) a missing promtool
fails the test: .ci/run installs it; elsewhere the test is skipped with how to install it."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import redis

from tests.conftest import clean_env, run_cli
from tests.llm_server import LLMServer
from worker.jsonjob import JsonQueue

QUEUE = "curriculum_generation"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("promtool not found; CI must install it (.ci/run: apt-get install prometheus)")
        pytest.skip("promtool not installed (Debian/Ubuntu: apt-get install prometheus)")
    return found


def test_stats_prometheus_passes_promtool_check_metrics(redis_url: str, conn: redis.Redis) -> None:
    """After real jobs (canaries, a failure, a curriculum through a model API): promtool finds no problem."""
    tool = promtool()
    queue = JsonQueue(QUEUE, connection=conn)
    for _ in range(3):
        queue.enqueue("jobs.diagnostics.canary", 0)
    queue.enqueue("jobs.curriculum.generate_curriculum", {"topic": "x"})  # invalid: fails at once
    with LLMServer() as llm:
        queue.enqueue("jobs.curriculum.generate_curriculum", {"topic": "Prometheus", "duration_weeks": 1})
        ran = run_cli("run", "--burst", env=clean_env(REDIS_URL=redis_url, CURRICULUM_GENERATOR="openai",
                                                      OPENAI_API_KEY="sk-promtool", OPENAI_BASE_URL=llm.base_url))
    assert ran.returncode == 0, ran.stderr[-2000:]
    result = run_cli("stats", "--prometheus", env=clean_env(REDIS_URL=redis_url))
    for family in ("window_run_p50_seconds", "window_wait_p95_seconds", "window_llm_latency_p95_seconds",
                   "job_outcomes_total", "job_run_seconds_bucket", "llm_latency_seconds_bucket"):
        assert f"\ncurriculum_worker_{family}{{" in result.stdout, family
    checked = subprocess.run([tool, "check", "metrics"], input=result.stdout, capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", checked.stdout + checked.stderr
