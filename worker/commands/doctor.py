"""``curriculum-worker doctor``: is this deployment's Redis set up the way a job queue needs?

Prints the redacted configuration, connects (exit 3 with a likely fix if it cannot), then reports
TLS, latency, server facts and hazards. Exit 1 when a hazard would lose jobs (eviction) or the
scratch-key round trip fails.
"""

from __future__ import annotations

import secrets
import statistics
import time
from typing import Any

import click
import redis
from redis import Redis

from jobs import keys
from worker import reporting
from worker.commands.common import redis_url_source
from worker.connection import connect, endpoint
from worker.probe import ServerFacts, server_warnings
from worker.settings import Settings

PINGS = 40
SCRATCH_PREFIX = keys.DOCTOR_SCRATCH


def latency_ms(connection: Redis, count: int = PINGS) -> dict[str, float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        connection.ping()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p99_index = min(len(samples) - 1, round(0.99 * (len(samples) - 1)))
    return {"p50": round(statistics.median(samples), 3), "p99": round(samples[p99_index], 3)}


def tls_facts(connection: Redis) -> dict[str, Any] | None:
    conn = connection.connection_pool.get_connection()
    try:
        sock = getattr(conn, "_sock", None)
        version = getattr(sock, "version", None)
        cipher = getattr(sock, "cipher", None)
        if version is None or cipher is None:
            return None
        return {"version": version(), "cipher": (cipher() or ("?",))[0]}
    finally:
        connection.connection_pool.release(conn)


def scratch_roundtrip(connection: Redis) -> bool:
    key = SCRATCH_PREFIX + secrets.token_hex(8)
    value = secrets.token_hex(8)
    try:
        connection.set(key, value, ex=60)
        return connection.get(key) == value.encode()
    finally:
        connection.delete(key)


def _config(connection: Redis, name: str) -> str | None:
    try:
        value = connection.config_get(name).get(name)
    except redis.ResponseError:  # managed Redis often disables CONFIG, or an ACL denies it
        return None
    return None if value is None else str(value)


def _info(connection: Redis) -> dict[str, Any] | None:
    try:
        return dict(connection.info())
    except redis.ResponseError:  # an ACL without +info: say what cannot be seen, not exit 3
        return None


def server_facts(connection: Redis) -> tuple[dict[str, Any] | None, ServerFacts]:
    """INFO (None when denied), and the facts the probe judges too (its ``server_warnings`` are
    doctor's hazards); a fact neither INFO nor CONFIG shows stays None."""
    info = _info(connection)
    seen = info or {}
    policy = _config(connection, "maxmemory-policy") or seen.get("maxmemory_policy")
    facts = ServerFacts(version=seen.get("redis_version"), policy=None if policy is None else str(policy),
                        aof=bool(seen["aof_enabled"]) if "aof_enabled" in seen else None,
                        save=_config(connection, "save"),
                        evicted_keys=int(seen["evicted_keys"]) if "evicted_keys" in seen else None)
    return info, facts


def _report_server(info: dict[str, Any] | None, facts: ServerFacts) -> None:
    if info is None:
        click.echo("  server: INFO is denied to this user (ACL): version, persistence and evictions not visible")
        if facts.policy is not None:
            click.echo(f"  maxmemory-policy {facts.policy}")
    else:
        click.echo(f"  server: redis {facts.version} ({info.get('redis_mode', 'standalone')}), "
                   f"maxmemory-policy {facts.policy or 'not visible (INFO and CONFIG denied)'}")
        click.echo(f"  evictions so far: {facts.evicted_keys if facts.evicted_keys is not None else '?'}")
    if facts.policy is None and info is None:
        click.echo("  maxmemory-policy: not visible (CONFIG and INFO denied); check it in the provider's console")
    rdb = "unknown" if facts.save is None else ("on" if facts.save.strip() else "off")
    aof = "unknown" if facts.aof is None else ("on" if facts.aof else "off")
    click.echo(f"  persistence: aof {aof}, rdb snapshots {rdb}")


@click.command()
@click.pass_obj
def doctor(settings: Settings) -> None:
    """Connection and configuration check: TLS, auth, latency, server facts, hazards."""
    click.echo("configuration:")
    for name, value in settings.describe().items():
        origin = f"  (from {redis_url_source()})" if name == "redis_url" else ""
        click.echo(f"  {name} = {value}{origin}")
    click.echo(f"sentry: {reporting.describe_dsn(settings)}")
    where = endpoint(settings)
    click.echo(f"connecting to {where} ...")
    connection = connect(settings)
    click.echo("  connected and authenticated" if "***@" in settings.redis_url_redacted else "  connected")
    if where.scheme == "rediss":
        tls = tls_facts(connection)
        verify = "verified" if settings.redis_tls_verify else "NOT VERIFIED (REDIS_TLS_VERIFY=false)"
        click.echo(f"  tls: {tls['version']} {tls['cipher']}, certificate {verify}" if tls else "  tls: ?")
    lat = latency_ms(connection)
    click.echo(f"  latency: p50 {lat['p50']} ms, p99 {lat['p99']} ms over {PINGS} PINGs")
    info, facts = server_facts(connection)
    _report_server(info, facts)
    ok = scratch_roundtrip(connection)
    click.echo(f"  write/read/delete of a scratch key: {'ok' if ok else 'FAILED'}")
    for hazard in server_warnings(facts):
        click.echo(f"  warning: {hazard}")
    if facts.evicted_keys:
        click.echo(f"  problem: Redis has evicted {facts.evicted_keys} key(s): jobs may have been lost")
    # An eviction policy that would lose jobs, or evictions seen, fail the check; one that cannot
    # be seen (INFO and CONFIG denied) is reported above, not guessed.
    if not ok or (facts.policy is not None and facts.policy != "noeviction") or facts.evicted_keys:
        raise click.exceptions.Exit(1)
