"""The calculators of OVMS's classic-model and Python graphs, as ovserve runs them.

Every packet between calculators is a numpy array: OVMS's ``ov::Tensor`` and its
``pyovms.Tensor`` carry the same data; a Python node's inputs become ``pyovms.Tensor``
as OVMS makes them from a request (:mod:`ovserve.pipelines.pytensors`). A request's raw
bytes for a Python tensor input, and a Python node's BYTES or custom-datatype output, stay
bytes with their shape and datatype (``tensors.RawInput`` in a 0-d array), as OVMS passes
them on: :func:`packet_tensor` and :func:`packet_array` make what a node takes. So a
``PyTensorOvTensorConverterCalculator`` only converts and checks what an OpenVINO tensor
cannot hold.

A calculator's :meth:`process` takes one set of input packets keyed by stream name and
yields sets of output packets keyed by stream name: once, or (a generative Python node)
once per ``yield`` of the user's code.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, aclosing
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ovserve.core.servable import Servable
from ovserve.errors import BackendError, InvalidInput, PythonNodeFailed
from ovserve.pipelines.mediapipe.streams import Stream
from ovserve.pipelines.pytensors import array_from_tensor, tensor_from_array, tensor_from_raw
from ovserve.pipelines.python_handler import Handler
from ovserve.tensors import BYTES_DTYPE, KSERVE_TO_NUMPY, RawInput, raw_input_array, raw_input_of
from pyovms import Tensor


def packet_tensor(name: str, packet: np.ndarray) -> Tensor:
    """A packet as the ``pyovms.Tensor`` a Python node gets: a request's raw bytes as sent (OVMS), any
    other array as OVMS converts a request tensor."""
    raw = raw_input_of(packet)
    if raw is not None:
        return tensor_from_raw(name, raw.data, raw.shape, raw.datatype)
    return tensor_from_array(name, packet)


def packet_array(name: str, packet: np.ndarray) -> np.ndarray:
    """A packet as an array (an OpenVINO tensor, a response's output): raw bytes become the array
    their datatype and shape make; ValueError naming the stream when they cannot."""
    raw = raw_input_of(packet)
    return packet if raw is None else array_from_tensor(packet_tensor(name, packet))


def _output_packet(tensor: Tensor) -> np.ndarray:
    """A Python node's output as a packet: an array for KServe's numeric datatypes and strings (what
    a model takes); otherwise (BYTES, a custom datatype) the buffer as is, with the tensor's shape and
    datatype (``tensors.RawInput``), as OVMS passes it on and serialises it."""
    view = np.asarray(tensor)
    if (tensor.datatype != "BYTES" and tensor.datatype in KSERVE_TO_NUMPY) or view.dtype.kind in "USO":
        return array_from_tensor(tensor)
    return raw_input_array(RawInput(view.tobytes(), tuple(tensor.shape), tensor.datatype))


#: ``ServableManager.acquire``: pin ``name`` at ``version`` (None: newest) for a ``with`` block.
Acquire = Callable[[str, int | None], AbstractContextManager[Servable]]


class TensorNode(Protocol):
    """A Python node at the ``pyovms.Tensor`` level (``PythonNode``): a graph node may give only some
    of its outputs (OVMS), so it is not driven through the numpy :class:`Node` contract."""

    async def execute(self, inputs: Sequence[Tensor]) -> list[Tensor]: ...

    def execute_stream(self, inputs: Sequence[Tensor]) -> AsyncGenerator[list[Tensor], None]: ...

    def close(self) -> None: ...


#: Builds the Python node of a handler (the serving side's factory over ``PythonNode``); may block
#: (``initialize``). The handler's ``input_names`` / ``output_names`` are every stream as configured
#: (``LOOPBACK`` too): OVMS's ``initialize`` kwargs (``execute`` gets its inputs sorted by tag).
PythonNodeFactory = Callable[[Handler], TensorNode]


class Calculator(Protocol):
    """One node of a graph, built once per graph load and shared by its requests."""

    name: str
    inputs: tuple[Stream, ...]
    outputs: tuple[Stream, ...]
    #: whether one call may give several sets of outputs (a generative Python node)
    generative: bool

    def process(self, packets: Mapping[str, np.ndarray]) -> AsyncGenerator[dict[str, np.ndarray], None]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Session:
    """What an ``OpenVINOModelServerSessionCalculator`` names: a served model and maybe its version."""

    servable_name: str
    servable_version: int | None


class InferenceCalculator:
    """``OpenVINOInferenceCalculator``: run the session's model; stream tags map to tensor names."""

    generative = False

    def __init__(
        self,
        name: str,
        streams: tuple[tuple[Stream, ...], tuple[Stream, ...]],
        session: Session,
        tensor_names: tuple[Mapping[str, str], Mapping[str, str]],
        acquire: Acquire,
    ) -> None:
        self.name = name
        self.inputs, self.outputs = streams
        self.session = session
        to_input, to_output = tensor_names
        self._input_tensor = {s.name: to_input.get(s.tag, s.tag) for s in self.inputs}
        self._output_tensor = {s.name: to_output.get(s.tag, s.tag) for s in self.outputs}
        self._acquire = acquire

    async def process(self, packets: Mapping[str, np.ndarray]) -> AsyncGenerator[dict[str, np.ndarray], None]:
        inputs = {
            self._input_tensor[stream]: packet_array(stream, array) for stream, array in packets.items()
        }
        model = self.session.servable_name
        with self._acquire(model, self.session.servable_version) as servable:
            outputs = await servable.infer(inputs)
        result: dict[str, np.ndarray] = {}
        for stream, tensor in self._output_tensor.items():
            if tensor not in outputs:
                raise BackendError(
                    f"Could not find: {tensor} in inference output of model {model} "
                    f"(outputs: {', '.join(outputs)})"
                )
            result[stream] = outputs[tensor]
        yield result

    def close(self) -> None:
        """Nothing to free: the model is pinned per request."""


class PythonCalculator:
    """``PythonExecutorCalculator``: a Python node; generative (``LOOPBACK``) nodes yield many times.

    Inputs reach ``execute`` sorted by their stream tags (OVMS); outputs go to the streams
    named as the returned tensors; a node may give only some of its outputs (OVMS)."""

    def __init__(
        self,
        name: str,
        streams: tuple[tuple[Stream, ...], tuple[Stream, ...]],
        node: TensorNode,
        generative: bool,
    ) -> None:
        self.name = name
        self.inputs, self.outputs = streams
        self.node = node
        self.generative = generative
        self._ordered = tuple(s.name for s in sorted(self.inputs, key=lambda s: (s.tag, s.index)))
        self._wanted = frozenset(s.name for s in self.outputs)

    async def process(self, packets: Mapping[str, np.ndarray]) -> AsyncGenerator[dict[str, np.ndarray], None]:
        tensors = [packet_tensor(name, packets[name]) for name in self._ordered]
        if self.generative:
            async with aclosing(self.node.execute_stream(tensors)) as steps:  # left early: closed now
                async for outputs in steps:
                    yield self._arrays(outputs)
        else:
            yield self._arrays(await self.node.execute(tensors))

    def _arrays(self, outputs: list[Tensor]) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for tensor in outputs:
            if tensor.name not in self._wanted:
                raise PythonNodeFailed(
                    f"Python node {self.name!r}: output {tensor.name!r} is not an output stream of the node "
                    f"(streams: {', '.join(sorted(self._wanted))})"
                )
            try:
                arrays[tensor.name] = _output_packet(tensor)
            except ValueError as exc:
                raise PythonNodeFailed(f"Python node {self.name!r}: {exc}") from None
        return arrays

    def close(self) -> None:
        self.node.close()


class ConverterCalculator:
    """``PyTensorOvTensorConverterCalculator``: a ``pyovms`` tensor to an OpenVINO one or back."""

    generative = False

    def __init__(self, name: str, streams: tuple[tuple[Stream, ...], tuple[Stream, ...]]) -> None:
        self.name = name
        self.inputs, self.outputs = streams
        self._to_ov_tensor = self.outputs[0].tag.startswith("OVTENSOR")

    async def process(self, packets: Mapping[str, np.ndarray]) -> AsyncGenerator[dict[str, np.ndarray], None]:
        array = packet_array(self.inputs[0].name, packets[self.inputs[0].name])
        if self._to_ov_tensor and array.dtype == BYTES_DTYPE:
            raise InvalidInput(
                f"a BYTES tensor cannot become an OpenVINO tensor (stream {self.inputs[0].name})"
            )
        yield {self.outputs[0].name: array}

    def close(self) -> None:
        """Nothing to free."""
