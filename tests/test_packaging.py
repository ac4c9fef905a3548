"""What a user installing the package gets: the Lua scripts travel with the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_built_package_carries_every_lua_script(tmp_path: Path) -> None:
    """setuptools' build_py (the step a wheel is made from, with the pyproject's package data)
    copies each worker/lua/*.lua and jobs/lua/*.lua file next to the code that loads it."""
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                    "--build-lib", str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    for package in ("worker", "jobs"):
        shipped = {path.name for path in (tmp_path / package / "lua").glob("*.lua")}
        expected = {path.name for path in (ROOT / package / "lua").glob("*.lua")}
        assert expected and shipped == expected, package
    assert (tmp_path / "worker" / "scripts.py").exists() and (tmp_path / "jobs" / "lua" / "__init__.py").exists()
