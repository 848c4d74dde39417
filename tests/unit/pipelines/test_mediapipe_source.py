"""The graph source (which entries are graphs, fingerprints, errors) and the executor's concurrency:
concurrent requests share nothing, and cancelling a request cancels every node still running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path

import numpy as np
import pytest
from mediapipe_graphs import Models, context, python, write_scale_handler

from ovserve.config.graphs import GENERATIVE_CALCULATORS
from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream
from ovserve.core.servable import REQUEST_PARAMETERS
from ovserve.errors import Code, GraphExecutionFailed, GraphInputInvalid, LoadError, Unimplemented
from ovserve.genai import graph as genai_graph
from ovserve.pipelines.mediapipe.build import GraphDefinition, build_graph
from ovserve.pipelines.mediapipe.calculators import TensorNode
from ovserve.pipelines.mediapipe.executor import NODE_FAILED, QUEUED_PACKETS
from ovserve.pipelines.mediapipe.servable import GraphServable
from ovserve.pipelines.mediapipe.source import GraphSource
from ovserve.pipelines.mediapipe.streams import Stream, parse_stream
from ovserve.pipelines.python_handler import Handler
from ovserve.pipelines.python_node import PythonNode
from ovserve.tensors import RawInput, raw_input_array
from pyovms import Tensor

GRAPH = 'input_stream: "OVMS_PY_TENSOR:in"\noutput_stream: "OVMS_PY_TENSOR:out"\n' + python(
    "scale", "in", "out"
)


class Inner:
    """The wrapped source: records what it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]:
        names = [c.name for c in configs]
        self.asked += names
        return {name: AspiredStream(()) for name in names}


def no_python(handler: Handler) -> TensorNode:
    raise AssertionError("aspired() must not build nodes")


def source(inner: Inner) -> GraphSource:
    return GraphSource(inner, Models({}).acquire, no_python)


def graph_entry(tmp_path: Path, name: str, text: str | None) -> ModelConfig:
    (tmp_path / name).mkdir(exist_ok=True)
    if text is not None:
        (tmp_path / name / "graph.pbtxt").write_text(text)
    return ModelConfig(
        name=name, base_path=str(tmp_path / name), graph_path=str(tmp_path / name / "graph.pbtxt")
    )


def test_graphs_get_version_1_and_everything_else_goes_on(tmp_path: Path) -> None:
    inner = Inner()
    llm = graph_entry(tmp_path, "llm", 'node { calculator: "HttpLLMCalculator" }')
    model = ModelConfig(name="m", base_path=str(tmp_path / "m"))
    streams = source(inner).aspired([graph_entry(tmp_path, "g", GRAPH), llm, model])
    assert inner.asked == ["llm", "m"]  # generative graphs: ovserve.genai's
    (version,) = streams["g"].versions
    assert version.version == 1


@pytest.mark.parametrize("calculator", sorted(GENERATIVE_CALCULATORS))
def test_every_generative_calculator_goes_to_genai(tmp_path: Path, calculator: str) -> None:
    """config/graphs.py's one list: the graph source hands these graphs on, and genai reads them."""
    inner = Inner()
    streams = source(inner).aspired([graph_entry(tmp_path, "gen", f'node {{ calculator: "{calculator}" }}')])
    assert inner.asked == ["gen"] and streams["gen"].kind is None  # the inner (genai) source's stream
    assert genai_graph._TASKS[calculator][0] == GENERATIVE_CALCULATORS[calculator]


def test_a_changed_graph_file_is_a_new_version_fingerprint(tmp_path: Path) -> None:
    graphs = source(Inner())
    entry = graph_entry(tmp_path, "g", GRAPH)
    first = graphs.aspired([entry])["g"].versions[0].fingerprint
    assert graphs.aspired([entry])["g"].versions[0].fingerprint == first
    (tmp_path / "g" / "graph.pbtxt").write_text(GRAPH + "\n# changed\n")
    assert graphs.aspired([entry])["g"].versions[0].fingerprint != first


def test_a_missing_graph_file_is_the_stream_error(tmp_path: Path) -> None:
    stream = source(Inner()).aspired([graph_entry(tmp_path, "g", None)])["g"]
    assert not stream.versions and isinstance(stream.error, LoadError)
    assert "Failed to read protobuf graph configuration file" in stream.error.message


def test_the_loader_builds_the_graph_with_its_python_nodes(tmp_path: Path) -> None:
    entry = graph_entry(tmp_path, "g", GRAPH)
    write_scale_handler(tmp_path / "g")
    made: list[PythonNode] = []
    graphs = GraphSource(
        Inner(), Models({}).acquire, context(tmp_path / "g", Models({}), made).make_python_node
    )
    servable = graphs.aspired([entry])["g"].versions[0].loader.load()
    assert isinstance(servable, GraphServable) and servable.name == "g" and servable.version == 1
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(asyncio.run(servable.infer({"in": x}))["out"], x * 3)
    servable.close()
    assert made[0].finalized.wait(30)


@pytest.mark.parametrize(
    ("text", "stream"),
    [
        ("in", Stream("", 0, "in")),
        ("A:in", Stream("A", 0, "in")),
        ("LOOPBACK:1:loop", Stream("LOOPBACK", 1, "loop")),
    ],
)
def test_stream_names(text: str, stream: Stream) -> None:
    assert parse_stream(text) == stream


@pytest.mark.parametrize("text", ["", "A:", "A:x:name", "a:b:c:d"])
def test_bad_stream_names(text: str) -> None:
    with pytest.raises(ValueError, match="TAG:name"):
        parse_stream(text)


# --- the executor ----------------------------------------------------------------------------


class Gate:
    """A calculator that holds every call until released, and records cancellations."""

    def __init__(self) -> None:
        self.name = "gate"
        self.generative = False
        self.inputs = (Stream("", 0, "in"),)
        self.outputs = (Stream("", 0, "out"),)
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = 0

    async def process(self, packets: Mapping[str, np.ndarray]) -> AsyncIterator[dict[str, np.ndarray]]:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        yield {"out": packets["in"] + 1}

    def close(self) -> None:
        pass


def gated_graph(gate: Gate) -> GraphServable:
    graph = GraphDefinition(inputs={"in": gate.inputs[0]}, outputs={"out": gate.outputs[0]})
    graph.calculators = [gate]
    graph.consumers = {"in": [0]}
    return GraphServable("g", graph)


def test_cancelling_a_request_cancels_its_running_nodes() -> None:
    async def scenario() -> int:
        gate = Gate()
        g = gated_graph(gate)
        request = asyncio.create_task(g.infer({"in": np.zeros(2, dtype=np.float32)}))
        await gate.started.wait()
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        return gate.cancelled

    assert asyncio.run(scenario()) == 1


class Broken(Gate):
    """A calculator with a bug: it raises what no ServingError is."""

    async def process(self, packets: Mapping[str, np.ndarray]) -> AsyncIterator[dict[str, np.ndarray]]:
        raise KeyError("secret internal detail")
        yield {}  # a generator, as every calculator's process


def test_a_node_bug_answers_ovms_text_and_logs_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    g = gated_graph(Broken())
    with pytest.raises(GraphExecutionFailed) as err:
        asyncio.run(g.infer({"in": np.zeros(2, dtype=np.float32)}))
    assert err.value.code == Code.INTERNAL
    assert err.value.message == f"Mediapipe execution failed. MP status - node gate: {NODE_FAILED}"
    assert "secret internal detail" not in err.value.message  # the client does not read the cause
    failed = [r for r in caplog.records if r.getMessage() == "graph node gate failed"]
    assert (
        failed and failed[0].exc_info is not None and "secret internal detail" in str(failed[0].exc_info[1])
    )


def test_concurrent_requests_share_nothing(tmp_path: Path) -> None:
    write_scale_handler(tmp_path)
    made: list[PythonNode] = []
    g = GraphServable("g", build_graph(GRAPH, context(tmp_path, Models({}), made)))

    async def many() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(g.infer({"in": np.full(3, i, dtype=np.float32)}) for i in range(16)))

    for i, out in enumerate(asyncio.run(many())):
        np.testing.assert_array_equal(out["out"], np.full(3, i * 3, dtype=np.float32))
    g.close()
    assert made[0].finalized.wait(30)


def test_a_raw_python_input_is_checked_then_made_into_a_tensor_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check() refuses raw bytes that do not fit their shape without making a tensor; the Python
    node's calculator makes the one tensor the node gets."""
    write_scale_handler(tmp_path)
    made: list[PythonNode] = []
    g = GraphServable("g", build_graph(GRAPH, context(tmp_path, Models({}), made)))
    tensors: list[str] = []
    from_request = Tensor._from_request.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Tensor], name: str, *args: object) -> Tensor:
        tensors.append(name)
        return from_request(cls, name, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(Tensor, "_from_request", classmethod(counted))
    x = np.arange(4, dtype=np.float32)
    short = {"in": raw_input_array(RawInput(x.tobytes()[:-1], (4,), "FP32"))}
    with pytest.raises(GraphInputInvalid, match=r"^Invalid Python tensor buffer size - .*'in'.*16 bytes"):
        g.check(short)
    assert tensors == []
    raw = {"in": raw_input_array(RawInput(x.tobytes(), (4,), "FP32"))}
    g.check(raw)
    np.testing.assert_array_equal(asyncio.run(g.infer(raw))["out"], x * 3)
    assert tensors == ["in"]
    g.close()
    assert made[0].finalized.wait(30)


class Endless:
    """A generative calculator that yields for ever, counting its yields."""

    def __init__(self) -> None:
        self.name = "endless"
        self.generative = True
        self.inputs = (Stream("", 0, "in"),)
        self.outputs = (Stream("", 0, "out"),)
        self.yielded = 0

    async def process(self, packets: Mapping[str, np.ndarray]) -> AsyncIterator[dict[str, np.ndarray]]:
        while True:
            self.yielded += 1
            yield {"out": packets["in"] + self.yielded}

    def close(self) -> None:
        pass


def test_a_reader_that_does_not_read_holds_the_generator_back() -> None:
    async def scenario() -> tuple[int, list[float]]:
        node = Endless()
        graph = GraphDefinition(inputs={"in": node.inputs[0]}, outputs={"out": node.outputs[0]})
        graph.calculators = [node]
        graph.consumers = {"in": [0]}
        answers = GraphServable("g", graph).infer_stream({"in": np.zeros(1, dtype=np.float32)})
        first = [float((await anext(answers)).outputs["out"][0]) for _ in range(3)]
        for _ in range(500):  # the loop turns many times; the node may run only as far as the queue allows
            await asyncio.sleep(0)
        yielded = node.yielded
        await answers.aclose()
        return yielded, first

    yielded, first = asyncio.run(scenario())
    assert first == [1.0, 2.0, 3.0]
    assert yielded <= 3 + QUEUED_PACKETS + 2


# --- request parameters ------------------------------------------------------------------------


def echo_graph() -> GraphServable:
    gate = Gate()
    gate.release.set()
    return gated_graph(gate)


def stamps(parameters: Mapping[str, object]) -> list[int]:
    async def scenario() -> list[int]:
        REQUEST_PARAMETERS.set(parameters)
        answers = echo_graph().infer_stream({"in": np.zeros(1, dtype=np.float32)})
        return [int(a.parameters["OVMS_MP_TIMESTAMP"]) async for a in answers]

    return asyncio.run(scenario())


def test_a_request_timestamp_stamps_its_packets() -> None:
    assert stamps({"OVMS_MP_TIMESTAMP": 1234, "threshold": 0.5 > 1, "label": "x", "count": 3}) == [1234]


@pytest.mark.parametrize(
    ("parameters", "error", "message"),
    [
        ({"OVMS_MP_TIMESTAMP": "12"}, GraphInputInvalid, "Invalid timestamp format in request parameter"),
        ({"OVMS_MP_TIMESTAMP": True}, GraphInputInvalid, "Should be int64"),
        ({"OVMS_MP_TIMESTAMP": 2**63 - 1}, GraphInputInvalid, "Malformed packet timestamp"),
        ({"py": "x"}, GraphInputInvalid, "py is special reserved name"),
        ({"side": 0.5}, Unimplemented, "other types than: bool, string, int64"),
    ],
)
def test_bad_request_parameters(
    parameters: Mapping[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        stamps(parameters)
