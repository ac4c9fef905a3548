"""The docs a newcomer follows point only at what a clone has, and name only options that exist."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT, clean_env, run_cli

DOCS = ["README.md", *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").glob("*.md")))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return listed.splitlines()


def test_nothing_points_outside_the_repository() -> None:
    """No tracked file names the design-time contract or deploy doc paths a clone does not have."""
    offenders = []
    for name in tracked_files():
        path = ROOT / name
        if path.suffix in {".png", ".lock"} or not path.is_file() or name == "tests/test_docs.py":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{name}: {needle}" for needle in ("../shared", "CONTRACT.md", "DEPLOY.md") if needle in text]
    assert offenders == []


def test_relative_links_in_the_docs_resolve() -> None:
    """Every relative link in README.md and docs/*.md names a file or folder in the repository."""
    missing = []
    for doc in DOCS:
        base = (ROOT / doc).parent
        for target in LINK.findall((ROOT / doc).read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://", "mailto:")) and not (base / target).exists():
                missing.append(f"{doc} -> {target}")
    assert missing == []


def using_it_rows() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Using it$(.*?)^## ", readme, re.M | re.S)
    assert section is not None, "README has no 'Using it' section"
    return re.findall(r"^\| `(curriculum-worker [^`]*)`", section.group(1), re.M)


def test_using_it_names_only_real_commands_and_options() -> None:
    """Each command in README's 'Using it' exists, and each option it shows is in that command's --help."""
    rows = using_it_rows()
    assert len(rows) >= 10
    env = clean_env()
    for row in rows:
        words = row.split()
        command = words[1] if not words[1].startswith("-") else None
        options = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", row))
        help_text = run_cli(*([command] if command else []), "--help", env=env).stdout
        assert help_text, row
        unknown = [option for option in options
                   if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text)]
        assert unknown == [], f"{row}: {unknown}"


def test_example_requests_are_valid() -> None:
    """The example files the README enqueues are valid requests."""
    from worker.client import validate_request

    for path in sorted(Path(ROOT / "examples").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for request in data if isinstance(data, list) else [data]:
            validate_request(request)
