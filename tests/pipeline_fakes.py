"""Pipeline test helpers: a short way to write pipeline configs, real models served by a real
manager, and small fake nodes (the "custom" / "python" kinds) that follow the Node contract.

The fakes compute with numpy, so a test can compute the same steps in-process; gates
(:class:`GateNode`) make concurrency and cancellation deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import models
import numpy as np
import openvino as ov
from openvino import opset13 as ops

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.config.pipelines import NodeConfig, NodeOutput, PipelineConfig, TensorSource
from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream, AspiredVersion, Loader, ServableManager
from ovserve.errors import ServingError
from ovserve.pipelines.nodes import Node
from ovserve.preprocess.servable import ConvertingLoader
from ovserve.tensors import Dim, TensorSpec

# -- configs ---------------------------------------------------------------------------------


def src(ref: str | TensorSource) -> TensorSource:
    """``"node:item"`` as a tensor source."""
    if isinstance(ref, TensorSource):
        return ref
    node, item = ref.split(":")
    return TensorSource(node, item)


def node(
    name: str,
    inputs: Mapping[str, str],
    outputs: Sequence[str | tuple[str, str]],
    *,
    model: str | None = None,
    kind: str = "DL model",
    **extra: object,
) -> NodeConfig:
    """A node; ``inputs`` maps each input to ``"node:item"``; an output is a name (alias = name)
    or ``(data_item, alias)``; a node with no ``model`` is a "custom" node named ``name``."""
    outs = tuple(NodeOutput(o, o) if isinstance(o, str) else NodeOutput(*o) for o in outputs)
    if model is None and kind == "DL model":
        kind = "custom"
        extra.setdefault("library_name", name)
    return NodeConfig(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        inputs={k: src(v) for k, v in inputs.items()},
        outputs=outs,
        model_name=model,
        **extra,  # type: ignore[arg-type]
    )


def pipeline(
    nodes: Sequence[NodeConfig],
    outputs: Mapping[str, str] | Mapping[str, TensorSource],
    inputs: Sequence[str] = ("x",),
    **extra: object,
) -> PipelineConfig:
    return PipelineConfig(
        name="pipe",
        inputs=tuple(inputs),
        nodes=tuple(nodes),
        outputs={k: src(v) for k, v in outputs.items()},
        **extra,  # type: ignore[arg-type]
    )


# -- models ----------------------------------------------------------------------------------


def rows(count: int = 3, width: int = 4) -> ov.Model:
    """``x`` [1, count*width] -> ``y`` [count, 1, width] (x * 1): a model demultiplexer."""
    x = models._name(ops.parameter([1, count * width], ov.Type.f32, name="x"), "x")
    y = ops.reshape(x, ops.constant(np.array([count, 1, width], dtype=np.int64)), False)
    models._name(y, "y")
    return ov.Model([y], [x], "rows")


class Served:
    """Real OpenVINO models served by a real :class:`ServableManager` (call from the event loop)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.engine = OpenVINOEngine()
        self.manager = ServableManager()
        self.files: dict[tuple[str, int], Path] = {}

    async def serve(
        self,
        name: str,
        model: ov.Model,
        versions: Sequence[int] = (1,),
        nireq: int = 2,
        converting: bool = False,
    ) -> None:
        """Serve ``model`` as ``name``; ``converting``: behind the client-side string conversion, as
        the server installs it."""
        base = models.save(model, self.root / name, versions)
        aspired = []
        for version in versions:
            cfg = ModelConfig(name=name, base_path=str(base), plugin_config=models.F32, nireq=nireq)
            self.files[(name, version)] = models.model_file(base, version)
            loader: Loader = self.engine.loader(cfg, version, base / str(version))
            if converting:
                loader = ConvertingLoader(loader)
            aspired.append(AspiredVersion(version, loader))
        await self.manager.apply({name: AspiredStream(tuple(aspired))}, complete=False)

    def reference(
        self, name: str, inputs: Mapping[str, np.ndarray], version: int = 1
    ) -> dict[str, np.ndarray]:
        return models.reference(self.files[(name, version)], inputs)


T = TypeVar("T")


def run_served(tmp_path: Path, body: Callable[[Served], Awaitable[T]]) -> T:
    """``body`` on a fresh :class:`Served` in its own event loop; the manager is closed after it."""

    async def go() -> T:
        served = Served(tmp_path)
        try:
            return await body(served)
        finally:
            await served.manager.close()

    return asyncio.run(go())


# -- fake nodes ------------------------------------------------------------------------------


def spec(name: str, *dims: int, dtype: object = np.float32) -> TensorSpec:
    return TensorSpec(name, np.dtype(dtype), tuple(Dim.any() if d == -1 else Dim.static(d) for d in dims))  # type: ignore[call-overload]


class FakeNode:
    """A node computing ``fn(inputs)`` with numpy; records every call and whether it was closed."""

    def __init__(
        self,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        fn: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]],
    ) -> None:
        self._inputs = {s.name: s for s in inputs}
        self._outputs = {s.name: s for s in outputs}
        self.fn = fn
        self.calls: list[dict[str, np.ndarray]] = []
        self.closed = False

    @property
    def inputs(self) -> Mapping[str, TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Mapping[str, TensorSpec]:
        return self._outputs

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls.append(dict(inputs))
        return self.fn(inputs)

    def close(self) -> None:
        self.closed = True


def split_rows() -> FakeNode:
    """Dynamic demultiplexer: ``x`` [1, N, 4] -> ``rows`` [N, 1, 4] (N = 0 gives no items)."""
    return FakeNode(
        [spec("x", 1, -1, 4)],
        [spec("rows", -1, 1, 4)],
        lambda i: {"rows": np.ascontiguousarray(i["x"][0][:, None, :])},
    )


def detect(size: int = 8) -> FakeNode:
    """A detector: ``image`` [1,3,H,W], ``count`` [1] I32 -> ``boxes`` [N,1,2] I32: the top-left corners of
    ``count`` size x size windows along the diagonal."""

    def fn(i: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = int(i["count"][0])
        corners = np.array([[[k * 2, k * 3]] for k in range(n)], dtype=np.int32).reshape(n, 1, 2)
        return {"boxes": corners}

    return FakeNode(
        [spec("image", 1, 3, -1, -1), spec("count", 1, dtype=np.int32)],
        [spec("boxes", -1, 1, 2, dtype=np.int32)],
        fn,
    )


def crop(size: int = 32) -> FakeNode:
    """Crops a size x size window at each box of ``boxes`` [N,1,2] (y, x) from ``image`` [1,3,H,W]
    -> ``crops`` [N,1,3,size,size] (a demultiplexer's output)."""

    def fn(i: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        image = i["image"]
        crops = [image[:, :, y : y + size, x : x + size] for y, x in (b[0] for b in i["boxes"])]
        return {"crops": np.stack(crops) if crops else np.zeros((0, 1, 3, size, size), np.float32)}

    return FakeNode(
        [spec("image", 1, 3, -1, -1), spec("boxes", -1, 1, 2, dtype=np.int32)],
        [spec("crops", -1, 1, 3, size, size)],
        fn,
    )


def total(width: int = 4) -> FakeNode:
    """A gathering node: ``items`` [N,1,width] -> ``sum`` [1,width] (the items added up)."""
    return FakeNode(
        [spec("items", -1, 1, width)], [spec("sum", 1, width)], lambda i: {"sum": i["items"].sum(axis=0)}
    )


class GateNode(FakeNode):
    """Passes ``x`` through as ``y`` once ``gate`` opens; ``started`` is set when it runs, and
    ``cancelled`` if it was cancelled while waiting."""

    def __init__(self, *dims: int) -> None:
        super().__init__([spec("x", *dims)], [spec("y", *dims)], lambda i: {"y": i["x"]})
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.started.set()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return await super().run(inputs)


class BarrierNode(FakeNode):
    """Passes ``x`` through as ``y`` once ``parties`` runs are in progress at the same time: a
    pipeline that does not run its items concurrently never finishes (the test bounds the wait)."""

    def __init__(self, parties: int, *dims: int) -> None:
        super().__init__([spec("x", *dims)], [spec("y", *dims)], lambda i: {"y": i["x"]})
        self.parties = parties
        self.waiting = 0
        self.full = asyncio.Event()

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.waiting += 1
        if self.waiting >= self.parties:
            self.full.set()
        await self.full.wait()
        return await super().run(inputs)


class FailingNode(FakeNode):
    """Raises ``error`` when it runs."""

    def __init__(self, error: Exception, *dims: int) -> None:
        super().__init__([spec("x", *dims)], [spec("y", *dims)], lambda i: {"y": i["x"]})
        self.error = error

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise self.error


def factory(**nodes: Node) -> Callable[[NodeConfig], Node]:
    """A ``make_node`` giving each node config the fake registered under its name."""

    def make(config: NodeConfig) -> Node:
        if config.name not in nodes:
            raise ServingError(f"no fake node {config.name}")
        return nodes[config.name]

    return make


def no_nodes(config: NodeConfig) -> Node:
    raise AssertionError(f"no custom node expected, got {config.name}")


def chain_config(name: str, *models: str) -> dict[str, object]:
    """A ``pipeline_config_list`` item: ``models`` one after another on tensor ``x`` -> ``y``."""
    nodes, source = [], {"node_name": "request", "data_item": "x"}
    for i, model in enumerate(models):
        nodes.append(
            {
                "name": f"n{i}",
                "type": "DL model",
                "model_name": model,
                "inputs": [{"x": source}],
                "outputs": [{"data_item": "y", "alias": "y"}],
            }
        )
        source = {"node_name": f"n{i}", "data_item": "y"}
    return {"name": name, "inputs": ["x"], "nodes": nodes, "outputs": [{"y": source}]}
