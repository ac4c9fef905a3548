"""The domain does not import the machinery: no module in ``jobs/`` imports ``worker``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(tree: ast.AST) -> list[str]:
    """Every module an ``import`` or ``from ... import`` names, wherever it sits (functions included)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def worker_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [name for name in imported_modules(tree) if name == "worker" or name.startswith("worker.")]


def test_jobs_import_nothing_from_worker() -> None:
    """No module under jobs/ imports worker or anything in it, at module level or inside a function."""
    files = sorted((ROOT / "jobs").rglob("*.py"))
    assert len(files) > 10  # the package is there, so an empty pass cannot hide a moved tree
    offenders = {str(p.relative_to(ROOT)): names for p in files if (names := worker_imports(p))}
    assert offenders == {}


def test_the_check_sees_every_form_of_import() -> None:
    """The import finder catches plain, from- and function-level imports of worker, not look-alikes."""
    source = (
        "import worker\nimport worker.settings as s\nfrom worker.errors import X\n"
        "def f():\n    from worker import budget\n"
        "import workers_extra\nfrom jobs.worker_like import Y\nfrom . import worker_local\n"
    )
    found = [n for n in imported_modules(ast.parse(source)) if n == "worker" or n.startswith("worker.")]
    assert found == ["worker", "worker.settings", "worker.errors", "worker"]


def test_importing_every_jobs_module_loads_no_worker_module() -> None:
    """Importing all of jobs (in a fresh interpreter) loads no worker module, not even indirectly."""
    import subprocess
    import sys

    script = (
        "import importlib, pkgutil, sys, jobs\n"
        "for m in pkgutil.walk_packages(jobs.__path__, 'jobs.'): importlib.import_module(m.name)\n"
        "print(sorted({k for k in sys.modules if k.split('.')[0] == 'worker'}))\n"
        "print(len([k for k in sys.modules if k.startswith('jobs.')]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    loaded, count = run.stdout.splitlines()
    assert loaded == "[]" and int(count) > 10
