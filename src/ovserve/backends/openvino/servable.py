"""A compiled OpenVINO model served through a bounded pool of infer requests.

Each call takes an idle infer request from the pool (waiting on the event loop when
all are busy), starts it asynchronously and awaits its end through a waiter thread, so
the event loop never waits on inference; OpenVINO runs it on its own threads with the
GIL released (very short models run inline instead, see ``_runs_inline``; the request path
calls :meth:`OpenVINOServable.infer_now` first, which runs such a call without a coroutine).
Outputs are copied out before the request goes back to the pool.

Failures: whatever OpenVINO raises (filling an input, starting, running, reading an
output) ends the call with :class:`~ovserve.errors.BackendError` (500, OVMS's "Internal
inference error", naming the model), and the infer request goes back to the pool on
every path, a caller that went away included. Input shapes that the model's own shape
inference refuses never reach OpenVINO's infer requests (:mod:`.shapes`): they are
answered 400 / INVALID_ARGUMENT.

Timing hook: when the composition root sets ``timing_observer``, each successful call
reports ``(wait_ns, infer_ns)``: how long it waited for a free infer request and how long
OpenVINO ran it (start to end). Nothing is timed when it is None.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter_ns

import numpy as np
import openvino as ov

from ovserve.backends.openvino import messages
from ovserve.backends.openvino.pool import SlotPool
from ovserve.backends.openvino.request_io import PLAIN_DTYPES, fill, from_ov, run_now
from ovserve.backends.openvino.shapes import ShapeCheck
from ovserve.backends.openvino.waiters import Slot, Waiters
from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.core.validation import validate_inputs
from ovserve.errors import BackendError
from ovserve.tensors import BYTES_DTYPE, TensorSpec
from ovserve.threads import started_pool

log = logging.getLogger(__name__)

#: inputs larger than this always run on OpenVINO's threads, however fast the model was
INLINE_MAX_BYTES = 64 * 1024
#: how many inline runs the estimate looks back on
RECENT_INLINE_RUNS = 8
#: the estimate before anything measured it
UNMEASURED = -1
#: at most this many threads of a servable wait for its running infer requests
MAX_WAITER_THREADS = 64


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
        shape_check: ShapeCheck | None = None,
        parallelism: int | None = None,
    ) -> None:
        super().__init__(servable_id, inputs, outputs)
        self.compiled = compiled
        self.nireq = nireq
        #: how many calls (batches) run at once: the configured nireq, or OpenVINO's optimal
        #: number when the pool is deeper than that by default (loader.DEFAULT_POOL_DEPTH)
        self._parallelism = min(parallelism or nireq, nireq)
        self._input_order = [spec.name for spec in inputs]
        self._output_specs = list(outputs)
        self._output_names = [spec.name for spec in outputs]
        #: (name, dtype, shape) of each input when every input's shape is static (else None)
        self._static_inputs = (
            [(spec.name, spec.dtype, tuple(dim.lo for dim in spec.dims)) for spec in inputs]
            if all(dim.is_static for spec in inputs for dim in spec.dims)
            else None
        )
        #: what inputs of those static shapes take, in bytes
        self._static_nbytes = sum(
            np.dtype(dtype).itemsize * math.prod(shape) for _, dtype, shape in self._static_inputs or ()
        )
        #: whether OpenVINO's own copies of the outputs are what the caller gets (numbers, not bf16,
        #: none passed through from an input): then the inline path reads them as they come
        self._plain_outputs = not passthrough and all(spec.dtype in PLAIN_DTYPES for spec in outputs)
        #: asks OpenVINO's shape inference about unseen shapes first (models with dynamic inputs)
        self._shape_check = shape_check
        #: run on the event loop thread when the recent inference time is below this (0: never)
        self._inline_ns = inline_us * 1000
        #: the shortest of the last few inline (synchronous) inference times; UNMEASURED until
        #: the warm-up or the first call measured one
        self._estimate_ns = UNMEASURED
        self._recent = [0] * RECENT_INLINE_RUNS
        self._calls = 0
        #: output index -> input name, for outputs that are one of the inputs unchanged
        self._passthrough = {o: self._input_order[i] for o, i in (passthrough or {}).items()}
        self._slots = [Slot(compiled.create_infer_request()) for _ in range(nireq)]
        if self._static_inputs is not None and all(spec.dtype in PLAIN_DTYPES for spec in inputs):
            for slot in self._slots:
                slot.views = _input_views(slot.request, self._static_inputs)
        self._pool = SlotPool(self._slots)
        # all started now, even for a model that runs inline: one that leaves the inline path
        # under load, hours into a run, must not add threads then (a soak sees them as a leak)
        self._waiters = Waiters(min(nireq, MAX_WAITER_THREADS), f"ov-wait-{servable_id.name}")
        #: called with (wait_ns, infer_ns) after each successful inference; set by the composition root
        self.timing_observer: Callable[[int, int], None] | None = None

    @property
    def streams(self) -> int:
        try:
            return int(self.compiled.get_property("NUM_STREAMS"))
        except Exception:
            return 1

    @property
    def parallelism(self) -> int:
        """How many calls (batches) it runs at once: ``nireq`` when configured, else OpenVINO's
        optimal number of infer requests (the pool is deeper, so that streams never wait)."""
        return self._parallelism

    @property
    def infer_requests_in_use(self) -> int:
        """Infer requests taken from the pool right now (0..nireq)."""
        return self._pool.in_use

    def infer_now(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """:meth:`infer` on this thread when the call would run inline anyway (a model measured
        under the inline threshold, small inputs, an idle infer request, a shape already checked):
        the same validation, run and timing report, without the coroutines. None otherwise."""
        pool = self._pool
        if not pool.idle or not 0 <= self._estimate_ns < self._inline_ns:
            return None
        # static: the inputs of a model of static shapes, each with its dtype and shape (what
        # validate_inputs accepts for such a model, found at a glance)
        specs = self._static_inputs
        static = False
        if specs is not None and len(inputs) == len(specs):
            static = True
            for name, dtype, shape in specs:
                array = inputs.get(name)
                if array is None or array.dtype != dtype or array.shape != shape:
                    static = False
                    break
        if static and self._shape_check is None:
            size = self._static_nbytes
        else:
            size = self._admitted_size(inputs, static)
            if size < 0:
                return None
        if size > INLINE_MAX_BYTES:
            return None
        idle = pool.idle  # not empty, so no call waits (pool.py): taken and given back in place
        asked = perf_counter_ns()
        slot = idle.pop()
        started = perf_counter_ns()
        try:
            outputs = self._run_inline(slot, inputs, static)
        except Exception as exc:
            raise self._failure(exc) from exc
        finally:
            idle.append(slot)
        took = slot.done_ns - started
        self._observe_inline(took)
        observer = self.timing_observer
        if observer is not None:
            observer(started - asked, took)
        return outputs

    def _admitted_size(self, inputs: Mapping[str, np.ndarray], static: bool) -> int:
        """The inputs' size in bytes once validated (unless ``static``: matched already) and, for a
        model with dynamic inputs, their shape checked; -1 for a shape never seen (:meth:`run`
        checks it off the loop). Raises the refusal :meth:`infer` would raise."""
        if not static:
            validate_inputs(self.id, self.inputs, inputs)  # refuses, or accepts a dynamic shape
        check = self._shape_check
        if check is not None:
            signature = tuple(inputs[name].shape for name in self._input_order)
            reason = check.verdict(signature)
            if reason is None:
                return -1
            if reason:
                raise check.error(signature, reason)
        size = 0
        for array in inputs.values():
            size += array.nbytes
        return size

    def _run_inline(
        self, slot: Slot, inputs: Mapping[str, np.ndarray], static: bool
    ) -> dict[str, np.ndarray]:
        """Fill (through the slot's input views when ``inputs`` have the model's static shapes),
        run on this thread, read the outputs; OpenVINO's errors raised as they come."""
        request = slot.request
        views = slot.views
        if static and views is not None:  # what fill() does for such inputs, without asking for the tensors
            for view, name in zip(views, self._input_order, strict=True):
                view[...] = inputs[name]  # np.copyto(casting="no") without its Python dispatcher: same dtype
        else:
            self._fill_all(request, inputs)
        if self._plain_outputs:  # the binding's own copies of the outputs, in the model's order
            copies = run_now(request, {}, False, False)
            slot.done_ns = perf_counter_ns()
            return dict(zip(self._output_names, copies.values(), strict=True))
        request.infer()  # strings or bf16 among the outputs: read from the tensors as the threaded path does
        slot.done_ns = perf_counter_ns()
        return self._read_outputs(request, inputs)

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        check = self._shape_check
        if check is not None:
            await self._admit(check, inputs)
        outputs, _ = await self._infer(inputs)
        return outputs

    async def _infer(
        self,
        inputs: Mapping[str, np.ndarray],
        before: Callable[[ov.InferRequest], None] | None = None,
        after: Callable[[ov.InferRequest], object] | None = None,
    ) -> tuple[dict[str, np.ndarray], object]:
        """Run ``inputs`` on a pooled infer request; returns the outputs and what ``after`` returned.

        ``before`` prepares the request once it is taken (a stateful step restores its state),
        ``after`` reads it once it ran (and saves the state): both on the loop thread, and a
        failure of either is the call's failure. Every path gives the request back to the pool.
        """
        pool = self._pool
        observer = self.timing_observer
        asked = perf_counter_ns()
        slot = await pool.get()
        started = perf_counter_ns()
        request = slot.request
        returned = False  # whether the slot has already been handed back (or will be, by a waiter)
        try:
            if before is not None:
                before(request)
            size = self._fill_all(request, inputs)
            if self._runs_inline(size):
                request.infer()  # short enough to run here: cheaper than a thread hop
                slot.done_ns = perf_counter_ns()
                self._observe_inline(slot.done_ns - started)
            else:
                done = self._start_async(slot)
                try:
                    await asyncio.shield(done)
                except asyncio.CancelledError:
                    # The caller went away; the request still runs. Give it back when it ends.
                    done.add_done_callback(lambda f: _give_back(f, slot, pool))
                    returned = True
                    raise
                if self._estimate_ns == UNMEASURED:
                    self._seed_estimate(slot.done_ns - started)
            outputs = self._read_outputs(request, inputs)
            extra = after(request) if after is not None else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc
        finally:
            if not returned:
                pool.put(slot)
        if observer is not None:
            observer(started - asked, slot.done_ns - started)
        return outputs, extra

    async def _admit(self, check: ShapeCheck, inputs: Mapping[str, np.ndarray]) -> None:
        """Refuse input shapes OpenVINO's shape inference refuses, before they reach a request."""
        signature = tuple(inputs[name].shape for name in self._input_order)
        reason = check.verdict(signature)
        if reason is None:  # never seen: a few milliseconds of shape inference, off the loop
            # on threads of its own: the default executor may be busy loading models for seconds
            loop = asyncio.get_running_loop()
            reason = await loop.run_in_executor(_shape_checkers(), check.check, signature)
        if reason:
            raise check.error(signature, reason)

    def _fill_all(self, request: ov.InferRequest, inputs: Mapping[str, np.ndarray]) -> int:
        """Fill every input tensor of ``request``; returns the inputs' size in bytes."""
        # Filling the request's tensors directly skips OpenVINO's Python input dispatcher
        # (about 50 µs a call for a tiny model).
        size = 0
        for index, name in enumerate(self._input_order):
            array = inputs[name]
            size += array.nbytes
            fill(request, index, array)
        return size

    def _read_outputs(
        self, request: ov.InferRequest, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        passthrough = self._passthrough
        return {
            spec.name: np.array(inputs[passthrough[i]], copy=True)
            if i in passthrough
            else from_ov(request.get_output_tensor(i), spec)
            for i, spec in enumerate(self._output_specs)
        }

    def _failure(self, exc: Exception) -> BackendError:
        """What the caller gets when OpenVINO raised: OVMS's text, the model, OpenVINO's reason."""
        reason = messages.reason(exc)
        log.error("inference of %s failed: %s", self.id, reason, exc_info=exc)
        return BackendError(f"Internal inference error - model {self.name} version {self.version}: {reason}")

    def _runs_inline(self, size: int) -> bool:
        """Whether this call runs on the loop thread: a fast model and small inputs.

        The estimate is the *shortest* of the last few inline runs, and only inline runs
        feed it (or, before any inline run, the first threaded one). A wall-clock time
        includes whatever the OS did meanwhile: OpenVINO's
        synchronous call may itself wait for one of its stream threads, and on a busy
        machine that wait, or a preemption, can take hundreds of microseconds. An average
        would push a short model off the fast path exactly when the CPU is scarce; the
        minimum tracks what the model costs. A model above the threshold is re-measured
        inline once every 64 calls (while it is within 4x of it), so a model that became
        faster comes back.
        """
        if not self._inline_ns or size > INLINE_MAX_BYTES or self._estimate_ns == UNMEASURED:
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

    def _seed_estimate(self, took_ns: int) -> None:
        self._estimate_ns = took_ns
        self._recent = [took_ns] * RECENT_INLINE_RUNS

    def _start_async(self, slot: Slot) -> asyncio.Future[None]:
        """Start the request on OpenVINO's threads; the future ends when the request does.

        The end is awaited through :meth:`ov.InferRequest.wait` on a waiter thread
        (:mod:`.waiters`), not through a completion callback: OpenVINO does not call the
        Python callback of a request that failed (only ``wait()`` raises its error), so a
        callback would leave the caller waiting for ever and the request out of the pool.
        """
        slot.request.start_async()
        return self._waiters.watch(slot)

    def warm_up(self) -> bool:
        """Run the first ``parallelism`` infer requests on zeros, if every input's shape is static (blocking).

        Done at load time, before the version is AVAILABLE: the first inference pays
        for lazy allocations; the later ones' time seeds the estimate that decides
        whether calls run inline (on the event loop thread). A model with a dynamic
        dimension is not warmed up: no size is known to be one it takes (a detector may
        need multiples of 32, a pooling layer refuses a batch of zero), and its first
        calls measure it instead. Returns whether it ran.
        """
        static = self._static_inputs
        if static is None:
            return False
        zeros = {
            name: np.full(shape, b"", dtype=BYTES_DTYPE) if dtype == BYTES_DTYPE else np.zeros(shape, dtype)
            for name, dtype, shape in static
        }
        times = []
        # the slots beyond the model's parallelism only queue behind a stream's current run:
        # the streams are warm once that many requests ran
        for slot in self._slots[: self._parallelism]:
            request = slot.request
            self._fill_all(request, zeros)
            request.infer()
            for _ in range(3):  # the best of up to three: one run may be preempted by the OS
                started = perf_counter_ns()
                request.infer()
                times.append(perf_counter_ns() - started)
                if not self._inline_ns or times[-1] > 20 * self._inline_ns:
                    break  # clearly not an inline model: do not spend more load time on it
        self._seed_estimate(min(times, default=0))
        return True

    def close(self) -> None:
        self._slots.clear()
        self._pool = SlotPool([])
        self._waiters.close()
        del self.compiled


_SHAPE_CHECKERS: list[ThreadPoolExecutor] = []


def _shape_checkers() -> ThreadPoolExecutor:
    """The process's threads for shape checks (two: each check holds its model's lock anyway)."""
    if not _SHAPE_CHECKERS:
        _SHAPE_CHECKERS.append(started_pool(2, "ov-shape-check"))
    return _SHAPE_CHECKERS[0]


def _input_views(
    request: ov.InferRequest, static: Sequence[tuple[str, np.dtype, tuple[int, ...]]]
) -> list[np.ndarray] | None:
    """numpy views of ``request``'s own input tensors, for inputs of static shapes and numeric
    dtypes: the tensors keep their memory for the request's life (:func:`fill` never resizes them
    for such inputs), so the inline path copies into these instead of asking for each tensor on
    every call (~1 µs a tensor). None when a view's shape or dtype is not the input's."""
    views = [request.get_input_tensor(index).data for index in range(len(static))]
    for view, (_, dtype, shape) in zip(views, static, strict=True):
        if view.shape != shape or view.dtype != dtype:
            return None
    return views


def _give_back(done: asyncio.Future[None], slot: Slot, pool: SlotPool) -> None:
    """A request whose caller left ended: back to the pool (its error, if any, is dropped)."""
    if not done.cancelled():
        done.exception()
    pool.put(slot)
