"""Pipelines in the lifecycle: built once their models are there, revalidated when the models change,
stopped with OVMS's texts when invalid or removed, refused when named as a model.

The pipelines are built by the DAG engine (``build_pipeline``) on a loader thread over small
echo models (the engine has its own tests); what is tested here is when the lifecycle builds,
keeps, stops and retires them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
from fakes import EchoServable, FakeLoader
from pipeline_fakes import FakeNode, spec
from pipeline_fakes import chain_config as pipeline

from ovserve.config.pipelines import CustomNodeLibraryConfig, NodeConfig, PipelineConfig
from ovserve.config.storage import StorageSettings
from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import ServableManager
from ovserve.core.servable import Servable
from ovserve.core.states import State
from ovserve.errors import Code, PipelineNotLoadedYet, PipelineRetired, ServingError
from ovserve.lifecycle import Lifecycle
from ovserve.pipelines.build import MakeNode, build_pipeline
from ovserve.pipelines.model_node import Acquire
from ovserve.pipelines.nodes import Node
from ovserve.pipelines.source import NAME_OCCUPIED, PipelineSource
from ovserve.repository.sources import RepositorySource
from ovserve.tensors import Dim, TensorSpec


def no_nodes(libraries: Mapping[str, CustomNodeLibraryConfig]) -> MakeNode:
    def make(node: NodeConfig) -> Node:
        raise AssertionError("model nodes only")

    return make


def write(tmp_path: Path, models: list[str], pipelines: list[dict[str, object]]) -> Path:
    for name in models:
        (tmp_path / name / "1").mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.json"
    doc = {
        "model_config_list": [{"config": {"name": m, "base_path": m}} for m in models],
        "pipeline_config_list": pipelines,
    }
    config.write_text(json.dumps(doc))
    return config


class Gate(threading.Event):
    """An event that says whether a thread waits at it."""

    waiting = False

    def pass_(self) -> None:
        self.waiting = True
        self.wait(30)
        self.waiting = False


def gated(gate: Gate) -> Callable[[PipelineConfig, Acquire, MakeNode], Servable]:
    def build_after_gate(config: PipelineConfig, acquire: Acquire, make_node: MakeNode) -> Servable:
        gate.pass_()
        return build_pipeline(config, acquire, make_node)

    return build_after_gate


async def until(check: Callable[[], bool]) -> None:
    """Yield to the loop until ``check`` holds (bounded: a broken lifecycle fails, never hangs)."""
    for _ in range(3000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


class GatedEchoLoader(FakeLoader):
    def __init__(self, sid: ServableId, width: int, gate: Gate | None) -> None:
        super().__init__(sid)
        self.width = width
        self.model_gate = gate

    def load(self) -> EchoServable:
        if self.model_gate is not None:
            self.model_gate.pass_()
        spec = TensorSpec("x", np.dtype(np.float32), (Dim.any(), Dim.static(self.width)))
        return EchoServable(self.sid, (spec,))


def make_lifecycle(config: Path, widths: dict[str, int], gate: Gate | None = None) -> Lifecycle:
    """A lifecycle over echo models whose input is (-1, widths[name]) (default 4); loads pass ``gate``."""

    def factory(cfg: ModelConfig, version: int, path: Path) -> FakeLoader:
        return GatedEchoLoader(ServableId(cfg.name, version), widths.get(cfg.name, 4), gate)

    from ovserve.config.file import load_config_file

    manager = ServableManager()
    models = load_config_file(str(config)).models
    source = RepositorySource(factory, StorageSettings())
    return Lifecycle(
        manager, source, models, str(config), pipelines=PipelineSource(manager, build_pipeline, no_nodes)
    )


async def infer(life: Lifecycle, name: str) -> np.ndarray:
    with life.manager.acquire(name, 7) as servable:  # a pipeline ignores the version asked
        return (await servable.infer({"x": np.ones((1, 4), np.float32)}))["y"]


def test_pipeline_is_served_as_version_1_once_its_models_are(tmp_path: Path) -> None:
    async def go() -> None:
        life = make_lifecycle(write(tmp_path, ["a", "b"], [pipeline("p", "a", "b")]), {})
        await life.start()
        assert [s.state for s in life.manager.status("p")] == [State.AVAILABLE]
        assert life.manager.status("p")[0].version == 1
        np.testing.assert_array_equal(await infer(life, "p"), np.ones((1, 4), np.float32))
        assert not await life.sync()  # nothing changed: the pipeline is not rebuilt

    asyncio.run(go())


def test_missing_model_keeps_it_loading_with_the_reason_until_the_model_comes(tmp_path: Path) -> None:
    async def go() -> None:
        config = write(tmp_path, ["a"], [pipeline("p", "a", "b")])
        life = make_lifecycle(config, {})
        await life.start()
        status = life.manager.status("p")[0]
        assert (status.state, status.error_code) == (State.LOADING, Code.FAILED_PRECONDITION)
        assert "node: n1; model: b" in status.error_message
        with pytest.raises(PipelineNotLoadedYet, match=r"Pipeline is not loaded yet - p: .*node: n1"):
            await infer(life, "p")
        write(tmp_path, ["a", "b"], [pipeline("p", "a", "b")])
        await life.reload_config()
        assert life.manager.status("p")[0].state == State.AVAILABLE

    asyncio.run(go())


def test_model_shape_change_stops_the_pipeline_and_a_fix_brings_it_back(tmp_path: Path) -> None:
    async def go() -> None:
        widths: dict[str, int] = {}
        life = make_lifecycle(write(tmp_path, ["a", "b"], [pipeline("p", "a", "b")]), widths)
        await life.start()
        widths["b"] = 5
        (tmp_path / "b" / "2").mkdir()  # a new version of b with another shape
        assert await life.sync()
        status = life.manager.status("p")[0]
        assert (status.state, status.error_code) == (State.LOADING, Code.FAILED_PRECONDITION)
        with pytest.raises(PipelineNotLoadedYet):
            await infer(life, "p")
        widths["b"] = 4
        (tmp_path / "b" / "3").mkdir()
        assert await life.sync()
        assert life.manager.status("p")[0].state == State.AVAILABLE
        assert (await infer(life, "p")).shape == (1, 4)

    asyncio.run(go())


def test_model_reload_keeps_the_pipeline_serving_at_every_step(tmp_path: Path) -> None:
    """The new model version loads, then the pipeline is rebuilt: each step is held by a gate
    while requests go through the pipeline; none fails."""

    async def go() -> None:
        model_gate, build_gate = Gate(), Gate()
        model_gate.set()
        build_gate.set()
        life = make_lifecycle(write(tmp_path, ["a"], [pipeline("p", "a")]), {}, model_gate)
        life.pipeline_source.build = gated(build_gate)  # type: ignore[union-attr]
        await life.start()
        model_gate.clear()
        build_gate.clear()
        (tmp_path / "a" / "2").mkdir()
        sync = asyncio.create_task(life.sync())
        await until(lambda: life.manager.status("a")[0].state == State.LOADING)
        assert (await infer(life, "p")).shape == (1, 4)  # version 2 loading: version 1 serves
        model_gate.set()
        await until(lambda: life.manager.available_versions("a") == [2] and build_gate.waiting)
        assert (await infer(life, "p")).shape == (1, 4)  # pipeline rebuilding: the old one serves
        build_gate.set()
        assert await sync
        assert life.manager.status("p")[0].state == State.AVAILABLE
        assert (await infer(life, "p")).shape == (1, 4)

    asyncio.run(go())


def test_removed_pipeline_is_retired_and_a_model_name_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        life = make_lifecycle(write(tmp_path, ["a"], [pipeline("p", "a"), pipeline("a", "a")]), {})
        await life.start()
        assert NAME_OCCUPIED in caplog.text
        assert life.manager.status("a")[0].state == State.AVAILABLE  # the model keeps its name
        write(tmp_path, ["a"], [])
        await life.reload_config()
        assert life.manager.status("p")[0].state == State.END
        with pytest.raises(PipelineRetired, match="Pipeline is retired - p"):
            await infer(life, "p")
        write(tmp_path, ["a"], [pipeline("p", "a")])
        await life.reload_config()
        assert (await infer(life, "p")).shape == (1, 4)

    asyncio.run(go())


def test_a_model_in_a_pipeline_may_not_turn_auto_shaped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        life = make_lifecycle(write(tmp_path, ["a", "b"], [pipeline("p", "a")]), {})
        await life.start()
        doc = json.loads((tmp_path / "config.json").read_text())
        for entry in doc["model_config_list"]:
            entry["config"]["shape"] = "auto"
        (tmp_path / "config.json").write_text(json.dumps(doc))
        await life.reload_config()
        shapes = {m.name: m.shape for m in life.models}
        assert shapes == {"a": None, "b": "auto"}  # b is in no pipeline
        assert "a: Requested dynamic parameters but model is used in pipeline" in caplog.text

    asyncio.run(go())


def test_a_reload_that_leaves_a_pipeline_invalid_says_so(tmp_path: Path) -> None:
    async def go() -> None:
        life = make_lifecycle(write(tmp_path, ["a"], [pipeline("p", "a")]), {})
        await life.start()
        write(tmp_path, ["a"], [pipeline("p", "a"), pipeline("q", "a", "missing")])
        outcome = await life.reload_config()
        assert outcome.changed and outcome.error is not None
        assert "pipeline q: Pipeline definition has reference to missing model" in outcome.error.message
        assert life.manager.status("p")[0].state == State.AVAILABLE  # the others were applied

    asyncio.run(go())


def test_custom_nodes_follow_their_library_entries(tmp_path: Path) -> None:
    """A node naming no listed library: the status says so; listed: served; its path changed: rebuilt."""
    made: list[str] = []

    def node_factory(libraries: Mapping[str, CustomNodeLibraryConfig]) -> MakeNode:
        def make(node: NodeConfig) -> Node:
            library = libraries.get(node.library_name or "")
            if library is None:
                raise ServingError(f"Custom node library not found - {node.library_name}")
            made.append(library.base_path)
            return FakeNode([spec("a", -1, 4)], [spec("b", -1, 4)], lambda i: {"b": i["a"] + 1})

        return make

    custom = {
        "name": "c",
        "inputs": ["x"],
        "nodes": [
            {
                "name": "plus",
                "type": "custom",
                "library_name": "lib",
                "inputs": [{"a": {"node_name": "request", "data_item": "x"}}],
                "outputs": [{"data_item": "b", "alias": "y"}],
            }
        ],
        "outputs": [{"y": {"node_name": "plus", "data_item": "y"}}],
    }

    def configure(libraries: list[dict[str, str]]) -> None:
        config = write(tmp_path, ["a"], [custom])
        doc = json.loads(config.read_text())
        doc["custom_node_library_config_list"] = libraries
        config.write_text(json.dumps(doc))

    async def go() -> None:
        configure([])
        life = make_lifecycle(tmp_path / "config.json", {})
        life.pipeline_source.node_factory = node_factory  # type: ignore[union-attr]
        await life.start()
        status = life.manager.status("c")[0]
        assert status.state == State.LOADING and "Custom node library not found - lib" in status.error_message
        configure([{"name": "lib", "base_path": "/libs/one.so"}])
        await life.reload_config()
        np.testing.assert_array_equal(await infer(life, "c"), np.full((1, 4), 2, np.float32))
        assert not await life.sync() and made == ["/libs/one.so"]  # nothing changed: not rebuilt
        configure([{"name": "lib", "base_path": "/libs/two.so"}])
        await life.reload_config()
        assert made == ["/libs/one.so", "/libs/two.so"]
        assert life.manager.status("c")[0].state == State.AVAILABLE

    asyncio.run(go())


def test_a_pipeline_is_no_node_of_another(tmp_path: Path) -> None:
    async def go() -> None:
        life = make_lifecycle(write(tmp_path, ["a"], [pipeline("p", "a"), pipeline("outer", "p")]), {})
        await life.start()
        assert life.manager.status("p")[0].state == State.AVAILABLE
        status = life.manager.status("outer")[0]
        assert status.state == State.LOADING
        assert "reference to missing model - node: n0; model: p" in status.error_message

    asyncio.run(go())


def test_while_an_invalidated_pipeline_drains_requests_hear_why(tmp_path: Path) -> None:
    async def go() -> None:
        widths: dict[str, int] = {}
        life = make_lifecycle(write(tmp_path, ["a", "b"], [pipeline("p", "a", "b")]), widths)
        await life.start()
        with life.manager.acquire("p"):  # a request in flight keeps the old pipeline until it ends
            widths["b"] = 5
            (tmp_path / "b" / "2").mkdir()
            sync = asyncio.create_task(life.sync())
            await until(lambda: life.manager.status("p")[0].state == State.UNLOADING)
            with pytest.raises(PipelineNotLoadedYet, match="Invalid input shape"):
                await infer(life, "p")
        await sync
        assert life.manager.status("p")[0].state == State.LOADING

    asyncio.run(go())
