"""The service's own Redis keys: named in one registry (``jobs.keys``), under one prefix."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import redis

from jobs import keys
from jobs.cache import Cache
from tests.conftest import ROOT

#: A string that starts like one of our keys: today's prefix or either prefix used before the registry.
#: A colon followed by a space is prose ("curriculum-worker: not installed"), not a key.
KEY_LIKE = re.compile(r"^(curriculum-worker|curriculum|cw):[^\s]")
LUA_STRING = re.compile(r"""(['"])(.*?)\1""")
REGISTRY = ROOT / "jobs" / "keys.py"


def key_like_strings(source: str) -> list[str]:
    """Every string constant of a Python source (f-string pieces included) that starts like a key."""
    return [node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY_LIKE.match(node.value)]


def key_like_lua_strings(source: str) -> list[str]:
    """Every quoted string of a Lua source, outside comments, that starts like a key."""
    code = "\n".join(line.split("--", 1)[0] for line in source.splitlines())
    return [match.group(2) for match in LUA_STRING.finditer(code) if KEY_LIKE.match(match.group(2))]


def sources() -> Iterator[Path]:
    for package in ("worker", "jobs"):
        yield from sorted((ROOT / package).rglob("*.py"))
        yield from sorted((ROOT / package).rglob("*.lua"))


def test_no_module_names_a_service_key_outside_the_registry() -> None:
    """No Python or Lua source under worker/ or jobs/, except jobs/keys.py, spells a key of ours itself."""
    files = [path for path in sources() if path != REGISTRY]
    assert len(files) > 50  # both packages are there: an empty pass cannot hide a moved tree
    offenders = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        found = key_like_strings(text) if path.suffix == ".py" else key_like_lua_strings(text)
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_the_scan_sees_keys_in_every_form() -> None:
    """The scan finds literals, f-strings and Lua strings of all three prefixes, and skips prose and comments."""
    python = ('A = "cw:{llm_gate}"\nB = f"curriculum:lock:{k}"\nC = "curriculum-worker:takes:"\n'
              'D = "curriculum-worker: not installed"\nE = "a curriculum:lock:x"\n')
    assert sorted(key_like_strings(python)) == ["curriculum-worker:takes:", "curriculum:lock:", "cw:{llm_gate}"]
    lua = "-- KEYS: 'curriculum-worker:leases:<q>'\nredis.call('GET', 'cw:llm_budgets')\n"
    assert key_like_lua_strings(lua) == ["cw:llm_budgets"]


def registry_names() -> dict[str, str | list[str]]:
    """Every key or key prefix the registry gives out: its string constants, and what each builder
    builds from placeholder arguments."""
    names: dict[str, str | list[str]] = {}
    for name, value in vars(keys).items():
        if name.startswith("_") or name == "annotations":
            continue
        if isinstance(value, str):
            names[name] = value
        elif inspect.isfunction(value) and value.__module__ == keys.__name__:
            required = [p for p in inspect.signature(value).parameters.values() if p.default is p.empty]
            names[f"{name}()"] = value(*(f"<{p.name}>" for p in required))
    return names


def test_every_registry_key_is_under_the_one_prefix_but_the_wire_contract() -> None:
    """Each name jobs.keys gives out starts with curriculum-worker:, except the wire-contract names
    (pinned here: other programs use them) and the read-only legacy names."""
    names = registry_names()
    assert len(names) > 25 and "takes()" in names and "llm_budget()" in names
    assert keys.IDEMPOTENCY == "curriculum:idempotency" and keys.JOB_EVENTS == "curriculum-worker:job-events:"
    assert keys.idempotency("d") == "curriculum:idempotency:d"
    assert keys.job_events("j") == "curriculum-worker:job-events:j"
    exempt = keys.WIRE_CONTRACT | keys.LEGACY
    strays = {}
    for name, value in names.items():
        values = value if isinstance(value, list) else [value]
        for one in values:
            if one in exempt or any(one.startswith(w) for w in keys.WIRE_CONTRACT):
                continue
            if not one.startswith(keys.PREFIX):
                strays[name] = one
    assert strays == {}
    assert all(not name.startswith(keys.PREFIX) for name in keys.LEGACY), "legacy names are the old prefixes"


def test_keys_one_script_touches_share_a_hash_tag() -> None:
    """The gate's keys share one cluster hash tag, and each provider budget's keys share their own."""
    gate = [keys.LLM_GATE_HOLDERS, keys.LLM_GATE_WAITERS, keys.LLM_GATE_WAITER_LEASES, keys.LLM_GATE_TICKETS,
            keys.LLM_GATE_LIMIT]
    assert {re.findall(r"\{[^}]*\}", key)[0] for key in gate} == {"{llm_gate}"}
    assert {re.findall(r"\{[^}]*\}", key)[0] for key in keys.llm_budget("ab12")} == {"{llm_budget:ab12}"}


def test_the_cache_serves_what_the_previous_release_cached(conn: redis.Redis) -> None:
    """During an upgrade a miss under the new prefix is served from the old one; writes go to the new one only."""
    cache = Cache(conn)
    conn.set(f"{keys.LEGACY_CACHE}:content:old", '{"title": "paid for before the upgrade"}')
    assert cache.get_curriculum("old") == {"title": "paid for before the upgrade"}
    assert cache.get_llm("nowhere") is None
    cache.put_llm("new", "reply")
    assert conn.get(keys.cache("llm", "new")) == b"reply"
    assert conn.keys(f"{keys.LEGACY_CACHE}:*") == [f"{keys.LEGACY_CACHE}:content:old".encode()]


def test_a_private_cache_prefix_has_no_legacy_fallback(conn: redis.Redis) -> None:
    """A cache under another prefix (a test's, a tenant's) never reads the service's old keys."""
    conn.set(f"{keys.LEGACY_CACHE}:content:old", '{"title": "not yours"}')
    assert Cache(conn, prefix="elsewhere").get_curriculum("old") is None


def test_the_upgrade_note_deletes_exactly_the_legacy_names() -> None:
    """docs/operations.md's clean-up after an upgrade deletes the registry's legacy names, no more, no fewer."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    loops = [line for line in text.splitlines() if line.startswith("for p in ")]
    assert len(loops) == 1
    assert tuple(re.findall(r"'([^']+)'", loops[0])) == keys.LEGACY_PATTERNS
