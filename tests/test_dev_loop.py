"""The developer's loop: `make` refuses a wrong Python or a missing redis-server in one line, rebuilds a
.venv made by another Python, and Ctrl+C stops the test run with nothing left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import ROOT

MAKE = shutil.which("make") or "make"  # the README's two commands need it; no skip when it is missing


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path} if path is not None else None
    return subprocess.run([MAKE, "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def fake_python(folder: Path, version: str) -> Path:
    """An executable that answers the Makefile's version question like a Python ``version`` would."""
    script = folder / f"python{version}"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        case "$2" in
          *">= (3, 11)"*) echo {version >= "3.11"} ;;
          *version_info*) echo {version} ;;
        esac
        """))
    script.chmod(0o755)
    return script


def test_python_below_3_11_is_one_clear_line(tmp_path: Path) -> None:
    """make install with Python 3.10 stops at once, naming the version and the fix, creating nothing."""
    result = make("install", f"PYTHON={fake_python(tmp_path, '3.10')}", f"VENV={tmp_path / 'venv'}")
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and "Python 3.11 or newer is needed" in lines[0] and "is 3.10" in lines[0], lines
    assert not (tmp_path / "venv").exists()


def test_missing_redis_server_is_one_clear_line(tmp_path: Path) -> None:
    """make test without redis-server on PATH stops before installing or linting, in one line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    result = make("test", f"VENV={tmp_path / 'venv'}", path=str(bin_dir))
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "redis-server not found" in lines[0], lines


def test_a_venv_built_by_another_python_is_rebuilt(tmp_path: Path) -> None:
    """A .venv stamped by another interpreter version is removed and created again (dry run)."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed-3.10").touch()
    planned = make("-n", "install", f"VENV={venv}", f"PYTHON={sys.executable}").stdout.splitlines()
    assert planned[:2] == [f"rm -rf {venv}", f"{sys.executable} -m venv {venv}"]
    current = "{}.{}".format(*sys.version_info[:2])
    (venv / f".installed-{current}").touch()
    again = make("-n", "install", f"VENV={venv}", f"PYTHON={sys.executable}").stdout
    assert "Nothing to be done" in again and "rm -rf" not in again


def test_pytest_without_redis_server_says_so_in_one_line(tmp_path: Path) -> None:
    """Running pytest where redis-server is missing ends before collection with one line saying so."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_planner.py"],
                            cwd=ROOT, env={**os.environ, "PATH": str(tmp_path)}, capture_output=True, text=True,
                            timeout=60)
    output = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(output) == 1 and "redis-server not found" in output[0], output


def test_ctrl_c_stops_the_run_after_an_in_process_worker(tmp_path: Path) -> None:
    """After a test ran an RQ worker in-process, SIGINT still interrupts pytest: the next test never ends."""
    marker = tmp_path / "marker"
    (tmp_path / "test_interrupted.py").write_text(textwrap.dedent(f"""\
        import time
        from pathlib import Path

        from rq.serializers import JSONSerializer
        from tests.workers import PlainSimpleWorker
        from worker.jsonjob import JsonQueue

        def test_in_process_worker(conn):
            queue = JsonQueue("q", connection=conn)
            PlainSimpleWorker([queue], connection=conn, serializer=JSONSerializer).work(burst=True)

        def test_long(conn):
            Path({str(marker)!r}).write_text("started")
            time.sleep(60)
            Path({str(marker)!r}).write_text("finished")
        """))
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                            f"--rootdir={tmp_path}", str(tmp_path / "test_interrupted.py")],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while not marker.exists() and run.poll() is None:
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=60)
    finally:
        run.kill()
    assert marker.read_text() == "started", output
    assert "KeyboardInterrupt" in output and run.returncode == 2, output
