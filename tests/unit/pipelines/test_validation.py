"""Every validation error of a pipeline definition: OVMS's status text, and a detail naming the
node and tensor. Nodes are fakes with declared specs; model references go to a real manager."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import models
import numpy as np
import pytest
from fakes import EchoServable, StaticLoader
from pipeline_fakes import FakeNode, Served, factory, node, pipeline, spec

from ovserve.config.pipelines import NodeConfig, PipelineConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
from ovserve.errors import Code, PipelineInvalid, ServingError
from ovserve.pipelines.build import build_pipeline
from ovserve.pipelines.nodes import Node
from ovserve.tensors import TensorSpec


def passing(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> FakeNode:
    return FakeNode(inputs, outputs, lambda i: {})


def f32(name: str, *dims: int) -> TensorSpec:
    return spec(name, *dims)


#: a fake for every node name the configs below use
NODES: dict[str, Callable[[], Node]] = {
    "a": lambda: passing([f32("x", 1, 4)], [f32("y", 1, 4)]),
    "b": lambda: passing([f32("x", 1, 4)], [f32("y", 1, 4)]),
    "wide": lambda: passing([f32("x", 1, 8)], [f32("y", 1, 8)]),
    "int": lambda: passing([spec("x", 1, 4, dtype=np.int32)], [spec("y", 1, 4, dtype=np.int32)]),
    "text": lambda: passing([spec("x", 1, dtype=object)], [spec("y", 1, dtype=object)]),
    "split": lambda: passing([f32("x", 1, 4)], [f32("y", 3, 1, 4)]),
    "split2": lambda: passing([f32("x", 1, 4)], [f32("y", 2, 1, 4)]),
    "flat": lambda: passing([f32("x", 1, 4)], [f32("y", 3, 4)]),
    "dyn": lambda: passing([f32("x", 1, 4)], [f32("y", -1, 1, 4)]),
    "sum": lambda: passing([f32("x", 3, 1, 4)], [f32("y", 1, 4)]),
    "sum2": lambda: passing([f32("x", 2, 1, 4)], [f32("y", 1, 4)]),
    "vec": lambda: passing([f32("x", 4)], [f32("y", 4)]),
    "free": lambda: passing([], [f32("y", 1, 4)]),
    "two": lambda: passing([f32("x", 1, 4), f32("z", 1, 4)], [f32("y", 1, 4)]),
}


def make(config: NodeConfig) -> Node:
    return NODES[config.library_name or config.name]()


def lib(
    name: str, library: str, inputs: Mapping[str, str], outputs: Sequence[str] = ("y",), **kw: object
) -> NodeConfig:
    return node(name, inputs, list(outputs), library_name=library, **kw)


def build(config: PipelineConfig, manager: ServableManager | None = None) -> object:
    return build_pipeline(config, (manager or ServableManager()).acquire, make)


def invalid(config: PipelineConfig, text: str, *details: str) -> PipelineInvalid:
    with pytest.raises(PipelineInvalid) as caught:
        build(config)
    error = caught.value
    assert error.code == Code.FAILED_PRECONDITION
    assert error.message.startswith(text + " - "), error.message
    for detail in details:
        assert detail in error.message, error.message
    return error


CASES: list[tuple[str, PipelineConfig, str, tuple[str, ...]]] = [
    (
        "duplicate node",
        pipeline([lib("n", "a", {"x": "request:x"}), lib("n", "a", {"x": "request:x"})], {"y": "n:y"}),
        "Pipeline definition has multiple nodes with the same name",
        ("node: n",),
    ),
    (
        "a node named request",
        pipeline([lib("request", "a", {"x": "request:x"})], {"y": "request:x"}),
        "Pipeline definition has multiple nodes with the same name",
        ("node: request",),
    ),
    (
        "missing node",
        pipeline([lib("n", "a", {"x": "ghost:x"})], {"y": "n:y"}),
        "Pipeline definition has reference to missing node",
        ("node: n", "input: x", "missing node: ghost"),
    ),
    (
        "response as a dependency",
        pipeline([lib("n", "a", {"x": "response:y"})], {"y": "n:y"}),
        "Pipeline definition has response node used as dependency node",
        ("node: n", "input: x"),
    ),
    (
        "undeclared alias",
        pipeline([lib("n", "a", {"x": "request:x"}), lib("m", "a", {"x": "n:z"})], {"y": "m:y"}),
        "Pipeline definition has reference to missing data source",
        ("node: m", "input: x", "output alias of node n: z"),
    ),
    (
        "undeclared pipeline input",
        pipeline([lib("n", "a", {"x": "request:nope"})], {"y": "n:y"}),
        "Pipeline definition has reference to missing data source",
        ("node: n", "pipeline input: nope"),
    ),
    (
        "pipeline output from a missing node",
        pipeline([lib("n", "a", {"x": "request:x"})], {"y": "ghost:y"}),
        "Pipeline definition has reference to missing node",
        ("pipeline output: y; missing node: ghost",),
    ),
    (
        "cycle",
        pipeline(
            [lib("p", "two", {"x": "request:x", "z": "q:y"}), lib("q", "a", {"x": "p:y"})],
            {"y": "q:y"},
        ),
        "Pipeline definition contains a cycle",
        ("p, q",),
    ),
    (
        "self loop",
        pipeline([lib("p", "two", {"x": "request:x", "z": "p:y"})], {"y": "p:y"}),
        "Pipeline definition contains a cycle",
        ("nodes: p",),
    ),
    (
        "unconnected node",
        pipeline([lib("n", "a", {"x": "request:x"}), lib("lost", "a", {"x": "request:x"})], {"y": "n:y"}),
        "Pipeline definition has unconnected nodes",
        ("lost",),
    ),
    (
        "gather from a missing node",
        pipeline([lib("n", "a", {"x": "request:x"}, gather_from_node="ghost")], {"y": "n:y"}),
        "Gather node refers to not existing node",
        ("node: n", "gather_from_node: ghost"),
    ),
    (
        "gather from a node that does not demultiplex",
        pipeline(
            [lib("m", "a", {"x": "request:x"}), lib("n", "a", {"x": "m:y"}, gather_from_node="m")],
            {"y": "n:y"},
        ),
        "Gather node refers to node that isn't demultiplexer",
        ("node: n", "gather_from_node: m"),
    ),
    (
        "a dynamic demultiplexer with another",
        pipeline(
            [
                lib("d", "dyn", {"x": "request:x"}, demultiply_count=-1),
                lib("e", "split", {"x": "d:y"}, demultiply_count=3),
            ],
            {"y": "e:y"},
        ),
        "Pipeline definition has multiple demultiplexers with at least one dynamic",
        ("pipeline: pipe",),
    ),
    (
        "negative demultiply_count",
        pipeline([lib("d", "split", {"x": "request:x"}, demultiply_count=-2)], {"y": "d:y"}),
        "Invalid demultiply_count",
        ("node: d", "-2"),
    ),
    (
        "inputs from two levels",
        pipeline(
            [
                lib("d", "split", {"x": "request:x"}, demultiply_count=3),
                lib("n", "two", {"x": "d:y", "z": "request:x"}),
            ],
            {"y": "n:y"},
        ),
        "Demultiplexer and gather nodes are not in LIFO order",
        (
            "node: n takes inputs from different demultiplexing levels",
            "d: items of d",
            "request: not demultiplexed",
        ),
    ),
    (
        "gather from a demultiplexer off the path",
        pipeline(
            [
                lib("d", "split", {"x": "request:x"}, demultiply_count=3),
                lib("m", "a", {"x": "request:x"}),
                lib("n", "sum", {"x": "m:y"}, gather_from_node="d"),
                lib("j", "two", {"x": "n:y", "z": "d:y"}),
            ],
            {"y": "j:y"},
        ),
        "Demultiplexer and gather nodes are not in LIFO order",
        ("node: n gathers from d, which is not on the path of its inputs",),
    ),
    (
        "gathers out of LIFO order",
        pipeline(
            [
                lib("d1", "split", {"x": "request:x"}, demultiply_count=3),
                lib("d2", "split2", {"x": "d1:y"}, demultiply_count=2),
                lib("g", "sum", {"x": "d2:y"}, gather_from_node="d1"),
            ],
            {"y": "g:y"},
        ),
        "Demultiplexer and gather nodes are not in LIFO order",
        ("node: g gathers from d1 before d2",),
    ),
    (
        "response takes items that another node gathers",
        pipeline(
            [
                lib("d", "split", {"x": "request:x"}, demultiply_count=3),
                lib("g", "sum", {"x": "d:y"}, gather_from_node="d"),
                lib("e", "a", {"x": "d:y"}),
            ],
            {"y": "g:y", "each": "e:y"},
        ),
        "Demultiplexer and gather nodes are not in LIFO order",
        ("node: response takes inputs from different demultiplexing levels", "e: items of d"),
    ),
    (
        "input that the node does not have",
        pipeline([lib("n", "a", {"x": "request:x", "bogus": "request:x"})], {"y": "n:y"}),
        "Pipeline definition has connection to non existing model input",
        ("node: n", "input: bogus"),
    ),
    (
        "input not connected",
        pipeline([lib("n", "two", {"x": "request:x"})], {"y": "n:y"}),
        "Pipeline definition does not have connections for all inputs of underlying models",
        ("node: n", "inputs: z"),
    ),
    (
        "output the node does not have",
        pipeline([lib("n", "a", {"x": "request:x"}, outputs=[("nope", "y")])], {"y": "n:y"}),
        "Pipeline definition has reference to missing model output",
        ("node: n has no output nope",),
    ),
    (
        "shape mismatch",
        pipeline([lib("n", "a", {"x": "request:x"}), lib("m", "wide", {"x": "n:y"})], {"y": "m:y"}),
        "Invalid input shape",
        ("node: m; input: x; shape: (1,8) vs node: n; output: y; shape: (1,4)",),
    ),
    (
        "precision mismatch",
        pipeline([lib("n", "a", {"x": "request:x"}), lib("m", "int", {"x": "n:y"})], {"y": "m:y"}),
        "Invalid input precision",
        ("node: m; input: x; precision: I32 vs node: n; output: y; precision: FP32",),
    ),
    (
        "strings between nodes",
        pipeline([lib("n", "text", {"x": "request:x"}), lib("m", "text", {"x": "n:y"})], {"y": "m:y"}),
        "Connecting nodes with string precision is not supported",
        ("node: m; input: x from node: n",),
    ),
    (
        "demultiplexing a 2-D output",
        pipeline([lib("d", "flat", {"x": "request:x"}, demultiply_count=3)], {"y": "d:y"}),
        "Pipeline has not enough shape dimensions to demultiply",
        ("node: d; output: y; shape: (3,4)",),
    ),
    (
        "count that does not match the output",
        pipeline([lib("d", "split", {"x": "request:x"}, demultiply_count=4)], {"y": "d:y"}),
        "Demultiplication count does not match tensor first dimension",
        ("node: d; output: y; shape: (3,1,4); demultiply_count: 4",),
    ),
    (
        "gathering node whose input lacks the count",
        pipeline(
            [
                lib("d", "split", {"x": "request:x"}, demultiply_count=3),
                lib("g", "sum2", {"x": "d:y"}, gather_from_node="d"),
            ],
            {"y": "g:y"},
        ),
        "Demultiplication count does not match tensor first dimension",
        ("node: g; input: x; gathers from d",),
    ),
    (
        "pipeline input wanted differently by two nodes",
        pipeline(
            [lib("n", "a", {"x": "request:x"}), lib("m", "wide", {"x": "request:x"})],
            {"y": "n:y", "z": "m:y"},
        ),
        "Multiple nodes connected to the same pipeline input require different tensor metadata",
        ("pipeline input: x", "node n wants FP32 (1,4)", "node m wants FP32 (1,8)"),
    ),
    (
        "demultiplexing string inputs at the request",
        pipeline([lib("n", "text", {"x": "request:x"})], {"y": "n:y"}, demultiply_count=2),
        "Demultiplication is not supported for string precision",
        ("pipeline input: x",),
    ),
]


@pytest.mark.parametrize(("config", "text", "details"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_definition(config: PipelineConfig, text: str, details: tuple[str, ...]) -> None:
    invalid(config, text, *details)


def test_an_entry_marked_invalid_by_the_parser() -> None:
    config = PipelineConfig("pipe", ("x",), (), {}, invalid="nodes[0].type: must be a string")
    invalid(config, "Pipeline definition is invalid", "pipeline: pipe", "nodes[0].type: must be a string")


def test_unsupported_node_type() -> None:
    config = pipeline([node("n", {"x": "request:x"}, ["y"], kind="bogus", library_name="a")], {"y": "n:y"})
    invalid(config, "Unsupported node type", "node: n", "bogus")


def test_missing_model_and_version(tmp_path: Path) -> None:
    async def go() -> None:
        served = Served(tmp_path)
        await served.serve("m", models.add_scaled())
        acquire = served.manager.acquire
        for model, version, detail in (
            ("ghost", None, "node: n; model: ghost; version: newest (Model with requested name is not found"),
            ("m", 7, "node: n; model: m; version: 7 (Model with requested version is not found"),
        ):
            config = pipeline(
                [node("n", {"x": "request:x"}, ["y"], model=model, version=version)], {"y": "n:y"}
            )
            with pytest.raises(PipelineInvalid) as caught:
                build_pipeline(config, acquire, make)
            assert caught.value.message.startswith(
                "Pipeline definition has reference to missing model - " + detail
            )
        await served.manager.close()

    asyncio.run(go())


def test_a_failed_build_closes_the_nodes_it_made() -> None:
    made: list[FakeNode] = []

    def tracking(config: NodeConfig) -> Node:
        if config.name == "broken":
            raise ServingError("Custom node library not found")
        fake = passing([f32("x", 1, 4)], [f32("y", 1, 4)])
        made.append(fake)
        return fake

    config = pipeline(
        [lib("n", "a", {"x": "request:x"}), lib("broken", "a", {"x": "n:y"})], {"y": "broken:y"}
    )
    with pytest.raises(PipelineInvalid, match=r"^Custom node library not found - node: broken$"):
        build_pipeline(config, ServableManager().acquire, tracking)
    assert made and all(fake.closed for fake in made)
    bad_shape = pipeline([lib("n", "a", {"x": "request:x"}), lib("m", "wide", {"x": "n:y"})], {"y": "m:y"})
    built: list[FakeNode] = []

    def keep(config: NodeConfig) -> Node:
        fake = make(config)
        assert isinstance(fake, FakeNode)
        built.append(fake)
        return fake

    with pytest.raises(PipelineInvalid):
        build_pipeline(bad_shape, ServableManager().acquire, keep)
    assert len(built) == 2 and all(fake.closed for fake in built)


def test_overlapping_ranges_connect_and_unknown_tensors_are_not_checked() -> None:
    nodes = {
        "n": passing([f32("x", -1, 4)], [f32("y", -1, 4)]),
        "m": passing([f32("x", 2, 4)], [f32("y", 2, 4)]),
        "py": FakeNode([], [], lambda i: {}),  # a node that knows its tensors only when it runs
    }
    config = pipeline(
        [
            lib("n", "n", {"x": "request:x"}),
            lib("m", "m", {"x": "n:y"}),
            node("py", {"anything": "m:y"}, ["out"], kind="python", handler_path="h.py"),
        ],
        {"y": "m:y", "out": "py:out"},
    )
    built = build_pipeline(config, ServableManager().acquire, factory(**nodes))
    assert built.inputs["x"].shape == (-1, 4)
    assert built.outputs["y"].shape == (2, 4)
    assert "out" in built.unspecified


def test_request_demultiplexing_needs_inputs_of_three_dimensions_that_something_reads() -> None:
    config = pipeline([lib("n", "vec", {"x": "request:x"})], {"y": "n:y"}, demultiply_count=-1)
    invalid(
        config, "Pipeline has not enough shape dimensions to demultiply", "pipeline input: x; shape: (-1,4)"
    )
    config = pipeline([lib("n", "a", {"x": "request:x"})], {"y": "n:y"}, demultiply_count=-1)
    assert build(config).inputs["x"].shape == (-1, 1, 4)  # type: ignore[attr-defined]
    unread = pipeline([lib("n", "free", {})], {"y": "n:y"}, demultiply_count=2)
    invalid(unread, "Invalid demultiply_count", "pipeline: pipe demultiplies its inputs, which nothing reads")


def test_stateful_models_cannot_be_nodes() -> None:
    class Stateful(EchoServable):
        @property
        def special_inputs(self) -> Mapping[str, TensorSpec]:
            return {"sequence_id": spec("sequence_id", 1, dtype=np.uint64)}

    async def go() -> None:
        manager = ServableManager()
        servable = Stateful(ServableId("seq", 1), (f32("x", 1, 4),))
        await manager.apply({"seq": AspiredStream((AspiredVersion(1, StaticLoader(servable)),))})
        config = pipeline([node("n", {"x": "request:x"}, ["y"], model="seq")], {"y": "n:y"})
        with pytest.raises(PipelineInvalid, match=r"^Stateful models cannot be used in pipelines - node: n$"):
            build_pipeline(config, manager.acquire, make)
        await manager.close()

    asyncio.run(go())
