"""What the CLI loads: only the invoked command's code, and no model client unless a job needs it.

A forking worker copies its whole process into every work horse, and ``stats`` runs as a frequent
health probe, so heavy imports there are paid on every job and every probe.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ("openai", "sentry_sdk", "py3langid", "numpy")


def loaded_after(code: str) -> set[str]:
    """Top-level packages among ``HEAVY`` loaded by ``code`` in a fresh interpreter."""
    script = f"import sys\n{code}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())


def test_the_cli_loads_no_command_until_one_is_invoked() -> None:
    """Importing the CLI imports none of its commands' modules."""
    script = ("import sys, worker.cli\n"
              "print(sorted(m for m in sys.modules\n"
              "             if m.startswith('worker.commands.') and m != 'worker.commands.common'))")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_run_and_stats_load_no_model_client_sentry_or_language_model() -> None:
    """The run and stats commands (and the offline generator a worker preloads) load none of the heavy packages."""
    code = ("import click\nfrom worker.cli import cli\n"
            "for name in ('run', 'stats', 'status', 'enqueue'): cli.get_command(click.Context(cli), name)\n"
            "import jobs.generators.offline")
    assert loaded_after(code) == set()


def test_the_check_sees_a_heavy_import() -> None:
    """The model generator does load the model client: the check above can fail."""
    assert "openai" in loaded_after("import jobs.generators.openai_generator")


def test_every_listed_command_loads() -> None:
    """Each name the CLI lists resolves to its command (a typo in the table would only show at run time)."""
    import click

    from worker.cli import COMMANDS, cli

    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None and command.name == name
