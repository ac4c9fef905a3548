"""Ctrl+C for a command that waits: never lost, even when it lands in a finalizer.

Python raises ``KeyboardInterrupt`` in whatever the main thread runs when SIGINT arrives. If that is
a ``__del__`` (redis-py's ``Pipeline.__del__`` runs whenever a pipeline is collected, as the probe's
are just before ``enqueue --wait`` starts waiting), the exception is printed as "Exception ignored"
and dropped, and the wait went on until its timeout. The handler here records every Ctrl+C, raises
only outside a finalizer, and the wait checks the record between short waits.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: How long a wait may go on, at most, after a Ctrl+C that arrived in a finalizer.
CHECK_EVERY_S = 0.5


def _in_finalizer(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def recorded() -> Iterator[threading.Event]:
    """Within the block, Ctrl+C sets the event it yields and raises KeyboardInterrupt (outside finalizers).

    A SIGINT that is ignored (a background job of a script: ``cmd &``) stays ignored.
    """
    pressed = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        yield pressed
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        pressed.set()
        if not _in_finalizer(frame):
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handle)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)
