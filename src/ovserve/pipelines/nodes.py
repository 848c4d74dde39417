"""The node contract: one step of a pipeline, as the executor sees it.

Every kind of node (a served model version, a C custom node, a Python node) is
presented to the executor as a :class:`Node`: tensor specs of its inputs and outputs
(for validation and metadata; a dimension unknown before running is ``Dim.any()``), and
:meth:`Node.run`, which takes a complete set of inputs and gives every output. ``run``
must not block the event loop (native or user code runs on a worker thread) and raises
:class:`~ovserve.errors.ServingError` subclasses for failures, to whose messages the
executor appends the node's name (``; node: <name>``). A node that learns its tensors only
when it runs declares none (empty ``inputs`` / ``outputs``): the pipeline checks nothing on
that side.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from ovserve.tensors import TensorSpec

#: The dtype of a :class:`TensorSpec` that says nothing about its tensor (a Python node's
#: inputs and outputs are known only when it runs): such a spec has this dtype and no dims,
#: and validation skips it.
UNKNOWN_DTYPE = np.dtype("V")


class Node(Protocol):
    """One runnable step; built once per pipeline (version), shared by its concurrent requests."""

    @property
    def inputs(self) -> Mapping[str, TensorSpec]: ...

    @property
    def outputs(self) -> Mapping[str, TensorSpec]: ...

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once on ``inputs`` (every input of :attr:`inputs`); return every output."""
        ...

    def close(self) -> None:
        """Free what the node holds (a custom node's state, a Python node's ``finalize``); called once."""
        ...


@runtime_checkable
class StreamingNode(Node, Protocol):
    """A node that may answer one request with several sets of outputs (a Python generator node)."""

    def run_stream(self, inputs: Mapping[str, np.ndarray]) -> AsyncIterator[dict[str, np.ndarray]]:
        """Each set of outputs as the node yields it; ends when the node's generator ends."""
        ...


class RunningCalls:
    """A node's calls in flight, for closing it: :meth:`close` refuses new calls (:meth:`enter`
    raises ``closed()``) and ``finish`` runs once, after the last running call has left (at
    once when none runs). ``finish`` runs on the thread that closes or leaves last. Thread-safe.
    """

    def __init__(self, finish: Callable[[], None], closed: Callable[[], Exception]) -> None:
        self._finish = finish
        self._closed = closed
        self._lock = threading.Lock()
        self._running = 0
        self._closing = False

    def enter(self) -> None:
        """Count one more call running; raises ``closed()`` once :meth:`close` was called."""
        with self._lock:
            if self._closing:
                raise self._closed()
            self._running += 1

    def leave(self, _: object = None) -> None:
        """One call ended (usable as a future's done callback); the last one after close finishes."""
        with self._lock:
            self._running -= 1
            last = self._closing and self._running == 0
        if last:
            self._finish()

    def close(self) -> None:
        """Refuse new calls; ``finish`` now when none runs, else when the last one leaves. Idempotent."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            idle = self._running == 0
        if idle:
            self._finish()
