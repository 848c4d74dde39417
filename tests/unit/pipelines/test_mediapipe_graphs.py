"""MediaPipe graphs in-process: building and checking graph.pbtxt, running it on real OpenVINO models
and real Python nodes (``PythonNode`` over handler files written for OVMS).

Results are compared with the same models run in-process (``models.reference``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import models
import numpy as np
import pytest
from mediapipe_graphs import Models, context, inference, python, session, write_scale_handler

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.config.types import ModelConfig
from ovserve.core.servable import InferAnswer, Servable
from ovserve.errors import Code, GraphExecutionFailed, GraphInputInvalid, LoadError, PythonNodeLoadFailed
from ovserve.pipelines.mediapipe.build import build_graph
from ovserve.pipelines.mediapipe.servable import GraphServable
from ovserve.pipelines.python_node import PythonNode

WAIT = 30.0  # seconds a test waits for a node's finalize (never reached unless something is broken)


@pytest.fixture(scope="module")
def add_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Servable]:
    base = models.save(models.add_scaled(), tmp_path_factory.mktemp("m") / "add")
    engine = OpenVINOEngine(inline_inference_us=0)
    config = ModelConfig(name="add", base_path=str(base), plugin_config=models.F32)
    return models.model_file(base), engine.loader(config, 1, base / "1").load()


@pytest.fixture
def nodes() -> Iterator[list[PythonNode]]:
    """The Python nodes a test's graphs made; each is closed (and finalized) after the test."""
    made: list[PythonNode] = []
    yield made
    for node in made:
        node.close()
        assert node.finalized.wait(WAIT)


def graph(text: str, tmp_path: Path, nodes: list[PythonNode], model: Servable | None = None) -> GraphServable:
    registry = Models({"add": model} if model is not None else {})
    return GraphServable("g", build_graph(text, context(tmp_path, registry, nodes)))


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def collect(answers: AsyncIterator[InferAnswer]) -> list[InferAnswer]:
    return [answer async for answer in answers]


X = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)


# --- running ---------------------------------------------------------------------------------


def test_two_inference_nodes_in_a_chain_match_the_models_in_process(
    tmp_path: Path, add_model: tuple[Path, Servable]
) -> None:
    text = (
        'input_stream: "OVTENSOR:in"\noutput_stream: "OVTENSOR:out"\n'
        + session("s", "add", "1")
        + inference("first", "s", "in", "mid", "x", "y")
        + inference("second", "s", "mid", "out", "x", "y")
    )
    g = graph(text, tmp_path, [], add_model[1])
    out = run(g.infer({"in": X}))
    once = models.reference(add_model[0], {"x": X})["y"]
    expected = models.reference(add_model[0], {"x": once})["y"]
    np.testing.assert_allclose(out["out"], expected, rtol=1e-6)  # type: ignore[index]
    assert [s.name for s in g.inputs.values()] == ["in"] and g.inputs["in"].datatype == "INVALID"
    assert g.outputs["out"].shape == ()


def test_python_node_then_inference(
    tmp_path: Path, add_model: tuple[Path, Servable], nodes: list[PythonNode]
) -> None:
    write_scale_handler(tmp_path)
    text = (
        'input_stream: "OVMS_PY_TENSOR:in"\noutput_stream: "OVTENSOR:out"\n'
        + python("scale", "in", "scaled")
        + """
node { name: "conv" calculator: "PyTensorOvTensorConverterCalculator"
       input_stream: "OVMS_PY_TENSOR:scaled" output_stream: "OVTENSOR:tensor" }
"""
        + session("s", "add")
        + inference("infer", "s", "tensor", "out", "x", "y")
    )
    registry = Models({"add": add_model[1]})
    g = GraphServable("g", build_graph(text, context(tmp_path, registry, nodes)))
    out = run(g.infer({"in": X}))
    np.testing.assert_allclose(out["out"], models.reference(add_model[0], {"x": X * 3})["y"], rtol=1e-6)  # type: ignore[index]
    (node,) = nodes
    assert node.name == "scale" and list(node.inputs) == ["in"]
    assert node.handler_path == tmp_path / "node.py"  # relative to the graph's base path
    assert node.model.kwargs["node_name"] == "scale"  # type: ignore[attr-defined]
    assert registry.acquired == [("add", None)]  # pinned per request, newest version
    g.close()
    assert node.finalized.wait(WAIT)


def test_a_generative_python_node_streams_every_yield_through_the_graph(
    tmp_path: Path, add_model: tuple[Path, Servable], nodes: list[PythonNode]
) -> None:
    write_scale_handler(tmp_path, count=4)
    text = (
        'input_stream: "OVMS_PY_TENSOR:in"\noutput_stream: "OVTENSOR:out"\n'
        + python("gen", "in", "scaled", loopback=True)
        + session("s", "add")
        + inference("infer", "s", "scaled", "out", "x", "y")
    )
    g = graph(text, tmp_path, nodes, add_model[1])
    assert g.streams_answers and g.graph.streaming
    kwargs = nodes[0].model.kwargs  # type: ignore[attr-defined]
    assert (kwargs["input_names"], kwargs["output_names"]) == (["in", "loop"], ["scaled", "loop"])  # as OVMS
    answers = run(collect(g.infer_stream({"in": X})))
    stamps = [a.parameters["OVMS_MP_TIMESTAMP"] for a in answers]  # type: ignore[attr-defined]
    assert [t - stamps[0] for t in stamps] == [0, 1, 2, 3]  # one step per yield, from the request's time
    for k, answer in enumerate(answers, start=1):  # type: ignore[arg-type]
        expected = models.reference(add_model[0], {"x": X * np.float32(3 * k)})["y"]
        np.testing.assert_allclose(answer.outputs["out"], expected, rtol=1e-6)


def test_a_failing_node_is_named(tmp_path: Path, nodes: list[PythonNode]) -> None:
    write_scale_handler(tmp_path, fail=True)
    text = 'input_stream: "OVMS_PY_TENSOR:in"\noutput_stream: "OVMS_PY_TENSOR:out"\n' + python(
        "bad", "in", "out"
    )
    g = graph(text, tmp_path, nodes)
    with pytest.raises(GraphExecutionFailed) as err:
        run(g.infer({"in": X}))
    assert err.value.code == Code.INTERNAL
    assert err.value.message.startswith("Mediapipe execution failed. MP status - node bad: ")
    assert "ValueError: the handler refused its input" in err.value.message


def test_a_model_that_is_not_served_fails_the_node_naming_it(tmp_path: Path) -> None:
    text = (
        'input_stream: "in"\noutput_stream: "out"\n'
        + session("s", "nope")
        + inference("i", "s", "in", "out", "x", "y")
    )
    g = graph(text, tmp_path, [])
    with pytest.raises(GraphExecutionFailed, match="node i: Model with requested name is not found - nope"):
        run(g.infer({"in": X}))


def test_model_errors_reach_the_client(tmp_path: Path, add_model: tuple[Path, Servable]) -> None:
    text = (
        'input_stream: "in"\noutput_stream: "out"\n'
        + session("s", "add")
        + inference("i", "s", "in", "out", "x", "nope")
    )
    g = graph(text, tmp_path, [], add_model[1])
    with pytest.raises(
        GraphExecutionFailed, match="node i: Could not find: nope in inference output of model add"
    ):
        run(g.infer({"in": X}))
    with pytest.raises(GraphExecutionFailed, match="node i: Invalid input precision"):
        run(g.infer({"in": X.astype(np.int32)}))


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"in": X, "other": X}, "Unexpected input - other is unexpected"),
        ({}, "Invalid number of inputs - Expected: 1; Actual: 0; missing: in"),
        ({"in": np.array([b"a"], dtype=object)}, "BYTES inputs are taken only by OVMS_PY_TENSOR streams"),
    ],
)
def test_requests_that_do_not_fit_the_graph(
    tmp_path: Path, inputs: dict[str, np.ndarray], message: str
) -> None:
    text = (
        'input_stream: "in"\noutput_stream: "out"\n'
        + session("s", "add")
        + inference("i", "s", "in", "out", "x", "y")
    )
    g = graph(text, tmp_path, [])
    with pytest.raises(GraphInputInvalid, match=message):
        run(g.infer(inputs))


# --- checking ----------------------------------------------------------------------------------

UNSUPPORTED = """
input_stream: "in"
output_stream: "out"
node {
  calculator: "ImageTransformationCalculator"
  input_stream: "IMAGE:in"
  output_stream: "IMAGE:out"
  node_options: { [type.googleapis.com/mediapipe.ImageTransformationCalculatorOptions]: { output_width: 8 } }
}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (UNSUPPORTED, "calculator ImageTransformationCalculator is not provided by ovserve"),
        (
            'input_stream: "in"\noutput_stream: "out"\n'
            'node { calculator: "FlowLimiterCalculator" input_stream: "in" output_stream: "out" }',
            "calculator FlowLimiterCalculator is not provided by ovserve",
        ),
        (
            'input_stream: "IMAGE:in"\noutput_stream: "in"',
            "graph input stream IMAGE:in carries MediaPipe ImageFrame",
        ),
        ('input_stream: "REQUEST:in"\noutput_stream: "in"', "carries KServe request pass-through"),
        (
            'input_stream: "in"\noutput_stream: "x"',
            "graph output stream x is produced by no node or graph input",
        ),
        (
            'input_stream: "in"\ninput_stream: "in"\noutput_stream: "in"',
            "graph input stream in is declared twice",
        ),
        ("node {", "Failed to read protobuf graph configuration file"),
        ('input_stream: "HTTP_REQUEST_PAYLOAD:input"', "the graph has no output_stream"),
        (
            'input_stream: "in"\noutput_stream: "out"\n'
            + session("s", "")
            + inference("i", "s", "in", "out", "x", "y"),
            "node s: servable_name is not set",
        ),
        (
            'input_stream: "in"\noutput_stream: "out"\n' + inference("i", "s", "in", "out", "x", "y"),
            "node i: needs input_side_packet SESSION:<name>",
        ),
        (
            'input_stream: "in"\noutput_stream: "out"\n'
            + session("s", "add", "v1")
            + inference("i", "s", "in", "out", "x", "y"),
            "servable_version 'v1' is not a number",
        ),
        (
            'input_stream: "in"\noutput_stream: "out"\n'
            + session("s", "add")
            + inference("i", "s", "nowhere", "out", "x", "y"),
            "node i: input stream nowhere is produced by no node or graph input",
        ),
        (
            'input_stream: "in"\noutput_stream: "b"\n' + python("p1", "a", "b") + python("p2", "b", "a"),
            "nodes p1, p2 form a cycle",
        ),
        (
            'input_stream: "in"\noutput_stream: "out"\n'
            + python("p1", "in", "out")
            + python("p2", "in", "out"),
            "stream out is produced by both node p1 and node p2",
        ),
        (
            'input_stream: "in"\noutput_stream: "out"\n'
            + python("p1", "in", "out").replace('name: "p1"', ""),
            "a PythonExecutorCalculator node must be named",
        ),
    ],
)
def test_graphs_that_cannot_be_served_say_why(
    tmp_path: Path, nodes: list[PythonNode], text: str, message: str
) -> None:
    write_scale_handler(tmp_path)
    with pytest.raises(LoadError, match=message):
        graph(text, tmp_path, nodes)


def test_nodes_built_before_a_failure_are_closed(tmp_path: Path) -> None:
    write_scale_handler(tmp_path)
    made: list[PythonNode] = []
    text = (
        'input_stream: "in"\noutput_stream: "out"\n'
        + python("p1", "in", "out")
        + python("p2", "missing", "x")
    )
    with pytest.raises(LoadError, match="input stream missing is produced by no node"):
        build_graph(text, context(tmp_path, Models({}), made))
    assert len(made) == 2 and all(node.finalized.wait(WAIT) for node in made)


def test_a_missing_handler_file_is_named(tmp_path: Path) -> None:
    text = 'input_stream: "in"\noutput_stream: "out"\n' + python("p1", "in", "out", handler="absent.py")
    with pytest.raises(PythonNodeLoadFailed, match=r"absent\.py") as err:
        build_graph(text, context(tmp_path, Models({})))
    assert "p1" in str(err.value)


def test_options_in_the_calculator_options_extension_form(
    tmp_path: Path, add_model: tuple[Path, Servable]
) -> None:
    """MediaPipe's older ``options { [mediapipe.X.ext] { ... } }`` form reads as ``node_options`` does."""
    text = """
input_stream: "in"
output_stream: "out"
node {
  calculator: "OpenVINOModelServerSessionCalculator"
  output_side_packet: "SESSION:s"
  options { [mediapipe.OpenVINOModelServerSessionCalculatorOptions.ext] { servable_name: "add" servable_version: "1" } }
}
node {
  calculator: "OpenVINOInferenceCalculator"
  input_side_packet: "SESSION:s"
  input_stream: "X:in"
  output_stream: "Y:out"
  options {
    [mediapipe.OpenVINOInferenceCalculatorOptions.ext] {
      tag_to_input_tensor_names { key: "X" value: "x" }
      tag_to_output_tensor_names { key: "Y" value: "y" }
    }
  }
}
"""
    registry = Models({"add": add_model[1]})
    g = GraphServable("g", build_graph(text, context(tmp_path, registry)))
    out = run(g.infer({"in": X}))
    np.testing.assert_allclose(out["out"], models.reference(add_model[0], {"x": X})["y"], rtol=1e-6)  # type: ignore[index]
    assert registry.acquired == [("add", 1)]
