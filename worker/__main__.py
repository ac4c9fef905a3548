"""``python -m worker``: the same CLI as the ``curriculum-worker`` console script.

Run with an interpreter that lacks the dependencies (the system ``python3`` instead of
``.venv``'s) it says what to do in one line instead of showing an ImportError traceback.
"""

import sys

HINT = "run `make install`, then `. .venv/bin/activate` (or call .venv/bin/curriculum-worker directly)"

if sys.version_info < (3, 11):  # noqa: UP036 - an older python3 may run this file; say so
    sys.exit(f"curriculum-worker needs Python 3.11 or newer; {sys.executable} is "
             f"{sys.version_info[0]}.{sys.version_info[1]}: {HINT}")
from worker.entry import leave_cleanly_while_starting  # noqa: E402 - after the version check

leave_cleanly_while_starting()
try:
    from worker.cli import main
except ModuleNotFoundError as exc:
    sys.exit(f"curriculum-worker: {exc.name} is not installed for {sys.executable}; {HINT}")

if __name__ == "__main__":
    main()
