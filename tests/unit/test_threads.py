"""Started pools: every thread exists from the start, and load never adds one."""

from __future__ import annotations

import threading

from ovserve.threads import started_pool


def named(prefix: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(prefix))


def test_a_started_pool_has_all_its_threads_before_any_work_and_keeps_that_many() -> None:
    pool = started_pool(3, "started-pool-test")
    try:
        assert named("started-pool-test") == 3
        gate = threading.Event()
        busy = [pool.submit(gate.wait, 30) for _ in range(3)]
        later = [pool.submit(lambda: None) for _ in range(20)]  # queued behind busy threads
        assert named("started-pool-test") == 3
        gate.set()
        for future in busy + later:
            future.result(30)
        assert named("started-pool-test") == 3
    finally:
        pool.shutdown(wait=True)
    assert named("started-pool-test") == 0
