"""Threads that await OpenVINO infer requests with ``wait()`` and wake the event loop.

Not completion callbacks: OpenVINO does not call the Python callback of a request that failed
(only ``wait()`` raises its error), and a callback runs on the stream's own thread, which would
then wait for the GIL before it could start its next request. Each started run is put on one
queue (a C ``SimpleQueue``: putting is cheap and wakes one idle waiter); a waiter takes it,
calls ``wait()`` (the GIL released), stamps the end and settles the run's future on its loop
with one ``call_soon_threadsafe``. Measured against a ``ThreadPoolExecutor`` with
``asyncio.wrap_future`` (a concurrent future, a work item and chained callbacks per run):
docs/performance.md, "The 1 ms model".

All threads start with the pool (docs/architecture.md: thread counts follow the
configuration); :meth:`Waiters.close` ends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from time import perf_counter_ns

import numpy as np
import openvino as ov

#: how long :class:`Waiters` waits for its threads to start
START_TIMEOUT = 30.0


class Slot:
    """One infer request of a servable's pool, and when its last run ended."""

    __slots__ = ("done_ns", "request", "views")

    def __init__(self, request: ov.InferRequest) -> None:
        self.request = request
        self.done_ns = 0
        #: numpy views of the request's input tensors, when the inline path may fill them directly
        #: (``OpenVINOServable``: static shapes, numeric dtypes); None otherwise
        self.views: list[np.ndarray] | None = None


_Job = tuple[Slot, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Waiters:
    """``count`` threads named ``name``; :meth:`watch` returns a future that ends with the request."""

    def __init__(self, count: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._count = count
        self._closed = False
        started = threading.Barrier(count + 1)
        for index in range(count):
            thread = threading.Thread(
                target=self._serve, args=(started,), name=f"{name}_{index}", daemon=True
            )
            thread.start()
        started.wait(START_TIMEOUT)

    def watch(self, slot: Slot) -> asyncio.Future[None]:
        """A future (of the running loop) that ends when ``slot``'s started request does:
        with its result, or with the error ``wait()`` raised."""
        if self._closed:
            raise RuntimeError("the model's infer-request waiters have stopped (the version was closed)")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._jobs.put((slot, loop, done))
        return done

    def close(self) -> None:
        """End every thread once the runs already queued are done (does not block)."""
        self._closed = True
        for _ in range(self._count):
            self._jobs.put(None)

    def _serve(self, started: threading.Barrier) -> None:
        started.wait(START_TIMEOUT)
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            slot, loop, done = job
            del job  # hold nothing of a finished run while idle: a closed servable must be freed
            error: BaseException | None = None
            try:
                slot.request.wait()
            except BaseException as exc:  # the run's failure, for the caller
                error = exc
            slot.done_ns = perf_counter_ns()
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(_settle, done, error)
            del slot, loop, done, error


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
