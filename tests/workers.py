"""Real `curriculum-worker run` processes for tests: start, watch their JSON logs, signal, kill."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from rq import SimpleWorker

from tests.conftest import ROOT
from worker.runtime import end_pubsub_thread_on_unsubscribe


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc), [] once it is gone."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``: a worker's horses, a supervisor's children and theirs."""
    found = children(pid)
    return found + [d for child in found for d in descendants(child)]

class WorkerProcess:
    """One worker process whose stderr (JSON lines) goes to a file the test can poll."""

    #: Every worker this session started, for ``remove_all`` (which conftest calls at session end).
    created: ClassVar[list[WorkerProcess]] = []

    def __init__(self, env: dict[str, str], *args: str) -> None:
        WorkerProcess.created.append(self)
        self.log_path = Path(tempfile.mkstemp(prefix="cw-worker-", suffix=".log")[1])
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "worker", "run", *args], env=env, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log_path.read_text()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if name is None or record.get("event") == name:
                found.append(record)
        return found

    def wait_for(self, name: str, timeout: float = 30, count: int = 1, **match: Any) -> dict[str, Any]:
        """The count-th event ``name`` whose fields match; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [e for e in self.events(name) if all(e.get(k) == v for k, v in match.items())]
            if len(hits) >= count:
                return hits[count - 1]
            if self.process.poll() is not None and not hits:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {name} {match} within {timeout}s; log:\n{self.text()[-3000:]}")

    def children(self) -> list[int]:
        return children(self.pid)

    def work_horse(self) -> int:
        """The youngest child: RQ forks its scheduler at start and a work horse per job."""
        def started(pid: int) -> int:
            return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])

        return max(self.children(), key=started)

    def kill_hard(self) -> None:
        """SIGKILL the worker and its work horse together, as when a machine or container dies."""
        horses = self.children()
        self.process.send_signal(signal.SIGKILL)
        for pid in horses:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()

    @classmethod
    def remove_all(cls) -> None:
        """Kill every worker still running and delete every log file."""
        for worker in cls.created:
            with contextlib.suppress(Exception):
                worker.stop()
            worker.log_path.unlink(missing_ok=True)
        cls.created.clear()


class PlainSimpleWorker(SimpleWorker):
    """RQ's own SimpleWorker, run in a test's process, whose ``work()`` returns when its queues are done.

    A plain RQ worker's stop waits up to 60 s for its pubsub thread under redis-py 8.2; the worker's
    fix (``end_pubsub_thread_on_unsubscribe``) spares the tests that minute each.
    """

    def unsubscribe(self) -> None:
        end_pubsub_thread_on_unsubscribe(self.pubsub_thread)
        super().unsubscribe()
