"""A MediaPipe graph that cannot take requests answers OVMS's texts, through the manager.

OVMS (src/status.cpp, grpc_utils.cpp, http_rest_api_handler.cpp): "Mediapipe is not loaded yet"
(gRPC UNAVAILABLE) while a graph is not valid, "Mediapipe is retired" (gRPC NOT_FOUND) once the
configuration dropped it; its HTTP table lists neither, so REST falls back to 500. The version a
request names is ignored. A DAG pipeline keeps its own texts (tests/unit/pipelines/test_source.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import grpc
import pytest
from mediapipe_graphs import CHAIN, UNSUPPORTED, Models

from ovserve.api.errors import grpc_status, http_status
from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream, ServableManager
from ovserve.core.states import State
from ovserve.errors import GraphNotLoadedYet, GraphRetired, PipelineNotLoadedYet, PipelineRetired
from ovserve.pipelines.mediapipe.calculators import TensorNode
from ovserve.pipelines.mediapipe.servable import GraphServable
from ovserve.pipelines.mediapipe.source import GraphSource
from ovserve.pipelines.python_handler import Handler


class NoInner:
    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]:
        raise AssertionError(f"only graphs here: {[c.name for c in configs]}")


def no_python(handler: Handler) -> TensorNode:
    raise AssertionError("these graphs have no Python node")


def entry(tmp_path: Path, text: str | None) -> ModelConfig:
    (tmp_path / "g").mkdir(exist_ok=True)
    if text is not None:
        (tmp_path / "g" / "graph.pbtxt").write_text(text)
    return ModelConfig(
        name="g", base_path=str(tmp_path / "g"), graph_path=str(tmp_path / "g" / "graph.pbtxt")
    )


def test_a_graph_not_loaded_yet_then_served_then_stopped_then_retired(tmp_path: Path) -> None:
    graphs = GraphSource(NoInner(), Models({}).acquire, no_python)
    manager = ServableManager()

    async def apply(text: str | None, *, listed: bool = True) -> None:
        await manager.apply(graphs.aspired([entry(tmp_path, text)]) if listed else {})

    async def go() -> None:
        await apply(UNSUPPORTED)
        with pytest.raises(GraphNotLoadedYet, match=r"^Mediapipe is not loaded yet - g: .*not provided"):
            manager.acquire("g", 7)
        await apply(CHAIN)
        with manager.acquire("g", 7) as servable:  # any version: the graph's one
            assert isinstance(servable, GraphServable) and servable.version == 1
        await apply(UNSUPPORTED)  # a changed file that does not build: the old graph stops serving
        assert manager.status("g")[0].state != State.AVAILABLE
        with pytest.raises(GraphNotLoadedYet, match="ImageTransformationCalculator"):
            manager.acquire("g", None)
        await apply(CHAIN)
        await apply(None, listed=False)
        with pytest.raises(GraphRetired, match=r"^Mediapipe is retired - g$"):
            manager.acquire("g", 1)
        assert not manager.is_pipeline("g")

    asyncio.run(go())


def test_a_missing_graph_file_is_not_loaded_yet_naming_it(tmp_path: Path) -> None:
    manager = ServableManager()
    asyncio.run(
        manager.apply(GraphSource(NoInner(), Models({}).acquire, no_python).aspired([entry(tmp_path, None)]))
    )
    with pytest.raises(GraphNotLoadedYet, match="Failed to read protobuf graph configuration file"):
        manager.acquire("g", None)


def test_graph_and_pipeline_texts_map_as_ovms() -> None:
    assert (http_status(GraphNotLoadedYet("g")), grpc_status(GraphNotLoadedYet("g"))) == (
        500,
        grpc.StatusCode.UNAVAILABLE,
    )
    assert (http_status(GraphRetired("g")), grpc_status(GraphRetired("g"))) == (
        500,
        grpc.StatusCode.NOT_FOUND,
    )
    assert (http_status(PipelineNotLoadedYet("p")), grpc_status(PipelineNotLoadedYet("p"))) == (
        404,
        grpc.StatusCode.UNAVAILABLE,
    )
    assert (http_status(PipelineRetired("p")), grpc_status(PipelineRetired("p"))) == (
        404,
        grpc.StatusCode.NOT_FOUND,
    )
