"""Pipelines run in-process on real OpenVINO models (served by a real manager) and fake nodes;
every result is compared with the same steps run one after another in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import models
import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops
from pipeline_fakes import (
    FakeNode,
    Served,
    crop,
    detect,
    factory,
    no_nodes,
    node,
    pipeline,
    rows,
    spec,
    split_rows,
    total,
)

from ovserve.core.manager import ServableManager
from ovserve.errors import Code, DemultiplexerNoResults
from ovserve.pipelines.build import build_pipeline

T = TypeVar("T")


def run(tmp_path: Path, body: Callable[[Served], Awaitable[T]]) -> T:
    async def go() -> T:
        served = Served(tmp_path)
        try:
            return await body(served)
        finally:
            await served.manager.close()

    return asyncio.run(go())


def x(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_two_model_chain_matches_the_models_run_one_after_another(tmp_path: Path) -> None:
    config = pipeline(
        [
            node("first", {"x": "request:x"}, [("y", "mid")], model="a"),
            node("second", {"x": "first:mid"}, ["y"], model="b"),
        ],
        {"out": "second:y"},
    )

    async def body(served: Served) -> None:
        await served.serve("a", models.add_scaled(scale=2.0))
        await served.serve("b", models.add_scaled(scale=-3.0))
        pipe = build_pipeline(config, served.manager.acquire, no_nodes)
        data = x(2, 4)
        out = await pipe.infer({"x": data})
        expected = served.reference("b", {"x": served.reference("a", {"x": data})["y"]})["y"]
        assert list(out) == ["out"]
        np.testing.assert_allclose(out["out"], expected, rtol=1e-6)
        assert pipe.inputs["x"].shape == (-1, 4) and pipe.outputs["out"].shape == (-1, 4)

    run(tmp_path, body)


def test_parallel_branches_and_an_output_of_the_request(tmp_path: Path) -> None:
    config = pipeline(
        [
            node("left", {"x": "request:x"}, ["y"], model="a"),
            node("right", {"x": "request:x"}, ["y"], model="b"),
            node("join", {"a": "left:y", "b": "right:y"}, ["sum", "prod"], model="m"),
        ],
        {"left": "left:y", "sum": "join:sum", "prod": "join:prod"},
    )

    async def body(served: Served) -> None:
        await served.serve("a", models.add_scaled(shape=(1, 3), scale=2.0))
        await served.serve("b", models.add_scaled(shape=(1, 3), dtype=np.int32, scale=5))
        await served.serve("m", models.multi_io())
        # "x" feeds an FP32 and an INT32 input: ambiguous; so the right branch takes its own input
        bad = build_pipeline
        with pytest.raises(Exception, match="require different tensor metadata"):
            bad(config, served.manager.acquire, no_nodes)
        fixed = pipeline(
            [*config.nodes[:1], node("right", {"x": "request:n"}, ["y"], model="b"), config.nodes[2]],
            config.outputs,
            inputs=("x", "n"),
        )
        pipe = build_pipeline(fixed, served.manager.acquire, no_nodes)
        data, n = x(1, 3), np.array([[1, 2, 3]], dtype=np.int32)
        out = await pipe.infer({"x": data, "n": n})
        left = served.reference("a", {"x": data})["y"]
        right = served.reference("b", {"x": n})["y"]
        expected = served.reference("m", {"a": left, "b": right})
        np.testing.assert_allclose(out["left"], left)
        np.testing.assert_allclose(out["sum"], expected["sum"])
        np.testing.assert_array_equal(out["prod"], expected["prod"])
        assert [s.datatype for s in pipe.inputs.values()] == ["FP32", "INT32"]

    run(tmp_path, body)


def test_fixed_demultiplexer_gathered_at_response(tmp_path: Path) -> None:
    config = pipeline(
        [
            node("split", {"x": "request:x"}, ["y"], model="rows", demultiply_count=3),
            node("each", {"x": "split:y"}, ["y"], model="a"),
        ],
        {"out": "each:y", "items": "split:y"},
    )

    async def body(served: Served) -> None:
        await served.serve("rows", rows(3, 4))
        await served.serve("a", models.add_scaled(scale=2.0))
        pipe = build_pipeline(config, served.manager.acquire, no_nodes)
        assert pipe.outputs["out"].shape == (3, -1, 4)
        assert pipe.outputs["items"].shape == (3, 1, 4)
        data = x(1, 12)
        out = await pipe.infer({"x": data})
        items = served.reference("rows", {"x": data})["y"]
        expected = np.stack([served.reference("a", {"x": item})["y"] for item in items])
        np.testing.assert_allclose(out["out"], expected, rtol=1e-6)
        np.testing.assert_allclose(out["items"], items)

    run(tmp_path, body)


def test_dynamic_demultiplexer_then_gather_at_a_node(tmp_path: Path) -> None:
    config = pipeline(
        [
            node("split", {"x": "request:x"}, ["rows"], demultiply_count=-1),
            node("each", {"x": "split:rows"}, ["y"], model="a"),
            node("sum", {"items": "each:y"}, ["sum"], gather_from_node="split"),
        ],
        {"total": "sum:sum"},
    )
    splitter, adder = split_rows(), total()

    async def body(served: Served) -> None:
        await served.serve("a", models.add_scaled(scale=2.0))
        pipe = build_pipeline(config, served.manager.acquire, factory(split=splitter, sum=adder))
        assert pipe.outputs["total"].shape == (1, 4)
        for n in (1, 5):
            data = x(1, n, 4, seed=n)
            out = await pipe.infer({"x": data})
            each = [served.reference("a", {"x": data[0][i : i + 1]})["y"] for i in range(n)]
            np.testing.assert_allclose(out["total"], np.sum(each, axis=0), rtol=1e-5)
        with pytest.raises(DemultiplexerNoResults) as caught:
            await pipe.infer({"x": np.zeros((1, 0, 4), np.float32)})
        assert caught.value.code == Code.ABORTED
        assert (
            caught.value.message
            == "Pipeline execution aborted due to no content from custom node - node: split"
        )

    run(tmp_path, body)


def test_detect_crop_classify_with_dynamic_demultiplexing(tmp_path: Path) -> None:
    config = pipeline(
        [
            node("detect", {"image": "request:image", "count": "request:count"}, ["boxes"]),
            node(
                "crop",
                {"image": "request:image", "boxes": "detect:boxes"},
                ["crops"],
                kind="python",
                handler_path="crop.py",
                demultiply_count=-1,
            ),
            node("classify", {"image": "crop:crops"}, ["probs"], model="cnn"),
        ],
        {"probs": "classify:probs"},
        inputs=("image", "count"),
    )
    cropper = crop(32)

    async def body(served: Served) -> None:
        await served.serve("cnn", models.small_cnn(size=32))
        pipe = build_pipeline(config, served.manager.acquire, factory(detect=detect(), crop=cropper))
        assert pipe.inputs["image"].shape == (1, 3, -1, -1)
        assert pipe.outputs["probs"].shape == (-1, -1, 10)
        image = x(1, 3, 48, 48)
        out = await pipe.infer({"image": image, "count": np.array([4], np.int32)})
        expected = [
            served.reference(
                "cnn", {"image": np.ascontiguousarray(image[:, :, k * 2 : k * 2 + 32, k * 3 : k * 3 + 32])}
            )
            for k in range(4)
        ]
        np.testing.assert_allclose(
            out["probs"], np.stack([e["probs"] for e in expected]), rtol=1e-5, atol=1e-6
        )
        with pytest.raises(DemultiplexerNoResults):
            await pipe.infer({"image": image, "count": np.array([0], np.int32)})

    run(tmp_path, body)


def fixed_split(count: int, scale: float) -> FakeNode:
    """``x`` [1,4] -> ``y`` [count,1,4]: item k is x * scale**k."""
    return FakeNode(
        [spec("x", 1, 4)],
        [spec("y", count, 1, 4)],
        lambda i: {"y": np.stack([i["x"] * scale**k for k in range(count)])},
    )


def test_nested_demultiplexers_gathered_at_response(tmp_path: Path) -> None:
    config = pipeline(
        [
            node("outer", {"x": "request:x"}, ["y"], demultiply_count=2),
            node("inner", {"x": "outer:y"}, ["y"], demultiply_count=3),
            node("each", {"x": "inner:y"}, ["y"], model="a"),
        ],
        {"out": "each:y"},
    )

    async def body(served: Served) -> None:
        await served.serve("a", models.add_scaled(shape=(1, 4), scale=2.0))
        make = factory(outer=fixed_split(2, 10.0), inner=fixed_split(3, -1.0))
        pipe = build_pipeline(config, served.manager.acquire, make)
        assert pipe.outputs["out"].shape == (2, 3, 1, 4)
        data = x(1, 4)
        out = await pipe.infer({"x": data})
        expected = np.stack(
            [
                np.stack([served.reference("a", {"x": data * 10.0**i * (-1.0) ** k})["y"] for k in range(3)])
                for i in range(2)
            ]
        )
        np.testing.assert_allclose(out["out"], expected, rtol=1e-6)

    run(tmp_path, body)


def test_pipeline_demultiply_count_splits_the_request(tmp_path: Path) -> None:
    config = pipeline(
        [node("each", {"x": "request:x"}, ["y"], model="a")],
        {"out": "each:y", "same": "request:x"},
        demultiply_count=-1,
    )
    gathered = pipeline(
        [
            node("each", {"x": "request:x"}, ["y"], model="a"),
            node("sum", {"items": "each:y"}, ["sum"], gather_from_node="request"),
        ],
        {"total": "sum:sum"},
        demultiply_count=3,
    )

    async def body(served: Served) -> None:
        await served.serve("a", models.add_scaled(shape=(1, 4), scale=2.0))
        pipe = build_pipeline(config, served.manager.acquire, no_nodes)
        assert pipe.inputs["x"].shape == (-1, 1, 4)
        assert pipe.outputs["out"].shape == (-1, 1, 4) and pipe.outputs["same"].shape == (-1, 1, 4)
        data = x(5, 1, 4)
        out = await pipe.infer({"x": data})
        np.testing.assert_allclose(
            out["out"], np.stack([served.reference("a", {"x": d})["y"] for d in data]), rtol=1e-6
        )
        np.testing.assert_array_equal(out["same"], data)
        summed = build_pipeline(gathered, served.manager.acquire, factory(sum=total()))
        assert summed.inputs["x"].shape == (3, 1, 4) and summed.outputs["total"].shape == (1, 4)
        data = x(3, 1, 4)
        out = await summed.infer({"x": data})
        np.testing.assert_allclose(
            out["total"], sum(served.reference("a", {"x": d})["y"] for d in data), rtol=1e-5
        )

    run(tmp_path, body)


def text_rows_out() -> ov.Model:
    """``codes`` [1,-1] U8 -> ``codes_string`` [1,-1] U8 (codes + 1): clients read it as strings."""
    codes = models._name(ops.parameter([1, -1], ov.Type.u8, name="codes"), "codes")
    plus = models._name(ops.add(codes, ops.constant(np.array(1, np.uint8))), "codes_string")
    return ov.Model([plus], [codes], "rows_out")


def test_model_nodes_pass_tensors_without_the_client_side_string_conversion(tmp_path: Path) -> None:
    config = pipeline(
        [
            node("first", {"codes": "request:codes"}, [("codes_string", "mid")], model="text"),
            node("second", {"codes": "first:mid"}, ["codes_string"], model="text"),
        ],
        {"out": "second:codes_string"},
        inputs=("codes",),
    )

    async def body(served: Served) -> None:
        await served.serve("text", text_rows_out(), converting=True)
        with served.manager.acquire("text") as direct:  # a client reads strings from the model itself
            assert (await direct.infer({"codes": np.array([[96, 97]], np.uint8)}))[
                "codes_string"
            ].dtype == object
        pipe = build_pipeline(config, served.manager.acquire, no_nodes)
        out = await pipe.infer({"codes": np.array([[96, 97, 98]], np.uint8)})
        np.testing.assert_array_equal(out["out"], np.array([[98, 99, 100]], np.uint8))

    run(tmp_path, body)


def plus(value: float, *dims: int) -> FakeNode:
    """``x`` -> ``y`` = x + value (any shape of rank ``len(dims)``)."""
    return FakeNode([spec("x", *dims)], [spec("y", *dims)], lambda i: {"y": i["x"] + np.float32(value)})


def gather_sum(count: int) -> FakeNode:
    """A gathering node: ``x`` [count,1,4] -> ``y`` [1,4], the items added up."""
    return FakeNode([spec("x", count, 1, 4)], [spec("y", 1, 4)], lambda i: {"y": i["x"].sum(axis=0)})


def test_gathers_inside_out_then_again_after_a_second_demultiplexer() -> None:
    config = pipeline(
        [
            node("d1", {"x": "request:x"}, ["y"], demultiply_count=2),
            node("d2", {"x": "d1:y"}, ["y"], demultiply_count=3),
            node("each", {"x": "d2:y"}, ["y"]),
            node("g2", {"x": "each:y"}, ["y"], gather_from_node="d2"),
            node("after", {"x": "g2:y"}, ["y"]),
            node("g1", {"x": "after:y"}, ["y"], gather_from_node="d1"),
            node("d3", {"x": "g1:y"}, ["y"], demultiply_count=2),
            node("last", {"x": "d3:y"}, ["y"]),
        ],
        {"out": "last:y"},
    )
    make = factory(
        d1=fixed_split(2, 10.0),
        d2=fixed_split(3, -1.0),
        each=plus(1, 1, 4),
        g2=gather_sum(3),
        after=plus(100, 1, 4),
        g1=gather_sum(2),
        d3=fixed_split(2, 2.0),
        last=plus(-5, 1, 4),
    )
    pipe = build_pipeline(config, ServableManager().acquire, make)
    assert pipe.outputs["out"].shape == (2, 1, 4)
    data = np.arange(4, dtype=np.float32).reshape(1, 4)
    out = asyncio.run(pipe.infer({"x": data}))
    inner = [sum(data * 10.0**i * (-1.0) ** k + 1 for k in range(3)) + 100 for i in range(2)]
    total = sum(inner)
    np.testing.assert_allclose(out["out"], np.stack([total * 2.0**k - 5 for k in range(2)]))


def test_two_demultiplexers_side_by_side_each_gathered() -> None:
    config = pipeline(
        [
            node("a", {"x": "request:x"}, ["y"], demultiply_count=2),
            node("b", {"x": "request:x"}, ["y"], demultiply_count=3),
            node("ea", {"x": "a:y"}, ["y"]),
            node("eb", {"x": "b:y"}, ["y"]),
            node("ga", {"x": "ea:y"}, ["y"], gather_from_node="a"),
            node("gb", {"x": "eb:y"}, ["y"], gather_from_node="b"),
        ],
        {"a": "ga:y", "b": "gb:y"},
    )
    make = factory(
        a=fixed_split(2, 3.0),
        b=fixed_split(3, 5.0),
        ea=plus(1, 1, 4),
        eb=plus(2, 1, 4),
        ga=gather_sum(2),
        gb=gather_sum(3),
    )
    pipe = build_pipeline(config, ServableManager().acquire, make)
    data = np.ones((1, 4), np.float32)
    out = asyncio.run(pipe.infer({"x": data}))
    np.testing.assert_allclose(out["a"], sum(data * 3.0**k + 1 for k in range(2)))
    np.testing.assert_allclose(out["b"], sum(data * 5.0**k + 2 for k in range(3)))
