"""Small fakes for in-process unit tests: loaders and servables that need no OpenVINO."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.errors import LoadError
from ovserve.tensors import Dim, TensorSpec

FP32_1x4 = TensorSpec("x", np.dtype(np.float32), (Dim.any(), Dim.static(4)))


class EchoServable(Servable):
    """Returns each input under the output name ``y`` (or its own name), plus its version."""

    def __init__(
        self, sid: ServableId, inputs: Sequence[TensorSpec] = (FP32_1x4,), delay: float = 0.0
    ) -> None:
        outputs = [TensorSpec("y", s.dtype, s.dims) for s in inputs[:1]] + list(inputs[1:])
        super().__init__(sid, inputs, outputs)
        self.delay = delay
        self.closed = False

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.delay:
            await asyncio.sleep(self.delay)
        names = list(self.outputs)
        return {names[0]: next(iter(inputs.values()))} | {n: inputs[n] for n in names[1:]}

    def close(self) -> None:
        self.closed = True


class FakeLoader:
    """Loads an :class:`EchoServable`, or fails with ``error``; counts loads; can block until released."""

    def __init__(
        self, sid: ServableId, error: str | None = None, gate: threading.Event | None = None
    ) -> None:
        self.sid = sid
        self.error = error
        self.gate = gate
        self.loads = 0
        self.servables: list[EchoServable] = []

    def load(self) -> Servable:
        self.loads += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.error:
            raise LoadError(self.error)
        servable = EchoServable(self.sid)
        self.servables.append(servable)
        return servable
