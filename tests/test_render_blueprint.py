"""The deployment files (render.yaml, Procfile, .env.example) agree with Render and with the interface.

Render only reports a broken Blueprint when someone applies it, and a wrong shutdown delay or
Redis wiring shows up as lost jobs weeks later, so these checks run with the unit tests.
Render's published JSON Schema is not ours to ship: the schema checks read it from
``RENDER_SCHEMA_PATH`` or, as in CI, from the workplace's ``shared/render/`` folder beside the clone
or beside any folder above it (a worktree or a clone one level deeper finds it too; the path is
taken as given and as resolved, in case the clone sits behind a symlink). Where neither exists
they skip naming both, except in CI (``CI=true``), where a missing schema fails. The variables
other services rely on are the environment table of ``docs/interface.md``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from worker.settings import Settings, known_variables

REPO = Path(__file__).resolve().parents[1]
RENDER_SCHEMA_IN_SHARED = Path("shared") / "render" / "render.schema.json"
INTERFACE_DOC = REPO / "docs" / "interface.md"

# The documented default of WORKER_SHUTDOWN_TIMEOUT, used when render.yaml does not set it.
CONTRACT_SHUTDOWN_TIMEOUT_S = 25.0
# Time Render must still allow after the job's grace period: requeue the job, close, exit.
SHUTDOWN_MARGIN_S = 10.0
PROBE_THRESHOLDS = ("--min-workers", "--max-stalled", "--max-age", "--max-new-failed")
SECRET_VARIABLES = ("OPENAI_API_KEY", "SENTRY_DSN")
# Variables Render or its Python runtime read that are not the application's own.
PLATFORM_VARIABLES = frozenset({"PYTHON_VERSION", "RENDER"})

ENV_NAME = re.compile(r"`([A-Z][A-Z0-9_]*)`")
ENV_ASSIGNMENT = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=(.*)$")
REAL_LOOKING_SECRETS = {
    "OpenAI-style API key": re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    "Sentry DSN with a key": re.compile(r"https?://[0-9a-f]{32}@"),
    # 32+ characters of token alphabet mixing letters and digits (divider lines of dashes are not).
    "long random token": re.compile(
        r"(?<![A-Za-z0-9+/_-])(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{32,}"
    ),
}
URL_PASSWORD = re.compile(r"://[^/\s:@]*:([^@\s/]+)@")
PLACEHOLDER_PASSWORD = re.compile(r"^(\*+|<[^>]+>|[A-Z][A-Z_]*|x+)$")


# --- loading --------------------------------------------------------------------------------------


def schema_candidates() -> list[Path]:
    """RENDER_SCHEMA_PATH, else shared/render/ beside the clone or any folder above it."""
    if os.environ.get("RENDER_SCHEMA_PATH"):
        return [Path(os.environ["RENDER_SCHEMA_PATH"])]
    given = Path(os.path.abspath(__file__)).parents[1]  # abspath, not resolve(): symlinks kept
    folders = [*given.parents, *REPO.parents]
    return list(dict.fromkeys(folder / RENDER_SCHEMA_IN_SHARED for folder in folders))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    candidates = schema_candidates()
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        message = (f"Render's Blueprint JSON Schema not found at {candidates[0]} (nor in a shared/render/ "
                   "further up): set RENDER_SCHEMA_PATH to a copy of it")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def contract_env() -> dict[str, str]:
    """Variable name -> default cell of docs/interface.md's environment table."""
    table = parse_environment_table(INTERFACE_DOC.read_text(encoding="utf-8"))
    assert "REDIS_URL" in table, f"could not parse the environment table out of {INTERFACE_DOC}"
    return table


@pytest.fixture(scope="module")
def blueprint() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "render.yaml").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def env_example() -> str:
    return (REPO / ".env.example").read_text(encoding="utf-8")


def parse_environment_table(markdown: str) -> dict[str, str]:
    """Rows of the table under '## Environment': each variable name with its own default cell.

    A row may name several variables (``A`` / ``B``); its default cell then lists one default each,
    separated the same way. Where the counts differ the whole cell is kept for every name.
    """
    section = re.search(r"^## Environment\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    if section is None:
        return {}
    table: dict[str, str] = {}
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not line.lstrip().startswith("|"):
            continue
        names = ENV_NAME.findall(cells[0])
        defaults = [part.strip() for part in cells[1].split(" / ")]
        if len(defaults) != len(names):
            defaults = [cells[1]] * len(names)
        table.update(zip(names, defaults, strict=True))
    return table


def literal_default(cell: str) -> str | None:
    """The value of a default cell that is one literal (`25` s), None if absent or computed."""
    match = re.fullmatch(r"`([^`]*)`(?:\s*(?:s|ms))?", cell)
    return match.group(1) if match else None


def service(blueprint: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [s for s in blueprint["services"] if s["type"] == kind]
    assert len(found) == 1, f"expected one service of type {kind!r}, found {len(found)}"
    return found[0]


def effective_env(blueprint: dict[str, Any], svc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Key -> env var entry as the service sees it: its groups first, its own entries on top."""
    groups = {g["name"]: g["envVars"] for g in blueprint.get("envVarGroups", [])}
    env: dict[str, dict[str, Any]] = {}
    for entry in svc.get("envVars", []):
        if "fromGroup" in entry:
            assert entry["fromGroup"] in groups, f"{svc['name']} uses unknown group {entry['fromGroup']!r}"
            env.update({e["key"]: e for e in groups[entry["fromGroup"]]})
    env.update({e["key"]: e for e in svc.get("envVars", []) if "key" in e})
    return env


def pip_installs(build_command: str) -> list[list[str]]:
    """Arguments of every ``pip install`` in a build command chained with &&."""
    commands = [shlex.split(part) for part in build_command.split("&&")]
    return [argv[2:] for argv in commands if argv[:2] == ["pip", "install"]]


def secrets_in(text: str) -> list[str]:
    """Descriptions of every real-looking secret in ``text`` (placeholders are fine)."""
    found = [
        f"{what}: {m.group(0)[:12]}..."
        for what, rx in REAL_LOOKING_SECRETS.items()
        for m in rx.finditer(text)
    ]
    found += [
        f"password in URL: {m.group(1)[:3]}..."
        for m in URL_PASSWORD.finditer(text)
        if not PLACEHOLDER_PASSWORD.match(m.group(1))
    ]
    return found


def describe_schema_error(error: jsonschema.ValidationError, total: int) -> list[str]:
    """Readable lines for one schema error, pointing into the anyOf branch that was meant.

    A service or env var that matches none of its anyOf shapes yields one opaque error; its
    context holds every branch's errors. Branches that already reject the entry's ``type`` (a
    worker is no Key Value) are noise, so only the others are shown. At the root, 2020-12's
    "unevaluated properties" follows from any failure below (failed branches evaluate nothing),
    so it is dropped when other errors explain it.
    """
    where = "/".join(str(p) for p in error.absolute_path) or "<root>"
    if error.validator == "unevaluatedProperties" and not error.absolute_path and total > 1:
        return []
    if error.validator != "anyOf" or not error.context:
        return [f"{where}: {error.message}"]
    branches: dict[Any, list[jsonschema.ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [errs for errs in branches.values() if not any(list(e.relative_path) == ["type"] for e in errs)]
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for errs in (meant or branches.values())
        for e in errs
    ]


# --- render.yaml against Render's schema ----------------------------------------------------------


def test_render_yaml_validates_against_render_schema(
    schema: dict[str, Any], blueprint: dict[str, Any]
) -> None:
    """render.yaml is valid under Render's JSON Schema, checked with the draft the schema declares."""
    validator_class = jsonschema.validators.validator_for(schema)
    assert validator_class.META_SCHEMA["$id"].rstrip("#") == schema["$schema"].rstrip("#")
    validator_class.check_schema(schema)
    errors = list(validator_class(schema).iter_errors(blueprint))
    messages = sorted(line for error in errors for line in describe_schema_error(error, len(errors)))
    assert not messages, "render.yaml does not match Render's schema:\n" + "\n".join(messages)


def test_schema_validation_catches_a_misspelt_field(
    schema: dict[str, Any], blueprint: dict[str, Any]
) -> None:
    """The schema check is not vacuous: an unknown field on the worker (e.g. env:) is rejected."""
    broken = json.loads(json.dumps(blueprint))
    service(broken, "worker")["env"] = "python"
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert not validator.is_valid(broken)


# --- render.yaml: the decisions -------------------------------------------------------------------


def test_worker_starts_with_the_contract_command(blueprint: dict[str, Any]) -> None:
    """The background worker runs `curriculum-worker run` on the python runtime."""
    worker = service(blueprint, "worker")
    assert worker["startCommand"] == "curriculum-worker run"
    assert worker["runtime"] == "python"


def test_worker_and_probe_get_redis_url_from_the_keyvalue_connection_string(
    blueprint: dict[str, Any],
) -> None:
    """REDIS_URL of the worker and of the cron probe is the Key Value instance's connectionString."""
    keyvalue = service(blueprint, "keyvalue")
    expected = {"type": "keyvalue", "name": keyvalue["name"], "property": "connectionString"}
    for kind in ("worker", "cron"):
        entry = effective_env(blueprint, service(blueprint, kind))["REDIS_URL"]
        assert entry.get("fromService") == expected, f"{kind}: REDIS_URL is {entry}"


def test_keyvalue_never_evicts_and_is_private(blueprint: dict[str, Any]) -> None:
    """Key Value uses noeviction, a paid (persistent) plan, and an empty ipAllowList (private only)."""
    keyvalue = service(blueprint, "keyvalue")
    assert keyvalue["maxmemoryPolicy"] == "noeviction"
    assert keyvalue.get("plan", "free") != "free", "free Key Value instances do not persist jobs"
    assert keyvalue["ipAllowList"] == [], "opening Key Value to the internet is a decision for docs/deploy-render.md"


def test_all_services_share_one_region(blueprint: dict[str, Any]) -> None:
    """Every service names the same region, since the private network that carries redis:// is regional."""
    regions = {s["name"]: s.get("region") for s in blueprint["services"]}
    assert len(set(regions.values())) == 1 and None not in regions.values(), regions


def test_shutdown_delay_outlasts_the_job_grace_period(blueprint: dict[str, Any]) -> None:
    """maxShutdownDelaySeconds exceeds WORKER_SHUTDOWN_TIMEOUT by at least the requeue-and-exit margin."""
    worker = service(blueprint, "worker")
    entry = effective_env(blueprint, worker).get("WORKER_SHUTDOWN_TIMEOUT")
    grace = float(entry["value"]) if entry else CONTRACT_SHUTDOWN_TIMEOUT_S
    kill_after = worker.get("maxShutdownDelaySeconds", 30)  # Render's default
    assert kill_after - grace >= SHUTDOWN_MARGIN_S, (
        f"SIGKILL comes {kill_after} s after SIGTERM but jobs may run {grace} s: "
        f"less than {SHUTDOWN_MARGIN_S} s left to requeue and exit"
    )


def test_cron_probe_runs_stats_with_thresholds(blueprint: dict[str, Any]) -> None:
    """The cron service runs `curriculum-worker stats` with every threshold set to a whole number."""
    cron = service(blueprint, "cron")
    argv = shlex.split(cron["startCommand"])
    assert argv[:2] == ["curriculum-worker", "stats"]
    for option in PROBE_THRESHOLDS:
        assert option in argv, f"probe lacks {option}"
        value = argv[argv.index(option) + 1]
        assert value.isdigit() or (option, value) == ("--min-workers", "auto"), f"{option}: {value!r}"
    assert "--max-failed" not in argv, "the failed registry keeps jobs for days: it would page every run"
    assert len(cron["schedule"].split()) == 5, f"not a cron expression: {cron['schedule']!r}"


def _value(env: dict[str, dict[str, Any]], key: str, default: int) -> int:
    return int(env[key]["value"]) if key in env else default


def test_probe_expects_as_many_workers_as_are_deployed(blueprint: dict[str, Any]) -> None:
    """--min-workers (auto: the probe's WORKER_INSTANCES x WORKER_CONCURRENCY) equals numInstances x the
    worker's WORKER_CONCURRENCY (each child is a worker): one lost is noticed."""
    cron = service(blueprint, "cron")
    argv = shlex.split(cron["startCommand"])
    worker = service(blueprint, "worker")
    worker_env, probe_env = effective_env(blueprint, worker), effective_env(blueprint, cron)
    deployed = worker.get("numInstances", 1) * _value(worker_env, "WORKER_CONCURRENCY", 1)
    option = argv[argv.index("--min-workers") + 1]
    expected = (_value(probe_env, "WORKER_INSTANCES", 1) * _value(probe_env, "WORKER_CONCURRENCY", 1)
                if option == "auto" else int(option))
    assert expected == deployed, f"the probe expects {expected} workers, {deployed} are deployed"
    assert _value(worker_env, "WORKER_INSTANCES", 1) == worker.get("numInstances", 1)


def test_failed_jobs_page_once_each(blueprint: dict[str, Any]) -> None:
    """--max-new-failed counts failures within --window; the window equals the cron interval, so each
    failure is in exactly one run's window (pages once), and the probe writes nothing to remember it."""
    cron = service(blueprint, "cron")
    argv = shlex.split(cron["startCommand"])
    minute = cron["schedule"].split()[0]
    assert minute.startswith("*/"), f"the probe should run every N minutes: {cron['schedule']!r}"
    assert argv[argv.index("--window") + 1] == f"{minute[2:]}m"
    assert "--max-new-failed" in argv


def test_model_calls_are_capped_across_instances(blueprint: dict[str, Any]) -> None:
    """LLM_GLOBAL_CONCURRENCY is set for the worker and below what the deployment could make at once."""
    worker = service(blueprint, "worker")
    env = effective_env(blueprint, worker)
    unbounded = (worker.get("numInstances", 1) * _value(env, "WORKER_CONCURRENCY", 1)
                 * _value(env, "LLM_CONCURRENCY", 8))
    assert 1 <= _value(env, "LLM_GLOBAL_CONCURRENCY", 0) < unbounded


def test_python_services_build_from_the_lock_file(blueprint: dict[str, Any]) -> None:
    """Each python service installs requirements.lock, and installs the project itself with --no-deps."""
    python_services = [s for s in blueprint["services"] if s.get("runtime") == "python"]
    assert python_services
    for svc in python_services:
        installs = pip_installs(svc["buildCommand"])
        assert ["-r", "requirements.lock"] in installs, f"{svc['name']}: {svc['buildCommand']!r}"
        for args in installs:
            if "." in args:
                assert "--no-deps" in args, f"{svc['name']}: `pip install .` would re-resolve dependencies"


def test_secrets_are_prompted_for_never_committed(blueprint: dict[str, Any]) -> None:
    """OPENAI_API_KEY and SENTRY_DSN are sync: false with no value, wherever they appear."""
    entries = [e for g in blueprint.get("envVarGroups", []) for e in g["envVars"]]
    entries += [e for s in blueprint["services"] for e in s.get("envVars", []) if "key" in e]
    secrets = [e for e in entries if e["key"] in SECRET_VARIABLES]
    assert {e["key"] for e in secrets} == set(SECRET_VARIABLES)
    for entry in secrets:
        assert entry == {"key": entry["key"], "sync": False}, entry


def test_render_yaml_sets_only_known_variables(
    blueprint: dict[str, Any], contract_env: dict[str, str]
) -> None:
    """Every variable render.yaml sets is in the interface's table (or read by Render), so typos fail."""
    keys = {e["key"] for g in blueprint.get("envVarGroups", []) for e in g["envVars"]}
    keys |= {e["key"] for s in blueprint["services"] for e in s.get("envVars", []) if "key" in e}
    assert keys - set(contract_env) - PLATFORM_VARIABLES == set()


# --- Procfile -------------------------------------------------------------------------------------


def test_procfile_worker_matches_render_worker(blueprint: dict[str, Any]) -> None:
    """The Procfile is one `worker:` line whose command equals render.yaml's worker startCommand."""
    lines = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1, lines
    process, _, command = lines[0].partition(":")
    assert process == "worker"
    assert command.strip() == service(blueprint, "worker")["startCommand"]


# --- .env.example ---------------------------------------------------------------------------------


def settings_variables() -> set[str]:
    """Every variable the settings read (the interface's, plus any a feature adds), found at run time."""
    return set(known_variables())


def test_env_example_names_every_variable_the_settings_read(env_example: str) -> None:
    """.env.example has a line for each variable the service reads, and names no variable it ignores."""
    named = {m.group(1) for line in env_example.splitlines() if (m := ENV_ASSIGNMENT.match(line))}
    assert settings_variables() - PLATFORM_VARIABLES - named == set(), "missing from .env.example"
    assert named - settings_variables() == set(), "read by nothing (typo?)"


def test_interface_documents_every_variable_the_settings_read(contract_env: dict[str, str]) -> None:
    """docs/interface.md's environment table names every variable the settings read (none is secret)."""
    assert settings_variables() - PLATFORM_VARIABLES - set(contract_env) == set()
    assert {"REDIS_URL", "WORKER_QUEUES", "JOB_FAILURE_TTL"} <= settings_variables()


def test_env_example_shows_literal_defaults(env_example: str, contract_env: dict[str, str]) -> None:
    """Each variable read with a literal documented default has an active NAME=default line."""
    active = dict(
        m.groups() for line in env_example.splitlines() if (m := re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line))
    )
    expected = {
        name: value for name, cell in contract_env.items()
        if (value := literal_default(cell)) is not None and name in settings_variables()
    }
    assert expected, "no literal defaults parsed from the interface doc"
    assert {name: active.get(name) for name in expected} == expected


def test_settings_defaults_match_the_documented_ones(contract_env: dict[str, str]) -> None:
    """Parsing the documented literal defaults gives the same settings as parsing nothing."""
    documented = {
        name: value for name, cell in contract_env.items()
        if (value := literal_default(cell)) is not None and name in settings_variables()
    }
    assert "JOB_FAILURE_TTL" in documented
    assert Settings.from_env(documented) == Settings.from_env({})


def test_env_example_leaves_secrets_unset(env_example: str) -> None:
    """Secret variables appear only commented out, so copying the file never sets a fake secret."""
    for name in SECRET_VARIABLES:
        assert not re.search(rf"^{name}=", env_example, re.M), f"{name} is set in .env.example"


def test_env_example_holds_no_real_looking_secret(env_example: str) -> None:
    """No API key, DSN key, long token or URL password other than a placeholder is in .env.example."""
    assert secrets_in(env_example) == []


@pytest.mark.parametrize(
    "text",
    [
        "OPENAI_API_KEY=sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
        "SENTRY_DSN=https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/2",
        "REDIS_URL=rediss://red-abc:s3cr3tPa55@oregon-keyvalue.render.com:6379",
    ],
)
def test_secret_check_flags_real_looking_values(text: str) -> None:
    """The secret check is not vacuous: real-looking keys, DSNs and URL passwords are flagged."""
    assert secrets_in(text)
