"""Inference that OpenVINO fails: every call ends in an answer, and the infer request goes back.

Two kinds of failure, with nireq 1 so that a request lost from the pool would hang the
next call:

- real ones: a model whose layers need H and W divisible by 32 (``models.div32``), sent
  50x50 and a batch of zero; OpenVINO refuses them inside the inference;
- injected ones: a proxy around the real OpenVINO infer request raises at one step
  (filling an input, starting, the run itself, reading an output) and otherwise
  delegates to the real request.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import models
import numpy as np
import openvino as ov
import pytest

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.servable import OpenVINOServable
from ovserve.backends.openvino.shapes import LIGHT_LIMIT, ShapeCheck
from ovserve.backends.openvino.types import spec_of
from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.errors import BackendError, Code, ServingError, ShapeMismatch

GOOD = np.random.default_rng(1).uniform(0, 1, (1, 3, 64, 64)).astype(np.float32)


def load_div32(tmp_path: Path, inline_us: int = 0) -> tuple[OpenVINOServable, Path]:
    base = models.save(models.div32(), tmp_path / "div32")
    config = ModelConfig(name="div32", base_path=str(base), plugin_config=models.F32, nireq=1)
    return OpenVINOEngine(inline_inference_us=inline_us).loader(config, 1, base / "1").load(), base


def expected(base: Path, x: np.ndarray) -> np.ndarray:
    return models.reference(models.model_file(base), {"image": x})["y"]


@pytest.mark.parametrize("inline_us", [0, 1_000_000])
def test_a_shape_the_model_refuses_is_answered_400_and_the_model_keeps_serving(
    tmp_path: Path, inline_us: int
) -> None:
    servable, base = load_div32(tmp_path, inline_us)

    async def scenario() -> None:
        first = await servable.infer({"image": GOOD})  # the shape OpenVINO's graph remembers
        np.testing.assert_allclose(first["y"], expected(base, GOOD), rtol=1e-6)
        for bad in ((1, 3, 50, 50), (0, 3, 64, 64), (1, 3, 50, 50)):  # again: answered from the memo
            with pytest.raises(ShapeMismatch) as caught:
                await asyncio.wait_for(servable.infer({"image": np.ones(bad, np.float32)}), 60)
            assert caught.value.code is Code.INVALID_ARGUMENT
            text = caught.value.message
            assert "div32 version 1" in text and f"image {list(bad)}" in text, text
            assert ("layer y refuses it" in text) if bad[0] else ("Batch size is zero" in text), text
            assert "src/" not in text
            assert servable.infer_requests_in_use == 0
        # the same shape as before the bad ones: OpenVINO's CPU plugin would fail it now
        again = await asyncio.wait_for(servable.infer({"image": GOOD}), 60)
        np.testing.assert_allclose(again["y"], expected(base, GOOD), rtol=1e-6)

    asyncio.run(scenario())


def test_an_error_inside_openvino_reaches_the_caller_as_500_and_frees_the_request(tmp_path: Path) -> None:
    servable, base = load_div32(tmp_path)
    servable._shape_check = None  # let the bad shape reach OpenVINO's infer request (the callback path)

    async def scenario() -> None:
        with pytest.raises(BackendError) as caught:
            await asyncio.wait_for(servable.infer({"image": np.ones((1, 3, 50, 50), np.float32)}), 60)
        assert caught.value.code is Code.INTERNAL
        text = caught.value.message
        assert text.startswith("Internal inference error - model div32 version 1:"), text
        assert "Add node with name 'y'" in text and "src/" not in text, text
        assert servable.infer_requests_in_use == 0
        other = np.ones((2, 3, 32, 96), np.float32)  # nireq 1: the only request came back
        out = await asyncio.wait_for(servable.infer({"image": other}), 60)
        np.testing.assert_allclose(out["y"], expected(base, other), rtol=1e-6)

    asyncio.run(scenario())


class Injected(RuntimeError):
    pass


class FaultyRequest:
    """A real ``ov.InferRequest`` that raises at the step named in ``plan`` (once)."""

    def __init__(self, real: ov.InferRequest, plan: dict[str, str]) -> None:
        self.real = real
        self.plan = plan

    def _maybe_fail(self, step: str) -> None:
        if self.plan.get("step") == step:
            self.plan.clear()
            raise Injected(f"Exception from src/inference/x.cpp:1:\ninjected failure at {step}")

    def get_input_tensor(self, index: int) -> ov.Tensor:
        self._maybe_fail("fill")
        return self.real.get_input_tensor(index)

    def start_async(self) -> None:
        self._maybe_fail("start")
        self.real.start_async()

    def wait(self) -> None:
        self.real.wait()
        self._maybe_fail("run")  # what OpenVINO does when the run failed: wait() raises, no callback

    def infer(self) -> Any:
        self._maybe_fail("inline run")
        return self.real.infer()

    def get_output_tensor(self, index: int) -> ov.Tensor:
        self._maybe_fail("output")
        return self.real.get_output_tensor(index)


class FaultyCompiled:
    """A real ``ov.CompiledModel`` whose infer requests are :class:`FaultyRequest` s."""

    def __init__(self, real: ov.CompiledModel, plan: dict[str, str]) -> None:
        self.real = real
        self.plan = plan

    def create_infer_request(self) -> FaultyRequest:
        return FaultyRequest(self.real.create_infer_request(), self.plan)

    def get_property(self, name: str) -> Any:
        return self.real.get_property(name)


@pytest.mark.parametrize(
    ("step", "inline_us"),
    [
        ("fill", 0),
        ("start", 0),
        ("run", 0),
        ("output", 0),
        ("fill", 10**6),
        ("inline run", 10**6),
        ("output", 10**6),
    ],
)
def test_a_fault_at_any_step_answers_and_the_request_goes_back(step: str, inline_us: int) -> None:
    plan: dict[str, str] = {}
    model = models.add_scaled((1, 4))
    compiled = ov.Core().compile_model(model, "CPU", models.F32)
    inputs = [spec_of(model.inputs[0], "x")]
    outputs = [spec_of(model.outputs[0], "y")]
    servable = OpenVINOServable(
        ServableId("faulty", 3),
        FaultyCompiled(compiled, plan),
        inputs,
        outputs,
        1,
        inline_us=inline_us,  # type: ignore[arg-type]
    )
    assert servable.warm_up()  # static shapes: warmed up, and the inline estimate measured
    x = np.arange(4, dtype=np.float32).reshape(1, 4)

    async def scenario() -> None:
        plan["step"] = step
        with pytest.raises(BackendError) as caught:
            await asyncio.wait_for(servable.infer({"x": x}), 60)
        text = caught.value.message
        assert text == f"Internal inference error - model faulty version 3: injected failure at {step}"
        assert servable.infer_requests_in_use == 0
        assert not plan  # the fault did happen
        out = await asyncio.wait_for(servable.infer({"x": x}), 60)
        np.testing.assert_allclose(out["y"], x * 2 + 1, rtol=1e-6)

    asyncio.run(scenario())


def test_a_caller_that_leaves_mid_run_gives_the_request_back_when_it_ends(tmp_path: Path) -> None:
    base = models.save(models.slow(size=256, layers=8), tmp_path / "slow")
    config = ModelConfig(name="slow", base_path=str(base), plugin_config=models.F32, nireq=1)
    servable = OpenVINOEngine().loader(config, 1, base / "1").load()
    x = np.ones((256, 256), np.float32)

    async def scenario() -> None:
        leaving = asyncio.ensure_future(servable.infer({"x": x}))
        while servable.infer_requests_in_use == 0:  # until the run started
            await asyncio.sleep(0)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        out = await asyncio.wait_for(servable.infer({"x": x}), 60)  # waits for the request, then runs
        np.testing.assert_allclose(
            out["y"], models.reference(models.model_file(base), {"x": x})["y"], rtol=1e-5
        )
        assert servable.infer_requests_in_use == 0

    asyncio.run(scenario())


def test_a_dynamic_model_is_not_warmed_up_on_a_shape_it_may_refuse(tmp_path: Path) -> None:
    base = models.save(models.pooled_classifier(), tmp_path / "cls")
    config = ModelConfig(name="cls", base_path=str(base), plugin_config=models.F32)
    servable = OpenVINOEngine(inline_inference_us=300).loader(config, 1, base / "1").load()  # used to fail
    assert not servable.warm_up()
    image = np.random.default_rng(2).uniform(0, 1, (2, 3, 224, 224)).astype(np.float32)
    out = asyncio.run(servable.infer({"image": image}))
    expected_logits = models.reference(models.model_file(base), {"image": image})["logits"]
    np.testing.assert_allclose(out["logits"], expected_logits, rtol=1e-5, atol=1e-5)
    with pytest.raises(ShapeMismatch, match=r"cls version 1 cannot run inputs of shape image \[1, 3, 1, 1\]"):
        asyncio.run(servable.infer({"image": np.ones((1, 3, 1, 1), np.float32)}))


def test_a_failing_warm_up_is_logged_and_the_version_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: OpenVINOServable) -> bool:
        raise RuntimeError("Exception from src/x.cpp:1:\nwarm-up exploded")

    monkeypatch.setattr(OpenVINOServable, "warm_up", broken)
    base = models.save(models.add_scaled((1, 4)), tmp_path / "m")
    config = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32)
    servable = OpenVINOEngine().loader(config, 1, base / "1").load()
    assert "warm-up inference on zeros failed (serving anyway): warm-up exploded" in caplog.text
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_allclose(asyncio.run(servable.infer({"x": x}))["y"], x * 2 + 1, rtol=1e-6)


def test_every_failure_is_a_serving_error_with_the_model_named(tmp_path: Path) -> None:
    servable, _ = load_div32(tmp_path)
    with pytest.raises(ServingError, match="div32"):
        asyncio.run(servable.infer({"image": np.ones((1, 3, 33, 64), np.float32)}))


def test_the_shape_check_keeps_no_weights_and_still_refuses_bad_shapes() -> None:
    model = models.slow(size=64, layers=2)  # two 64x64 weight matrices
    check = ShapeCheck(ServableId("slow", 1), model, ["x"])
    constants = [n for n in check._model.get_ordered_ops() if n.get_type_name() == "Constant"]
    assert all(math.prod(n.get_output_shape(0)) <= LIGHT_LIMIT for n in constants)
    assert check.check(((64, 64),)) == ""
    assert check.verdict(((64, 64),)) == ""
    model.reshape({0: [-1, -1]})
    dynamic = ShapeCheck(ServableId("slow", 1), model, ["x"])
    assert dynamic.check(((5, 64),)) == ""
    assert "MatMul" in dynamic.check(((5, 32),)) or "refuses" in dynamic.check(((5, 32),))
    assert dynamic.verdict(((7, 7),)) is None  # never checked


def onnx_classifier(path: Path) -> Path:
    """An ONNX classifier as exporters write them: input ``image`` [N,3,H,W] (named dims), pooling."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(4)
    weights = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, "conv_w"),
        numpy_helper.from_array(rng.standard_normal((8, 5)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(np.zeros(5, np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "conv_w"], ["conv"], strides=[2, 2]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("MaxPool", ["relu"], ["pool"], kernel_shape=[3, 3], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["pool"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    (path / "1").mkdir(parents=True)
    onnx.save(model, str(path / "1" / "model.onnx"))
    return path / "1" / "model.onnx"


def test_an_onnx_classifier_with_dynamic_spatial_dims_loads_and_serves(tmp_path: Path) -> None:
    file = onnx_classifier(tmp_path / "onnx")
    config = ModelConfig(name="onnx", base_path=str(tmp_path / "onnx"), plugin_config=models.F32)
    servable = OpenVINOEngine().loader(config, 1, tmp_path / "onnx" / "1").load()  # failed on the warm-up
    assert [d.size for d in servable.inputs["image"].dims] == [-1, 3, -1, -1]
    image = np.random.default_rng(5).uniform(0, 1, (2, 3, 224, 224)).astype(np.float32)
    out = asyncio.run(servable.infer({"image": image}))
    np.testing.assert_allclose(out["logits"], models.reference(file, {"image": image})["logits"], rtol=1e-5)
    with pytest.raises(
        ShapeMismatch, match=r"onnx version 1 cannot run inputs of shape image \[1, 3, 2, 2\]"
    ):
        asyncio.run(servable.infer({"image": np.ones((1, 3, 2, 2), np.float32)}))
