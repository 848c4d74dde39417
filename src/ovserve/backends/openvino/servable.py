"""A compiled OpenVINO model served through a bounded pool of infer requests.

Each call takes an idle infer request from the pool (waiting on the event loop when
all are busy), starts it asynchronously and awaits its completion callback, so the
event loop never waits on inference; OpenVINO runs it on its own threads with the
GIL released. Outputs are copied out before the request goes back to the pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import openvino as ov

from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.errors import BackendError
from ovserve.tensors import BYTES_DTYPE, TensorSpec

log = logging.getLogger(__name__)


class _Slot:
    """One infer request and the future of the call now using it."""

    __slots__ = ("future", "loop", "request")

    def __init__(self, request: ov.InferRequest) -> None:
        self.request = request
        self.future: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        request.set_callback(self._on_done, None)

    def _on_done(self, _userdata: object) -> None:  # runs on an OpenVINO thread
        future, loop = self.future, self.loop
        if future is not None and loop is not None:
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _to_ov(array: np.ndarray) -> np.ndarray | ov.Tensor:
    if array.dtype == BYTES_DTYPE:
        tensor = ov.Tensor(ov.Type.string, ov.Shape(list(array.shape)))
        tensor.bytes_data = [bytes(item) for item in array.ravel()]
        return tensor
    return np.ascontiguousarray(array)


def _from_ov(tensor: ov.Tensor, spec: TensorSpec) -> np.ndarray:
    if spec.is_string:
        data = tensor.bytes_data
        out = np.empty(len(data), dtype=BYTES_DTYPE)
        out[:] = [bytes(item) for item in data]
        return out.reshape(tuple(tensor.get_shape()))
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
    ) -> None:
        super().__init__(servable_id, inputs, outputs)
        self.compiled = compiled
        self.nireq = nireq
        self._input_order = [spec.name for spec in inputs]
        self._output_specs = list(outputs)
        self._slots = [_Slot(compiled.create_infer_request()) for _ in range(nireq)]
        self._idle: asyncio.Queue[_Slot] | None = None

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

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        pool = self._pool()
        slot = await pool.get()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        slot.future, slot.loop = future, loop
        try:
            slot.request.start_async([_to_ov(inputs[name]) for name in self._input_order], share_inputs=True)
        except Exception as exc:
            slot.future = None
            pool.put_nowait(slot)
            log.exception("inference of %s failed to start", self.id)
            raise BackendError(f"Internal inference error: {exc}") from exc
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            # The caller went away; the request still runs. Give it back when it ends.
            future.add_done_callback(lambda _f: pool.put_nowait(slot))
            raise
        try:
            request = slot.request
            return {
                spec.name: _from_ov(request.get_output_tensor(i), spec)
                for i, spec in enumerate(self._output_specs)
            }
        except Exception as exc:
            log.exception("reading the outputs of %s failed", self.id)
            raise BackendError(f"Internal inference error: {exc}") from exc
        finally:
            slot.future = None
            pool.put_nowait(slot)

    def close(self) -> None:
        self._slots.clear()
        self._idle = None
        del self.compiled
