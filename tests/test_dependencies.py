"""Dependencies: every one bounded above, and the lock files inside those bounds."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [req for group in project["optional-dependencies"].values() for req in group]
    return [Requirement(text) for text in [*project["dependencies"], *extras]]


def pinned(lock: str) -> dict[str, str]:
    lines = (ROOT / lock).read_text().splitlines()
    return {canonicalize_name(m[1]): m[2] for line in lines if (m := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line))}


def test_every_dependency_has_an_upper_bound() -> None:
    """A plain `pip install` can never pick up a future major release (sentry-sdk 3 broke `run`)."""
    unbounded = [str(req) for req in declared()
                 if not any(spec.operator in ("<", "<=", "==", "~=") for spec in req.specifier)]
    assert unbounded == []


def test_the_locks_satisfy_pyproject() -> None:
    """What CI, make and render.yaml install is a set pyproject.toml allows."""
    runtime = pinned("requirements.lock")
    dev = pinned("requirements-dev.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"]:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert req.specifier.contains(runtime[name]) and req.specifier.contains(dev[name]), text
    for req in declared():
        assert req.specifier.contains(dev[canonicalize_name(req.name)]), str(req)
