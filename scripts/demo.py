"""`make demo`: the service's main job end to end against a local Redis.

Enqueue the sample request (examples/request.json), run the worker in burst mode, then print a
summary of the curriculum and the queue statistics.

Which Redis: ``REDIS_URL``, else localhost:6379. If nothing answers there, a private throwaway
``redis-server`` is started for the demo and stopped afterwards. A Redis the demo did not start
may hold someone's data and a real deployment's queues, so the demo never writes to its database:
it works in an empty database of that server (the highest-numbered one) and deletes what it wrote
there before it exits. A server with a single database gets a throwaway server instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import redis

from jobs import keys
from worker import client
from worker.commands.views import curriculum_lines
from worker.settings import redact_url

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "request.json"
DEFAULT_URL = "redis://localhost:6379/0"
# What the worker and the job write: RQ's keys, the service's own (jobs.keys) and the idempotency keys.
OWN_PATTERNS = ("rq:*", keys.PREFIX + "*", keys.IDEMPOTENCY + ":*")


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def answers(url: str) -> bool:
    try:
        with closing(redis.Redis.from_url(url, socket_connect_timeout=1)) as conn:
            return bool(conn.ping())
    except (redis.RedisError, ValueError):
        return False


def with_db(url: str, db: int) -> str:
    return urlsplit(url)._replace(path=f"/{db}").geturl()


def empty_database(url: str) -> int | None:
    """The highest-numbered empty database other than the URL's own, or None (e.g. a single-db server)."""
    own = redis.Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    for db in range(15, 0, -1):
        if db == own:
            continue
        try:
            with closing(redis.Redis.from_url(with_db(url, db), socket_connect_timeout=2)) as conn:
                if conn.dbsize() == 0:
                    return db
        except redis.ResponseError:
            continue  # no such database on this server
    return None


@contextmanager
def borrowed_database(url: str, db: int) -> Iterator[str]:
    """Use database ``db`` of someone else's server; delete the demo's keys from it afterwards."""
    url = with_db(url, db)
    say(f"using the empty database {db} of {redact_url(url)}; its keys are deleted when the demo ends")
    try:
        yield url
    finally:
        with closing(redis.Redis.from_url(url)) as conn:
            for pattern in OWN_PATTERNS:
                found = list(conn.scan_iter(match=pattern, count=1000))
                if found:
                    conn.delete(*found)


@contextmanager
def throwaway_server(reason: str) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        sys.exit(f"demo: {reason}, and redis-server is not installed to start a throwaway one.\n"
                 "Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) "
                 "or set REDIS_URL to a Redis that answers.")
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
        say(f"{reason}; started a throwaway redis-server on port {port} (stopped when the demo ends)")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def some_redis() -> Iterator[str]:
    url = os.environ.get("REDIS_URL") or DEFAULT_URL
    if not answers(url):
        with throwaway_server(f"nothing answers at {redact_url(url)}") as throwaway:
            yield throwaway
        return
    db = empty_database(url)
    if db is None:
        with throwaway_server(f"{redact_url(url)} has no empty database to borrow") as throwaway:
            yield throwaway
        return
    with borrowed_database(url, db) as borrowed:
        yield borrowed


def main() -> None:
    request = json.loads(SAMPLE.read_text(encoding="utf-8"))
    with some_redis() as url:
        # The demo's own settings win over the environment and any .env: the sample goes to the
        # queue the worker serves, and no model account is needed.
        env = {**os.environ, "REDIS_URL": url, "WORKER_QUEUES": client.QUEUE, "CURRICULUM_GENERATOR": "offline"}
        with closing(redis.Redis.from_url(url)) as conn:
            job_id, status = client.enqueue_curriculum(conn, request, dedupe=False)
            say(f"enqueued job {job_id} ({status}) from {SAMPLE.relative_to(ROOT)}; running the worker once")
            cli = [sys.executable, "-m", "worker"]
            subprocess.run([*cli, "run", "--burst"], env=env, check=True)
            outcome = client.job_status(conn, job_id)
        if outcome["status"] != "finished":
            sys.exit(f"demo: job {job_id} ended {outcome['status']}: {outcome['error']}")
        print("\n" + "\n".join(curriculum_lines(outcome["result"])))
        print("\nqueue statistics (the demo's worker has exited, hence no live worker):", flush=True)
        subprocess.run([*cli, "stats"], env=env, check=False)


if __name__ == "__main__":
    main()
