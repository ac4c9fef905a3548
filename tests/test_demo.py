"""`make demo` does what the README says: it runs against the Redis it is given without leaving a key
behind, and starts a throwaway redis-server when nothing answers."""

from __future__ import annotations

import subprocess
import sys

import redis

from tests.conftest import ROOT, clean_env
from tests.servers import RedisServer, free_port


def run_demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def every_key(server: RedisServer) -> dict[int, dict[bytes, int]]:
    """Database -> key -> TTL, over all 16 databases."""
    found = {}
    for db in range(16):
        conn = redis.Redis(host="127.0.0.1", port=server.port, db=db)
        found[db] = {key: conn.ttl(key) for key in conn.scan_iter()}
        conn.close()
    return found


def test_demo_leaves_an_existing_redis_as_it_found_it(redis_server: RedisServer, conn: redis.Redis) -> None:
    """Against a Redis that holds data, the demo prints the curriculum and leaves every database as it was."""
    conn.set("someone:else", "keep me")
    conn.hset("rq:job:periodic-canary", "origin", "a real deployment's")
    before = every_key(redis_server)
    result = run_demo(clean_env(REDIS_URL=redis_server.url))
    assert result.returncode == 0, result.stderr
    assert "Python for data analysis (beginner, 4 weeks x 5 h)" in result.stdout
    assert "started a throwaway" not in result.stdout
    assert every_key(redis_server) == before
    assert conn.hget("rq:job:periodic-canary", "origin") == b"a real deployment's"


def test_demo_starts_a_throwaway_server_when_nothing_answers() -> None:
    """A REDIS_URL where nothing listens: the demo says so, runs on its own server, and succeeds."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = run_demo(clean_env(REDIS_URL=dead))
    assert result.returncode == 0, result.stderr
    assert f"nothing answers at {dead}" in result.stdout and "started a throwaway redis-server" in result.stdout
    assert "  total " in result.stdout and " min of 1200 available" in result.stdout
