"""OpenVINO element types and layouts as ovserve specs, and BF16 through a real compiled model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import ml_dtypes
import models
import numpy as np
import openvino as ov
import pytest

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.types import layout_of, spec_of
from ovserve.config.syntax import parse_layout
from ovserve.config.types import ModelConfig
from ovserve.tensors import BF16_DTYPE, bf16_from_float


def test_bf16_tensors_get_the_bf16_dtype() -> None:
    model = models.bf16_scale()
    assert spec_of(model.inputs[0], "x").dtype == BF16_DTYPE
    assert spec_of(model.inputs[0], "x").datatype == "BF16"
    assert [spec_of(p, "o").dtype for p in model.outputs] == [BF16_DTYPE, np.dtype(np.float32)]


@pytest.mark.parametrize(
    ("tensor", "model_layout", "expected"),
    [("NHWC", "NCHW", "NHWC"), (None, "NCHW", "NCHW"), (None, "N...", "N..."), (None, None, "")],
)
def test_layout_of_an_input_is_what_clients_send(
    tensor: str | None, model_layout: str | None, expected: str
) -> None:
    model = models.small_cnn()
    if model_layout is not None:
        ppp = ov.preprocess.PrePostProcessor(model)
        if tensor is not None:
            ppp.input(0).tensor().set_layout(ov.Layout(tensor))
        ppp.input(0).model().set_layout(ov.Layout(model_layout))
        model = ppp.build()
    assert layout_of(model.inputs[0]) == expected
    assert spec_of(model.inputs[0], "image").layout == expected
    assert layout_of(model.outputs[0]) == ""


def test_loaded_model_reports_the_configured_layout(tmp_path: Path) -> None:
    base = models.save(models.small_cnn(), tmp_path / "cnn")
    cfg = ModelConfig(
        name="m", base_path=str(base), plugin_config=models.F32, layout=parse_layout("NHWC:NCHW", "l")
    )
    servable = OpenVINOEngine().loader(cfg, 1, base / "1").load()
    assert servable.inputs["image"].layout == "NHWC"
    assert servable.inputs["image"].shape == (-1, 32, 32, 3)


def test_bf16_model_runs_on_the_bits_and_matches_in_process_openvino(tmp_path: Path) -> None:
    base = models.save(models.bf16_scale(), tmp_path / "bf16")
    cfg = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32)
    servable = OpenVINOEngine().loader(cfg, 1, base / "1").load()
    x = bf16_from_float([[1.5, -2.0, 3.25, 100.5], [0.0, 1e30, -7.0, 0.125]])
    out = asyncio.run(servable.infer({"x": x}))
    expected = models.reference(models.model_file(base), {"x": x.view(ml_dtypes.bfloat16)})
    assert out["y"].dtype == BF16_DTYPE
    np.testing.assert_array_equal(out["y"].view(np.uint16), expected["y"].view(np.uint16))
    np.testing.assert_array_equal(out["y_f32"], expected["y_f32"])
    # and the values are the model's arithmetic: y = x * 3 + 0.5 rounded to BF16
    arithmetic = bf16_from_float(x.view(ml_dtypes.bfloat16).astype(np.float32) * 3 + 0.5)
    np.testing.assert_array_equal(out["y"].view(np.uint16), arithmetic.view(np.uint16))
