"""What preloading the job code costs each fork: fork + _exit + wait in one process, before and after.

`python -m bench.fork_cost`. The worker imports the registered job code before it forks work horses
(so they share it); a bigger parent has more page tables to copy at every fork. The baseline is
the same process measured before the import, so the machine's noise affects both alike.
"""

from __future__ import annotations

import os
import statistics
import time


def fork_ms(rounds: int = 400) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    import redis  # noqa: F401 - what a plain `rq worker` parent has loaded too
    import rq  # noqa: F401

    before = fork_ms()
    from worker.runtime import preload_job_code
    from worker.settings import Settings

    preload_job_code(Settings.from_env({}))
    after = fork_ms()
    print(f"fork+exit+wait p50: {before:.3f} ms with rq loaded, {after:.3f} ms after preloading the job code "
          f"(ratio {after / before:.2f}, +{after - before:.3f} ms per job)")


if __name__ == "__main__":
    main()
