"""Small fakes for in-process unit tests: loaders and servables that need no OpenVINO.

The front-end fakes (``unit/api/kserve/fakes.py``, ``unit/api/tfs/fakes.py``) build on
:func:`spec` and :class:`StaticLoader` from here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.errors import LoadError
from ovserve.tensors import KSERVE_TO_NUMPY, Dim, TensorSpec

FP32_1x4 = TensorSpec("x", np.dtype(np.float32), (Dim.any(), Dim.static(4)))


def spec(name: str, dtype: object, *dims: int) -> TensorSpec:
    """A tensor spec; ``dtype`` is a KServe datatype name ("FP32") or anything ``np.dtype`` takes;
    -1 in ``dims`` is a dynamic dimension."""
    numpy_dtype = (
        KSERVE_TO_NUMPY[dtype] if isinstance(dtype, str) and dtype in KSERVE_TO_NUMPY else np.dtype(dtype)
    )
    return TensorSpec(name, numpy_dtype, tuple(Dim.any() if d == -1 else Dim.static(d) for d in dims))


class StaticLoader:
    """Hands out a ready servable; or fails: ``error`` text as a :class:`LoadError`, an exception
    as itself (a loader bug, which the manager reports with the exception's type)."""

    def __init__(self, servable: Servable | None, error: str | Exception | None = None) -> None:
        self.servable = servable
        self.error = error

    def load(self) -> Servable:
        if isinstance(self.error, Exception):
            raise self.error
        if self.error is not None or self.servable is None:
            raise LoadError(self.error or "no servable")
        return self.servable


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
