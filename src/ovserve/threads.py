"""Thread pools whose threads all exist from the start.

``ThreadPoolExecutor`` starts a thread only when work finds none idle, so a pool grows
whenever load peaks, minutes or hours into a run, and a soak sees the process's thread
count step up long after its warm-up. A pool from :func:`started_pool` has all of its
threads from the moment it is made: the thread count is a function of the configuration,
not of the traffic's history.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

#: how long the start-up barrier waits (it only waits for the pool's own threads to start)
START_TIMEOUT = 30.0


def started_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads named ``name``, every one of them already running."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    barrier = threading.Barrier(workers)
    # each task blocks until all have started, so each submit finds no idle thread and starts one
    for future in [pool.submit(barrier.wait, START_TIMEOUT) for _ in range(workers)]:
        future.result()
    return pool
