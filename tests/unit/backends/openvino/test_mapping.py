"""mapping_config.json: tensors renamed at load time, real models in-process, no sockets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import models
import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.mapping import MAPPING_FILE, TensorMapping, read_mapping
from ovserve.config.types import LayoutSpec, ModelConfig
from ovserve.errors import LoadError
from ovserve.tensors import Dim

RNG = np.random.default_rng(11)
A = RNG.standard_normal((1, 3)).astype(np.float32)
B = np.array([[4, -5, 6]], dtype=np.int32)


@pytest.fixture(scope="module")
def engine() -> OpenVINOEngine:
    return OpenVINOEngine()


def write_mapping(base: Path, mapping: Any, version: int = 1) -> None:
    text = mapping if isinstance(mapping, str) else json.dumps(mapping)
    (base / str(version) / MAPPING_FILE).write_text(text)


def load(engine: OpenVINOEngine, base: Path, **kw: Any) -> Any:
    cfg = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32, **kw)
    return engine.loader(cfg, 1, base / "1").load()


def infer(servable: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return asyncio.run(servable.infer(inputs))  # type: ignore[no-any-return]


# -- reading the file ------------------------------------------------------------------------
def test_no_file_means_no_renaming(tmp_path: Path) -> None:
    assert read_mapping(tmp_path) == TensorMapping()


def test_both_sections_are_optional(tmp_path: Path) -> None:
    (tmp_path / MAPPING_FILE).write_text('{"outputs": {"sum": "total"}}')
    assert read_mapping(tmp_path) == TensorMapping({}, {"sum": "total"})
    (tmp_path / MAPPING_FILE).write_text("{}")
    assert read_mapping(tmp_path) == TensorMapping()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"inputs": {"a": "x"', "is not a valid JSON file"),
        ('["a", "x"]', "must hold a JSON object"),
        ('{"inputs": {}, "extra": {}}', r"unknown keys \['extra'\]"),
        ('{"inputs": ["a", "x"]}', r"inputs must be an object of tensor name -> exposed name, not \[\"a\""),
        ('{"outputs": {"sum": 3}}', "outputs.sum must be a non-empty string, not 3"),
        ('{"inputs": {"a": ""}}', 'inputs.a must be a non-empty string, not ""'),
        ('{"inputs": {"a": null}}', "inputs.a must be a non-empty string, not null"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / MAPPING_FILE).write_text(text)
    with pytest.raises(LoadError, match=problem) as err:
        read_mapping(tmp_path)
    assert MAPPING_FILE in err.value.message


# -- loading with a mapping ------------------------------------------------------------------
def test_renamed_tensors_in_metadata_and_inference(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.multi_io(), tmp_path / "m")
    write_mapping(base, {"inputs": {"a": "first", "b": "second"}, "outputs": {"sum": "total"}})
    s = load(engine, base)
    assert list(s.inputs) == ["first", "second"]
    assert list(s.outputs) == ["total", "prod"]  # outputs not named keep their own names
    assert s.inputs["second"].datatype == "INT32" and s.outputs["total"].shape == (1, 3)
    out = infer(s, {"first": A, "second": B})
    expected = models.reference(models.model_file(base), {"a": A, "b": B})
    np.testing.assert_allclose(out["total"], expected["sum"], rtol=1e-6)
    np.testing.assert_array_equal(out["prod"], expected["prod"])


def test_swapping_two_names_is_allowed(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.multi_io(), tmp_path / "m")
    write_mapping(base, {"outputs": {"sum": "prod", "prod": "sum"}})
    s = load(engine, base)
    assert s.outputs["prod"].datatype == "FP32" and s.outputs["sum"].datatype == "INT32"
    out = infer(s, {"a": A, "b": B})
    expected = models.reference(models.model_file(base), {"a": A, "b": B})
    np.testing.assert_allclose(out["prod"], expected["sum"], rtol=1e-6)
    np.testing.assert_array_equal(out["sum"], expected["prod"])


def test_a_tensor_may_be_named_by_any_of_its_names(engine: OpenVINOEngine, tmp_path: Path) -> None:
    x = ops.parameter([1, 4], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x", "x_alias"})
    y = ops.multiply(x, ops.constant(np.array(2, dtype=np.float32)))
    y.output(0).get_tensor().set_names({"y"})
    base = models.save(ov.Model([y], [x], "aliases"), tmp_path / "m")
    write_mapping(base, {"inputs": {"x_alias": "features"}})
    s = load(engine, base)
    assert list(s.inputs) == ["features"]
    data = RNG.standard_normal((1, 4)).astype(np.float32)
    np.testing.assert_allclose(infer(s, {"features": data})["y"], data * 2, rtol=1e-6)


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ({"inputs": {"zzz": "first"}}, "the model has no input named 'zzz' \\(its inputs: a, b\\)"),
        ({"outputs": {"a": "first"}}, "the model has no output named 'a'"),
        ({"inputs": {"a": "same", "b": "same"}}, "two inputs would both be named 'same'"),
        ({"inputs": {"a": "b"}}, "two inputs would both be named 'b'"),
    ],
)
def test_mappings_that_do_not_fit_the_model_fail_the_load(
    engine: OpenVINOEngine, tmp_path: Path, mapping: dict[str, Any], problem: str
) -> None:
    base = models.save(models.multi_io(), tmp_path / "m")
    write_mapping(base, mapping)
    with pytest.raises(LoadError, match=problem):
        load(engine, base)


def test_a_tensor_renamed_twice_fails_the_load(engine: OpenVINOEngine, tmp_path: Path) -> None:
    x = ops.parameter([1, 4], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x", "x_alias"})
    y = ops.relu(x)
    y.output(0).get_tensor().set_names({"y"})
    base = models.save(ov.Model([y], [x], "aliases"), tmp_path / "m")
    write_mapping(base, {"inputs": {"x": "one", "x_alias": "two"}})
    with pytest.raises(LoadError, match="input 'x' is renamed twice"):
        load(engine, base)


def test_config_shape_and_layout_use_the_exposed_names(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.add_scaled(), tmp_path / "m")
    write_mapping(base, {"inputs": {"x": "features"}, "outputs": {"y": "scores"}})
    s = load(engine, base, shape={"features": (Dim.static(2), Dim.static(4))})
    assert s.inputs["features"].shape == (2, 4) and s.outputs["scores"].shape == (2, 4)
    data = RNG.standard_normal((2, 4)).astype(np.float32)
    expected = models.reference(models.model_file(base), {"x": data})["y"]
    np.testing.assert_allclose(infer(s, {"features": data})["scores"], expected, rtol=1e-6)

    cnn = models.save(models.small_cnn(), tmp_path / "cnn")
    write_mapping(cnn, {"inputs": {"image": "pixels"}})
    s = load(engine, cnn, layout={"pixels": LayoutSpec("NHWC", "NCHW")})
    assert s.inputs["pixels"].shape == (-1, 32, 32, 3)
    image = RNG.standard_normal((1, 3, 32, 32)).astype(np.float32)
    out = infer(s, {"pixels": np.ascontiguousarray(image.transpose(0, 2, 3, 1))})
    np.testing.assert_allclose(
        out["probs"], models.reference(models.model_file(cnn), {"image": image})["probs"], rtol=1e-5
    )


def test_config_naming_a_renamed_tensor_by_its_model_name_fails(
    engine: OpenVINOEngine, tmp_path: Path
) -> None:
    base = models.save(models.add_scaled(), tmp_path / "m")
    write_mapping(base, {"inputs": {"x": "features"}, "outputs": {"y": "scores"}})
    with pytest.raises(LoadError, match=r"Shape from config has real name\. Use mapped name instead: 'x'"):
        load(engine, base, shape={"x": (Dim.static(2), Dim.static(4))})
    with pytest.raises(LoadError, match=r"Layout from config has real name\..*'y' is exposed as 'scores'"):
        load(engine, base, layout={"y": LayoutSpec("NC")})
