"""A compiled OpenVINO model served through a bounded pool of infer requests.

Each call takes an idle infer request from the pool (waiting on the event loop when
all are busy), starts it asynchronously and awaits its completion callback, so the
event loop never waits on inference; OpenVINO runs it on its own threads with the
GIL released. Outputs are copied out before the request goes back to the pool.

Timing hook: when the composition root sets ``timing_observer``, each successful call
reports ``(wait_ns, infer_ns)``: how long it waited for a free infer request and how long
OpenVINO ran it (start to completion callback). Nothing is timed when it is None.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter_ns

import numpy as np
import openvino as ov

from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.errors import BackendError
from ovserve.tensors import BF16_DTYPE, BYTES_DTYPE, TensorSpec

log = logging.getLogger(__name__)

#: inputs larger than this always run on OpenVINO's threads, however fast the model was
INLINE_MAX_BYTES = 64 * 1024
#: how many inline runs the estimate looks back on
RECENT_INLINE_RUNS = 8


class _Slot:
    """One infer request and the future of the call now using it."""

    __slots__ = ("__weakref__", "done_ns", "future", "loop", "request")

    def __init__(self, request: ov.InferRequest) -> None:
        self.request = request
        self.future: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.done_ns = 0
        # OpenVINO keeps the callback and its user data on the C++ side, out of sight of
        # Python's garbage collector: a callback holding the slot would make slot -> request
        # -> callback -> slot a cycle that is never freed, and with it the compiled model
        # (its weights and stream threads) of every unloaded version. Hence a weak reference.
        request.set_callback(_on_done, weakref.ref(self))


def _on_done(slot_ref: weakref.ref[_Slot]) -> None:  # runs on an OpenVINO thread
    slot = slot_ref()
    if slot is None:
        return
    slot.done_ns = perf_counter_ns()
    future, loop = slot.future, slot.loop
    if future is not None and loop is not None:
        loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fill(request: ov.InferRequest, index: int, array: np.ndarray) -> None:
    """Copy ``array`` into the request's own input tensor ``index`` (resized to fit).

    Handing OpenVINO a tensor over the caller's memory (``set_input_tensor`` or
    ``share_inputs=True``) is avoided on purpose: for a model whose output is one of its
    inputs (Parameter -> Result) with a dynamic dimension, OpenVINO 2026.4 then returns
    stale outputs and touches freed memory when the shape changes between calls.
    """
    tensor = request.get_input_tensor(index)
    if _shape(tensor, array.dtype == BYTES_DTYPE) != array.shape:
        tensor.shape = list(array.shape)
    if array.dtype == BYTES_DTYPE:
        if array.size:  # OpenVINO 2026.4 refuses an empty list ("Unknown string kind")
            tensor.bytes_data = [bytes(item) for item in array.ravel()]
    elif array.dtype == BF16_DTYPE:  # OpenVINO shows bf16 data as float16: copy the bits
        if array.size:
            np.copyto(tensor.data.view(np.uint16), array.view(np.uint16), casting="no")
    elif array.size:
        np.copyto(tensor.data, array, casting="no")


def _shape(tensor: ov.Tensor, is_string: bool) -> tuple[int, ...]:
    """The tensor's shape as a tuple. Iterating an ``ov.Shape`` costs about 20 µs (the end of
    the iteration is a C++ exception); the numpy view's shape costs 0.5 µs."""
    if not is_string:
        return tuple(tensor.data.shape)
    shape = tensor.get_shape()
    return tuple(shape[i] for i in range(len(shape)))


def _from_ov(tensor: ov.Tensor, spec: TensorSpec) -> np.ndarray:
    if spec.is_string:
        shape = _shape(tensor, True)
        if 0 in shape:  # reading bytes_data of an empty string tensor kills the process (SIGFPE)
            return np.empty(shape, dtype=BYTES_DTYPE)
        data = tensor.bytes_data.ravel()  # items, not the rows of a string output of rank 2 or more
        out = np.empty(len(data), dtype=BYTES_DTYPE)
        out[:] = [bytes(item) for item in data]
        return out.reshape(shape)
    if spec.dtype == BF16_DTYPE:
        return np.array(tensor.data, copy=True).view(BF16_DTYPE)
    return np.array(tensor.data, copy=True)


class OpenVINOServable(Servable):
    """A compiled model; ``nireq`` requests run at once, further calls wait for a free one."""

    def __init__(
        self,
        servable_id: ServableId,
        compiled: ov.CompiledModel,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        nireq: int,
        passthrough: Mapping[int, int] | None = None,
        inline_us: int = 0,
    ) -> None:
        super().__init__(servable_id, inputs, outputs)
        self.compiled = compiled
        self.nireq = nireq
        self._input_order = [spec.name for spec in inputs]
        self._output_specs = list(outputs)
        #: run on the event loop thread when the recent inference time is below this (0: never)
        self._inline_ns = inline_us * 1000
        #: the shortest of the last few inline (synchronous) inference times, from the warm-up on
        self._estimate_ns = 0
        self._recent = [0] * RECENT_INLINE_RUNS
        self._calls = 0
        #: output index -> input name, for outputs that are one of the inputs unchanged
        self._passthrough = {o: self._input_order[i] for o, i in (passthrough or {}).items()}
        self._slots = [_Slot(compiled.create_infer_request()) for _ in range(nireq)]
        self._idle: asyncio.Queue[_Slot] | None = None
        #: called with (wait_ns, infer_ns) after each successful inference; set by the composition root
        self.timing_observer: Callable[[int, int], None] | None = None

    def _pool(self) -> asyncio.Queue[_Slot]:
        # Created lazily: the servable is built in a loader thread, used on the loop.
        if self._idle is None:
            self._idle = asyncio.Queue()
            for slot in self._slots:
                self._idle.put_nowait(slot)
        return self._idle

    @property
    def streams(self) -> int:
        try:
            return int(self.compiled.get_property("NUM_STREAMS"))
        except Exception:
            return 1

    @property
    def infer_requests_in_use(self) -> int:
        """Infer requests taken from the pool right now (0..nireq)."""
        idle = self._idle
        return len(self._slots) - idle.qsize() if idle is not None else 0

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        pool = self._pool()
        observer = self.timing_observer
        asked = perf_counter_ns()
        slot = await pool.get()
        started = perf_counter_ns()
        request = slot.request
        try:
            # Filling the request's tensors directly skips OpenVINO's Python input dispatcher
            # (about 50 µs a call for a tiny model).
            size = 0
            for index, name in enumerate(self._input_order):
                array = inputs[name]
                size += array.nbytes
                _fill(request, index, array)
            if self._runs_inline(size):
                request.infer()  # short enough to run here: cheaper than a thread hop
                slot.done_ns = perf_counter_ns()
                self._observe_inline(slot.done_ns - started)
            else:
                await self._run_async(slot, pool)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            pool.put_nowait(slot)
            log.exception("inference of %s failed", self.id)
            raise BackendError(f"Internal inference error: {exc}") from exc
        took = slot.done_ns - started
        if observer is not None:
            observer(started - asked, took)
        try:
            passthrough = self._passthrough
            return {
                spec.name: np.array(inputs[passthrough[i]], copy=True)
                if i in passthrough
                else _from_ov(request.get_output_tensor(i), spec)
                for i, spec in enumerate(self._output_specs)
            }
        except Exception as exc:
            log.exception("reading the outputs of %s failed", self.id)
            raise BackendError(f"Internal inference error: {exc}") from exc
        finally:
            pool.put_nowait(slot)

    def _runs_inline(self, size: int) -> bool:
        """Whether this call runs on the loop thread: a fast model and small inputs.

        The estimate is the *shortest* of the last few inline runs, and only inline runs
        feed it. A wall-clock time includes whatever the OS did meanwhile: OpenVINO's
        synchronous call may itself wait for one of its stream threads, and on a busy
        machine that wait, or a preemption, can take hundreds of microseconds. An average
        would push a short model off the fast path exactly when the CPU is scarce; the
        minimum tracks what the model costs. A model above the threshold is re-measured
        inline once every 64 calls (while it is within 4x of it), so a model that became
        faster comes back.
        """
        if not self._inline_ns or size > INLINE_MAX_BYTES:
            return False
        if self._estimate_ns < self._inline_ns:
            return True
        self._calls += 1
        return self._estimate_ns < 4 * self._inline_ns and self._calls % 64 == 0

    def _observe_inline(self, took_ns: int) -> None:
        recent = self._recent
        recent[self._calls % RECENT_INLINE_RUNS] = took_ns
        self._calls += 1
        self._estimate_ns = min(recent)

    @staticmethod
    async def _run_async(slot: _Slot, pool: asyncio.Queue[_Slot]) -> None:
        """Start the request on OpenVINO's threads and await its completion callback."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        slot.future, slot.loop = future, loop
        try:
            slot.request.start_async()
        except Exception:
            slot.future = None
            raise
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            # The caller went away; the request still runs. Give it back when it ends.
            future.add_done_callback(lambda _f: pool.put_nowait(slot))
            raise
        slot.future = None

    def warm_up(self) -> None:
        """Run every infer request twice on zeros of the smallest accepted shape (blocking).

        Done at load time, before the version is AVAILABLE: the first inference pays
        for lazy allocations; the second one's time seeds the estimate that decides
        whether calls run inline (on the event loop thread).
        """
        times = []
        for slot in self._slots:
            request = slot.request
            for index, spec in enumerate(self.inputs.values()):
                shape = tuple(max(dim.lo, 1) for dim in spec.dims)
                zeros = (
                    np.full(shape, b"", dtype=BYTES_DTYPE) if spec.is_string else np.zeros(shape, spec.dtype)
                )
                _fill(request, index, zeros)
            request.infer()
            for _ in range(3):  # the best of up to three: one run may be preempted by the OS
                started = perf_counter_ns()
                request.infer()
                times.append(perf_counter_ns() - started)
                if not self._inline_ns or times[-1] > 20 * self._inline_ns:
                    break  # clearly not an inline model: do not spend more load time on it
        self._estimate_ns = min(times, default=0)
        self._recent = [self._estimate_ns] * RECENT_INLINE_RUNS

    def close(self) -> None:
        self._slots.clear()
        self._idle = None
        del self.compiled
