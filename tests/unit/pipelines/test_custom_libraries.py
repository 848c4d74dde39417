"""custom_node_library_config_list across reloads: libraries kept, loaded, forgotten, and the nodes
built from them (C nodes compiled by tests/custom_nodes.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from custom_nodes import build

from ovserve.config.pipelines import CustomNodeLibraryConfig, NodeConfig, NodeOutput, TensorSource
from ovserve.errors import CustomNodeLibraryInvalid
from ovserve.pipelines.custom_libraries import CustomNodeLibraries
from ovserve.pipelines.custom_node import CustomNodeLibrary


@pytest.fixture(scope="module")
def add_one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("add_one", tmp_path_factory.mktemp("custom_nodes"))


def custom(name: str, library: str | None, params: dict[str, str]) -> NodeConfig:
    return NodeConfig(
        name=name,
        kind="custom",
        inputs={"input_numbers": TensorSource("request", "x")},
        outputs=(NodeOutput("output_numbers", "y"),),
        library_name=library,
        params=params,
    )


def test_nodes_are_built_from_the_configured_libraries(add_one: Path) -> None:
    libraries = CustomNodeLibraries()
    assert libraries.update([CustomNodeLibraryConfig("lib", str(add_one))]) == {}
    node = libraries.make_node(custom("plus", "lib", {"add_number": "4"}))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    result = asyncio.run(node.run({"input_numbers": x}))
    np.testing.assert_array_equal(result["output_numbers"], x + 4)
    node.close()


def test_nodes_run_on_the_executor_given(add_one: Path) -> None:
    submitted: list[str] = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            submitted.append(getattr(fn, "__name__", ""))
            return super().submit(fn, *args, **kwargs)

    with Recording(2) as pool:
        libraries = CustomNodeLibraries(executor=pool)
        libraries.update([CustomNodeLibraryConfig("lib", str(add_one))])
        node = libraries.make_node(custom("plus", "lib", {}))
        result = asyncio.run(node.run({"input_numbers": np.zeros((1, 2), np.float32)}))
        node.close()
    np.testing.assert_array_equal(result["output_numbers"], np.ones((1, 2), np.float32))
    assert submitted == ["_execute"]


def test_reloads_keep_unchanged_libraries_and_load_changed_ones(add_one: Path, tmp_path: Path) -> None:
    loads: list[str] = []

    def counted(config: CustomNodeLibraryConfig) -> CustomNodeLibrary:
        loads.append(config.name)
        return CustomNodeLibrary.load(config)

    libraries = CustomNodeLibraries(load=counted)
    libraries.update([CustomNodeLibraryConfig("a", str(add_one)), CustomNodeLibraryConfig("b", str(add_one))])
    first = libraries.library("a")
    copy = tmp_path / "copy.so"
    copy.write_bytes(add_one.read_bytes())
    libraries.update([CustomNodeLibraryConfig("a", str(add_one)), CustomNodeLibraryConfig("b", str(copy))])
    assert libraries.library("a") is first
    assert libraries.library("b").path == str(copy)
    assert loads == ["a", "b", "b"]
    libraries.update([CustomNodeLibraryConfig("b", str(copy))])
    with pytest.raises(CustomNodeLibraryInvalid, match="Custom node library not found - a"):
        libraries.library("a")


def test_a_library_that_failed_to_load_is_reported_by_the_nodes_using_it(
    add_one: Path, tmp_path: Path
) -> None:
    libraries = CustomNodeLibraries()
    failed = libraries.update(
        [CustomNodeLibraryConfig("ok", str(add_one)), CustomNodeLibraryConfig("gone", str(tmp_path / "x.so"))]
    )
    assert list(failed) == ["gone"]
    assert "Custom node library failed to open - library gone" in failed["gone"]
    with pytest.raises(
        CustomNodeLibraryInvalid,
        match="Pipeline refers to incorrect library - gone: Custom node library failed",
    ):
        libraries.make_node(custom("n", "gone", {}))
    with pytest.raises(CustomNodeLibraryInvalid, match="node n names none"):
        libraries.make_node(custom("n", None, {}))
