"""Local configuration: a ``.env`` file under the real environment, and misspelt variable names.

A developer keeps local settings in ``.env`` (gitignored) instead of exporting them in every
shell. The file only fills in what the real environment leaves unset, so a deploy that sets a
variable always wins over a stray file. The CLI entry point is the only caller; ``Settings``
still parses whatever mapping it is given.

A variable within ``MAX_TYPO_DISTANCE`` edits of a known name (``REDSI_URL``, ``REDIS_ULR``,
``redis_url``) is a typo that would silently fall back to a default, e.g. another service's Redis
at ``localhost:6379``: ``typo_problems`` makes it a settings error, unless the CLI is given
``--allow-unknown-env``. A variable that only carries one of the service's prefixes and is read
by nothing is reported as a warning with the closest known name. The known names come from
``Settings`` itself (``known_variables``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from worker.errors import ConfigError

DOTENV = ".env"
PREFIXES = ("REDIS_", "WORKER_", "JOB_", "CURRICULUM_", "OPENAI_", "LLM_", "LOG_", "SENTRY_")
# Read by the libraries themselves, not by the settings: not typos.
LIBRARY_VARIABLES = frozenset({"SENTRY_RELEASE", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_LOG"})
# Edits (insert, delete, substitute, swap two neighbours) between a typo and the name it meant.
MAX_TYPO_DISTANCE = 2
_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def parse_dotenv(text: str, source: str = DOTENV) -> dict[str, str]:
    """``NAME=value`` lines; blank lines and ``#`` comments skipped; quotes around a value removed."""
    values: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        if match is None:
            problems.append(f"{source} line {number}: expected NAME=value")
            continue
        values[match.group(1)] = _unquote(match.group(2).strip())
    if problems:
        raise ConfigError(problems)
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    # An unquoted value ends at a " #" comment.
    return value.split(" #", 1)[0].rstrip()


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of the file at ``path``, or none when there is no file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    return parse_dotenv(text, str(path))


def local_environ(environ: Mapping[str, str], directory: Path) -> dict[str, str]:
    """``environ`` with ``directory/.env`` filling in the variables it does not set."""
    return read_local(environ, directory).environ


@dataclass(frozen=True)
class LocalEnviron:
    """The variables a command sees, and which of them came from the ``.env`` file."""

    environ: dict[str, str]
    from_dotenv: frozenset[str] = frozenset()

    def source(self, name: str) -> str:
        """Where the value of ``name`` came from: ``environment``, ``.env file`` or ``default``."""
        if not self.environ.get(name, "").strip():
            return "default"
        return ".env file" if name in self.from_dotenv else "environment"


def read_local(environ: Mapping[str, str], directory: Path) -> LocalEnviron:
    dotenv = read_dotenv(directory / DOTENV)
    return LocalEnviron({**dotenv, **environ}, frozenset(set(dotenv) - set(environ)))


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: a swap of two neighbours (``REDSI``) counts as one edit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def near_misses(environ: Iterable[str], known: Iterable[str]) -> list[tuple[str, str]]:
    """(name, the known name it is within MAX_TYPO_DISTANCE of) for each variable nothing reads."""
    known_names = set(known) | LIBRARY_VARIABLES
    found = []
    for name in sorted(environ):
        if name in known_names:
            continue
        # Names whose lengths differ by more than the limit cannot be within it: skipping them keeps
        # this (every variable of the process against every known name) off the start-up's bill.
        candidates = sorted(k for k in known_names if abs(len(k) - len(name)) <= MAX_TYPO_DISTANCE)
        if not candidates:
            continue
        distance, closest = min((edit_distance(name.upper(), k), k) for k in candidates)
        if distance <= MAX_TYPO_DISTANCE:
            found.append((name, closest))
    return found


def typo_problems(environ: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """Settings problems for the near misses (see the module docstring)."""
    return [f"{name}: unknown variable, one typo away from {meant}; rename it, or pass --allow-unknown-env"
            for name, meant in near_misses(environ, known)]


def unknown_variables(environ: Iterable[str], known: Iterable[str]) -> list[tuple[str, str | None]]:
    """(name, closest known name or None) for each prefixed variable nothing reads."""
    known_names = sorted(set(known) | LIBRARY_VARIABLES)
    found = []
    for name in sorted(environ):
        if name.startswith(PREFIXES) and name not in known_names:
            close = difflib.get_close_matches(name, known_names, n=1, cutoff=0.6)
            found.append((name, close[0] if close else None))
    return found
