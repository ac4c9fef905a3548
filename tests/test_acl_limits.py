"""Under ACL limits the CLI degrades clearly: what it may not see is said, not turned into exit 3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from tests.conftest import clean_env, run_cli


@pytest.fixture
def limited_url(redis_url: str, conn: redis.Redis, request: pytest.FixtureRequest) -> Iterator[str]:
    """A user with every command but those the test names (e.g. ``-client|setname``)."""
    conn.execute_command("ACL", "SETUSER", "limited", "reset", "on", ">limited-pw-6b1", "~*", "&*", "+@all",
                         *request.param)
    address = urlsplit(redis_url)
    yield f"redis://limited:limited-pw-6b1@{address.hostname}:{address.port}/0"
    conn.execute_command("ACL", "DELUSER", "limited")


@pytest.mark.parametrize("limited_url", [["-client|setname"]], indirect=True)
def test_stats_works_without_client_setname(limited_url: str) -> None:
    """CLIENT SETNAME denied: the read-only probe connects unnamed and reports (not exit 3)."""
    done = run_cli("stats", "--json", env=clean_env(REDIS_URL=limited_url))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "ok"
    assert "CLIENT SETNAME is denied" in done.stderr and "limited-pw-6b1" not in done.stderr + done.stdout


@pytest.mark.parametrize("limited_url", [["-info", "-config"]], indirect=True)
def test_doctor_says_what_it_cannot_see_without_info_and_config(limited_url: str) -> None:
    """INFO and CONFIG denied: doctor connects, says what is not visible, and does not exit 3."""
    done = run_cli("doctor", env=clean_env(REDIS_URL=limited_url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INFO is denied" in done.stdout and "maxmemory-policy: not visible" in done.stdout
    assert "write/read/delete of a scratch key: ok" in done.stdout
