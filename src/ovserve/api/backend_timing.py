"""The queue / run split of one request, from the backend's timing hook.

A backend such as ``OpenVINOServable`` offers ``timing_observer``: called on the request's own
task, right after the run, with the nanoseconds it waited for a free infer request and ran.
:func:`attach` wraps that hook (keeping the metrics registry's, which binds first) so that it
also fills the request's slot, which the request path puts in :data:`BACKEND_TIMING` before it
runs the model. The statistics extension and tracing read the slot. The hook is looked up on the
servable's :attr:`~ovserve.core.servable.Servable.backend`, through the wrappers that run it on the
request's own task (string conversion, stateful sequences); a servable without the hook, or one
whose calls are batched (the batches run in tasks of their own), leaves the slot at -1.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from ovserve.core.ids import ServableId
from ovserve.core.manager import ServableManager
from ovserve.core.states import State, VersionStatus
from ovserve.errors import ServingError

#: the running request's [wait_ns, run_ns] (-1: not reported)
BACKEND_TIMING: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "ovserve_backend_timing", default=None
)


def _reporting(previous: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
    """A timing hook that fills the request's slot and then calls ``previous`` (metrics)."""

    def observe(wait_ns: int, run_ns: int) -> None:
        slot = BACKEND_TIMING.get()
        if slot is not None:
            slot[0], slot[1] = wait_ns, run_ns
        if previous is not None:
            previous(wait_ns, run_ns)

    return observe


def attach(manager: ServableManager) -> None:
    """Wrap the timing hook of every servable that becomes AVAILABLE and offers one.

    Subscribe after the metrics registry (``MetricsRegistry.attach``), so its hook is kept.
    """

    def on_state(sid: ServableId, status: VersionStatus) -> None:
        if status.state is not State.AVAILABLE:
            return
        try:
            with manager.acquire(sid.name, sid.version) as servable:
                if servable.batching is not None:  # its backend runs in the batcher's tasks
                    return
                backend = servable.backend
                if hasattr(backend, "timing_observer"):
                    backend.timing_observer = _reporting(backend.timing_observer)
        except ServingError:  # pragma: no cover - AVAILABLE means it can be acquired
            pass

    manager.subscribe(on_state)
