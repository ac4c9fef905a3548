"""Counts redis-py round trips in the benchmark's worker processes (``bench.round_trips`` only).

Put on PYTHONPATH with ``ROUND_TRIP_LOG`` set, it appends one line per packed send (one command or
one pipeline: one round trip) to that file: the pid and the nearest caller in worker/, jobs/ or rq/.
Appending is slow, which is why this counts and never times.
"""

import os
import sys

_LOG = os.environ.get("ROUND_TRIP_LOG")


def _caller() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        for marker in ("/worker/", "/jobs/", "/rq/"):
            if marker in path and "/site-packages/redis/" not in path:
                return f"{marker.strip('/')}/{path.rsplit(marker, 1)[1]}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


if _LOG:
    import redis.connection

    _cls = getattr(redis.connection, "AbstractConnection", redis.connection.Connection)
    _send = _cls.send_packed_command

    def _counting_send(self, command, check_health=True):  # type: ignore[no-untyped-def]
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\t{_caller()}\n")
        return _send(self, command, check_health)

    _cls.send_packed_command = _counting_send
