"""OVMS 2026 model loading in-process: preprocessing built into the model, single model files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import models
import numpy as np
import openvino as ov
import pytest

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.files import find_model_file
from ovserve.config.types import LayoutSpec, ModelConfig, PreprocessSpec
from ovserve.errors import LoadError
from ovserve.repository.local import scan_versions

NHWC = LayoutSpec("NHWC", "NCHW")


@pytest.fixture(scope="module")
def engine() -> OpenVINOEngine:
    return OpenVINOEngine()


def load(engine: OpenVINOEngine, path: Path, **kw: object):  # type: ignore[no-untyped-def]
    cfg = ModelConfig(name="m", base_path=str(path), plugin_config=models.F32, **kw)  # type: ignore[arg-type]
    return engine.loader(cfg, 1, path).load()


def test_preprocessing_runs_inside_the_compiled_model(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.channels_model(), tmp_path / "m")
    spec = PreprocessSpec(mean=(1.0, 2.0, 3.0), scale=(2.0, 4.0, 8.0), color_format=("BGR", "RGB"))
    servable = load(engine, base / "1", layout=NHWC, preprocess=spec)
    assert servable.inputs["x"].datatype == "FP32" and servable.inputs["x"].shape == (1, 4, 5, 3)
    rgb = np.random.default_rng(5).uniform(0, 255, (1, 4, 5, 3)).astype(np.float32)
    got = asyncio.run(servable.infer({"x": rgb}))["y"]
    expected = models.preprocessed_reference(base / "1" / "model.xml", rgb, [1, 2, 3], [2, 4, 8])
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (PreprocessSpec(mean=(1.0, 2.0)), "Failed to configure input preprocessing configuration"),
        (PreprocessSpec(color_format=("BGR", "NV12_2")), "splits the input into planes"),
    ],
)
def test_preprocessing_that_openvino_refuses_fails_the_load(
    engine: OpenVINOEngine, tmp_path: Path, spec: PreprocessSpec, fragment: str
) -> None:
    base = models.save(models.channels_model(), tmp_path / "m")
    with pytest.raises(LoadError, match=fragment):
        load(engine, base / "1", layout=NHWC, preprocess=spec)


def test_preprocessing_needs_a_single_input_model(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.multi_io(), tmp_path / "m")
    with pytest.raises(LoadError, match="apply to a model with one input; this one has 2"):
        load(engine, base / "1", preprocess=PreprocessSpec(scale=2.0))


def test_a_single_model_file_is_version_one(engine: OpenVINOEngine, tmp_path: Path) -> None:
    xml = tmp_path / "any_name.xml"
    ov.save_model(models.add_scaled(scale=3.0), str(xml), compress_to_fp16=False)
    assert scan_versions(xml) == {1: xml}
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(asyncio.run(load(engine, xml).infer({"x": x}))["y"], x * 3 + 1)


def test_single_model_file_checks(tmp_path: Path) -> None:
    (tmp_path / "m.xml").write_text("<net/>")
    with pytest.raises(LoadError, match=r"missing m\.bin"):
        find_model_file(tmp_path / "m.xml")
    (tmp_path / "p.pdiparams").write_bytes(b"")
    with pytest.raises(LoadError, match=r"needs p\.pdmodel and p\.pdiparams"):
        find_model_file(tmp_path / "p.pdiparams")
    (tmp_path / "p.pdmodel").write_bytes(b"")
    assert find_model_file(tmp_path / "p.pdiparams") == tmp_path / "p.pdmodel"
    (tmp_path / "saved_model.pb").write_bytes(b"")
    assert find_model_file(tmp_path / "saved_model.pb") == tmp_path
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(LoadError, match="is not a model file"):
        scan_versions(tmp_path / "notes.txt")
