"""`make demo`: the service's main job end to end against a local Redis.

Enqueue a sample curriculum request, run the worker in burst mode, then print a summary of the
curriculum and the queue statistics. Uses REDIS_URL, else Redis on localhost:6379; if nothing
answers there and redis-server is installed, runs a private throwaway server for the demo.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import redis

from jobs import client

SAMPLE = {
    "topic": "Python for data analysis",
    "level": "beginner",
    "duration_weeks": 4,
    "hours_per_week": 5,
    "objectives": ["clean messy CSV data with pandas", "plot trends with matplotlib"],
}


def answers(url: str) -> bool:
    try:
        with closing(redis.Redis.from_url(url, socket_connect_timeout=1)) as conn:
            return bool(conn.ping())
    except redis.RedisError:
        return False


@contextmanager
def some_redis() -> Iterator[str]:
    url = os.environ.get("REDIS_URL") or "redis://localhost:6379/0"
    if answers(url):
        yield url
        return
    if os.environ.get("REDIS_URL"):
        sys.exit(f"demo: nothing answers at REDIS_URL ({url.split('@')[-1]}); start it or unset REDIS_URL")
    if shutil.which("redis-server") is None:
        sys.exit("demo: no Redis on localhost:6379 and redis-server is not installed.\n"
                 "Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) "
                 "or set REDIS_URL.")
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="curriculum-demo-redis-")
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            if answers(url):
                break
            time.sleep(0.05)
        print(f"demo: no Redis on localhost:6379; started a throwaway redis-server on port {port}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def summarize(result: dict[str, Any]) -> None:
    print(f"\n{result['topic']} ({result['level']}, {result['duration_weeks']} weeks x "
          f"{result['hours_per_week']} h) by {result['generator']['name']}/{result['generator']['model']}")
    for number, module in enumerate(result["modules"], 1):
        minutes = sum(lesson["minutes"] for lesson in module["lessons"])
        print(f"  {number}. {module['title']}  ({len(module['lessons'])} lessons, {minutes} min)")
        for lesson in module["lessons"]:
            print(f"       - {lesson['title']} ({lesson['minutes']} min)")
    for week in result["schedule"]:
        print(f"  week {week['week']}: {len(week['lesson_ids'])} lessons, {week['minutes']} min")
    for item in result["objectives_coverage"]:
        print(f"  objective {item['objective']!r} -> {', '.join(item['modules'])}")
    available = result["duration_weeks"] * result["hours_per_week"] * 60
    print(f"  total {result['total_minutes']} min of {available:g} available")


def main() -> None:
    with some_redis() as url:
        env = {**os.environ, "REDIS_URL": url}
        conn = redis.Redis.from_url(url)
        job_id, status = client.enqueue_curriculum(conn, SAMPLE)
        print(f"demo: enqueued job {job_id} ({status}); running the worker in burst mode")
        cli = [sys.executable, "-m", "worker"]
        subprocess.run([*cli, "run", "--burst"], env=env, check=True)
        outcome = client.job_status(conn, job_id)
        if outcome["status"] != "finished":
            sys.exit(f"demo: job {job_id} ended {outcome['status']}: {outcome['error']}")
        summarize(outcome["result"])
        print("\nqueue statistics:")
        subprocess.run([*cli, "stats"], env=env, check=False)


if __name__ == "__main__":
    main()
