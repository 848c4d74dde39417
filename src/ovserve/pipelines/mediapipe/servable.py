"""A MediaPipe graph served as one servable (version 1, as OVMS: graphs are not versioned).

Metadata lists the graph's input and output stream names only, with datatype ``INVALID``
and an empty shape, as OVMS answers for graphs. A request must give every input stream,
by name, and nothing else; BYTES tensors only to ``OVMS_PY_TENSOR`` streams (OVMS's rule).

:meth:`GraphServable.infer` answers once: the first packet of every output stream.
:meth:`GraphServable.infer_stream` yields every output packet as it comes (gRPC
``ModelStreamInfer``), which is how a generative Python node answers several times.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter_ns

import numpy as np

from ovserve.core.ids import ServableId
from ovserve.core.servable import REQUEST_PARAMETERS, InferAnswer, Servable
from ovserve.errors import GraphExecutionFailed, GraphInputInvalid, InternalError, Unimplemented
from ovserve.metrics.graphs import GRAPH_CALL, GraphMetrics
from ovserve.pipelines.mediapipe.build import GraphDefinition
from ovserve.pipelines.mediapipe.executor import run_graph
from ovserve.pipelines.mediapipe.streams import PacketType, Stream
from ovserve.pipelines.pytensors import check_raw
from ovserve.tensors import BYTES_DTYPE, TensorSpec, raw_input_of

GRAPH_VERSION = 1
#: the response parameter carrying a packet's timestamp (OVMS's name)
TIMESTAMP_PARAMETER = "OVMS_MP_TIMESTAMP"
_KSERVE_ONLY = frozenset({"KServe"})
#: the side packet OVMS gives Python nodes: a request may not name it
PYTHON_SIDE_PACKET = "py"
#: MediaPipe's packet timestamps: int64 but its few special values at both ends
_TIMESTAMP_MIN = -(2**63) + 2
_TIMESTAMP_MAX = 2**63 - 3


@dataclass(frozen=True, slots=True)
class StreamSpec(TensorSpec):
    """A graph stream as metadata shows it: a name, no shape, datatype ``INVALID`` (OVMS)."""

    @property
    def datatype(self) -> str:
        return "INVALID"


def request_timestamp() -> int:
    """The timestamp of the request's packets: its ``OVMS_MP_TIMESTAMP`` parameter, else the time in
    microseconds, as OVMS stamps packets. The other parameters are OVMS's input side packets: no
    calculator ovserve runs takes one, but their types are checked as OVMS checks them."""
    parameters = REQUEST_PARAMETERS.get()
    for name, value in parameters.items():
        if name == TIMESTAMP_PARAMETER:
            continue
        if name == PYTHON_SIDE_PACKET:
            raise GraphInputInvalid(
                f"Incoming input side packet: {PYTHON_SIDE_PACKET} is special reserved name and cannot be used"
            )
        if not isinstance(value, (str, int, bool)):
            raise Unimplemented(
                "Handling parameters of other types than: bool, string, int64 is not supported"
            )
    stamp = parameters.get(TIMESTAMP_PARAMETER)
    if stamp is None:
        return time.time_ns() // 1000
    if not isinstance(stamp, int) or isinstance(stamp, bool):
        raise GraphInputInvalid(
            f"Invalid timestamp format in request parameter {TIMESTAMP_PARAMETER}. Should be int64"
        )
    if not _TIMESTAMP_MIN < stamp < _TIMESTAMP_MAX:
        raise GraphInputInvalid(f"Malformed packet timestamp - {stamp} is out of MediaPipe's range")
    return stamp


def _spec(stream: Stream) -> TensorSpec:
    return StreamSpec(stream.name, np.dtype("V1"), ())


class GraphServable(Servable):
    """The graph's calculators, built once at load and shared by its requests."""

    apis = _KSERVE_ONLY

    def __init__(self, name: str, graph: GraphDefinition, metrics: GraphMetrics | None = None) -> None:
        super().__init__(
            ServableId(name, GRAPH_VERSION),
            [_spec(s) for s in graph.inputs.values()],
            [_spec(s) for s in graph.outputs.values()],
        )
        self.graph = graph
        self.metrics = metrics
        self.raw_inputs = frozenset(
            name for name, stream in graph.inputs.items() if stream.packet_type == PacketType.PY_TENSOR
        )

    @property
    def streams_answers(self) -> bool:
        return True  # on a gRPC stream every output packet is a response of its own (OVMS)

    @property
    def decoupled(self) -> bool:
        """A packet per output stream and timestamp: more than one answer when a Python node is
        generative or the graph has several output streams."""
        return self.graph.streaming or len(self.graph.outputs) > 1

    def check(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Every input stream given, nothing else; strings only to Python tensor streams."""
        unexpected = [name for name in inputs if name not in self.graph.inputs]
        if unexpected:
            raise GraphInputInvalid(
                f"Unexpected input - {', '.join(unexpected)} is unexpected (graph {self.name} takes "
                f"{', '.join(self.graph.inputs)})"
            )
        missing = [name for name in self.graph.inputs if name not in inputs]
        if missing:
            raise GraphInputInvalid(
                f"Invalid number of inputs - Expected: {len(self.graph.inputs)}; Actual: {len(inputs)}; "
                f"missing: {', '.join(missing)}"
            )
        for name, array in inputs.items():
            raw = raw_input_of(array)
            if raw is not None:
                try:  # raw bytes that do not fit their shape: refused now, as OVMS (the node makes the tensor)
                    check_raw(name, raw.data, raw.shape, raw.datatype)
                except ValueError as exc:
                    raise GraphInputInvalid(f"Invalid Python tensor buffer size - {exc}") from None
            elif array.dtype == BYTES_DTYPE and name not in self.raw_inputs:
                raise GraphInputInvalid(
                    f"Invalid input precision - BYTES inputs are taken only by OVMS_PY_TENSOR streams; input name: {name}"
                )

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._counted(inputs, GRAPH_CALL.get(), stream=False) as timestamp:
            outputs = await self._first_packets(inputs, timestamp)
        if self.metrics is not None:
            self.metrics.responses[GRAPH_CALL.get()] += 1
        return outputs

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return await self._first_packets(inputs, request_timestamp())

    async def _first_packets(self, inputs: Mapping[str, np.ndarray], timestamp: int) -> dict[str, np.ndarray]:
        """The first packet of every output stream (OVMS's unary answer)."""
        outputs: dict[str, np.ndarray] = {}
        packets = run_graph(self.graph, inputs, timestamp)
        try:
            async for packet in packets:
                outputs.setdefault(packet.stream, packet.data)
                if len(outputs) == len(self.graph.outputs):
                    return {name: outputs[name] for name in self.graph.outputs}
        finally:
            await packets.aclose()
        missing = [name for name in self.graph.outputs if name not in outputs]
        raise GraphExecutionFailed(
            "(graph)", InternalError(f"the graph ended with no packet on output stream {', '.join(missing)}")
        )

    async def infer_stream(self, inputs: Mapping[str, np.ndarray]) -> AsyncGenerator[InferAnswer, None]:
        """Every output packet as the graph gives it, with its timestamp (``OVMS_MP_TIMESTAMP``)."""
        call = GRAPH_CALL.get()
        start = perf_counter_ns()
        with self._counted(inputs, call, stream=True) as timestamp:
            packets = run_graph(self.graph, inputs, timestamp)
            try:
                async for packet in packets:
                    if self.metrics is not None:
                        self.metrics.responses[call] += 1
                        self.metrics.latency.observe((perf_counter_ns() - start) // 1000)
                    yield InferAnswer({packet.stream: packet.data}, {TIMESTAMP_PARAMETER: packet.timestamp})
            finally:
                await packets.aclose()

    @contextmanager
    def _counted(self, inputs: Mapping[str, np.ndarray], call: int, stream: bool) -> Iterator[int]:
        """Check the request (its inputs, its parameters) and count it as OVMS counts graph requests
        (``metrics/graphs.py``); gives the timestamp of its packets."""
        series = self.metrics
        try:
            self.check(inputs)
            timestamp = request_timestamp()
        except (GraphInputInvalid, Unimplemented):
            if series is not None:
                series.rejected[call] += 1
            raise
        if series is None:
            yield timestamp
            return
        series.accepted[call] += 1
        series.current += 1
        start = perf_counter_ns()
        try:
            yield timestamp
        except GraphExecutionFailed:
            series.errors[call] += 1
            raise
        finally:
            series.current -= 1
            series.processing[1 if stream else 0].observe((perf_counter_ns() - start) // 1000)

    def close(self) -> None:
        self.graph.close()
