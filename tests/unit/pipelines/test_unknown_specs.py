"""A node that names its tensors without describing them (a Python node: ``UNKNOWN_DTYPE``, no dims)
may demultiplex and feed other nodes: validation skips what it does not know, and the pipeline's
metadata says "unspecified" for what only such a node describes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np
from pipeline_fakes import FakeNode, factory, node, pipeline, spec

from ovserve.pipelines.build import build_pipeline
from ovserve.pipelines.nodes import UNKNOWN_DTYPE
from ovserve.tensors import TensorSpec


def unknown(name: str) -> TensorSpec:
    return TensorSpec(name, UNKNOWN_DTYPE, ())


def no_models(name: str, version: int | None) -> object:
    raise AssertionError("no model nodes here")


def split(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    x = inputs["x"]
    return {"rows": np.ascontiguousarray(x.reshape(x.shape[1], 1, 1, -1))}


def test_an_undescribed_demultiplexer_feeds_a_described_node() -> None:
    splitter = FakeNode([unknown("x")], [unknown("rows")], split)
    doubler = FakeNode([spec("a", 1, 1, 4)], [spec("b", 1, 1, 4)], lambda i: {"b": i["a"] * 2})
    config = pipeline(
        [
            node(
                "splitter",
                {"x": "request:x"},
                ["rows"],
                kind="python",
                handler_path="split.py",
                demultiply_count=-1,
            ),
            node("doubler", {"a": "splitter:rows"}, ["b"]),
        ],
        {"y": "doubler:b"},
    )
    served = build_pipeline(config, no_models, factory(splitter=splitter, doubler=doubler))  # type: ignore[arg-type]
    assert served.inputs["x"].dims and served.outputs["y"].dtype == np.float32
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    y = asyncio.run(served.infer({"x": x}))["y"]
    np.testing.assert_array_equal(y, x.reshape(3, 1, 1, 4) * 2)  # 3 items of [1,1,4], gathered at response
