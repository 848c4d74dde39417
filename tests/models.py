"""Test models made with OpenVINO's opset API, and in-process reference inference.

Every served output in the tests is compared with :func:`reference` on the same input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import ml_dtypes
import numpy as np
import openvino as ov
from openvino import opset13 as ops

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _name(node: ov.Node, name: str) -> ov.Node:
    node.output(0).get_tensor().set_names({name})
    node.set_friendly_name(name)
    return node


def identity(dtype: type = np.float32, shape: Sequence[int] = (1, 10), name: str = "identity") -> ov.Model:
    """out = in (+0 for numbers), one input ``in``, one output ``out``."""
    param = _name(ops.parameter(list(shape), ov.Type(np.dtype(dtype)), name="in"), "in")
    is_bool = np.dtype(dtype) == np.bool_
    result = ops.logical_and(param, param) if is_bool else ops.convert(param, ov.Type(np.dtype(dtype)))
    _name(result, "out")
    return ov.Model([result], [param], name)


def string_identity() -> ov.Model:
    """A model whose string input comes back unchanged."""
    param = _name(ops.parameter([-1], ov.Type.string, name="text"), "text")
    return ov.Model([ops.result(param)], [param], "strings")


def add_scaled(shape: Sequence[int] = (-1, 4), dtype: type = np.float32, scale: float = 2.0) -> ov.Model:
    """y = x * scale + 1 with a dynamic batch: input ``x``, output ``y``."""
    t = ov.Type(np.dtype(dtype))
    x = _name(ops.parameter(list(shape), t, name="x"), "x")
    y = ops.add(
        ops.multiply(x, ops.constant(np.array(scale, dtype=dtype))), ops.constant(np.array(1, dtype=dtype))
    )
    _name(y, "y")
    return ov.Model([y], [x], "add_scaled")


def multi_io() -> ov.Model:
    """Two inputs (``a`` FP32 [1,3], ``b`` INT32 [1,3]) and two outputs: ``sum`` FP32, ``prod`` INT32."""
    a = _name(ops.parameter([1, 3], ov.Type.f32, name="a"), "a")
    b = _name(ops.parameter([1, 3], ov.Type.i32, name="b"), "b")
    s = _name(ops.add(a, ops.convert(b, ov.Type.f32)), "sum")
    p = _name(ops.multiply(b, ops.constant(np.array(3, dtype=np.int32))), "prod")
    return ov.Model([s, p], [a, b], "multi_io")


def small_cnn(seed: int = 0, channels: int = 8, size: int = 32, input_scale: float = 1.0) -> ov.Model:
    """Conv-ReLU-pool-FC-softmax on NCHW [-1,3,size,size] input ``image``, output ``probs`` [N,10].

    ``input_scale`` multiplies the input first (1/255 keeps 0-255 image pixels from saturating the softmax).
    """
    rng = np.random.default_rng(seed)
    x = _name(ops.parameter([-1, 3, size, size], ov.Type.f32, name="image"), "image")
    w = ops.constant(rng.standard_normal((channels, 3, 3, 3)).astype(np.float32) * 0.2)
    scaled = x if input_scale == 1.0 else ops.multiply(x, ops.constant(np.float32(input_scale)))
    conv = ops.convolution(scaled, w, [1, 1], [1, 1], [1, 1], [1, 1])
    relu = ops.relu(conv)
    pool = ops.reduce_mean(relu, ops.constant(np.array([2, 3], dtype=np.int64)), keep_dims=False)
    fc = ops.matmul(pool, ops.constant(rng.standard_normal((channels, 10)).astype(np.float32)), False, False)
    probs = _name(ops.softmax(fc, 1), "probs")
    return ov.Model([probs], [x], "small_cnn")


def slow(size: int = 384, layers: int = 24) -> ov.Model:
    """A deliberately slow model: ``layers`` chained [size,size] matmuls with tanh; input ``x``, output ``y``."""
    rng = np.random.default_rng(3)
    x = _name(ops.parameter([size, size], ov.Type.f32, name="x"), "x")
    node: ov.Node = x
    for _ in range(layers):
        weight = ops.constant((rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32))
        node = ops.tanh(ops.matmul(node, weight, False, False))
    return ov.Model([_name(node, "y")], [x], "slow")


def div32(seed: int = 0) -> ov.Model:
    """A detector-like shape rule: input ``image`` [?,3,?,?] runs only when H and W are multiples of 32.

    A 32x32 max-pool (floor), a nearest x32 upsample and a skip connection that adds the
    input back (``y`` = image + upsample(pool(image * w))): the two branches of the add only
    match when the pooling lost nothing. A batch of zero is refused by the pooling layer.
    """
    from openvino import opset11

    w = np.random.default_rng(seed).uniform(0.5, 1.5, (1, 3, 1, 1)).astype(np.float32)
    x = _name(ops.parameter([-1, 3, -1, -1], ov.Type.f32, name="image"), "image")
    pooled = ops.max_pool(
        ops.multiply(x, ops.constant(w)), [32, 32], [1, 1], [0, 0], [0, 0], [32, 32], rounding_type="floor"
    ).output(0)
    scales = ops.constant(np.array([32.0, 32.0], np.float32))
    axes = ops.constant(np.array([2, 3], np.int64))
    up = opset11.interpolate(pooled, scales, "nearest", "scales", axes=axes)
    return ov.Model([_name(ops.add(x, up), "y")], [x], "div32")


def pooled_classifier(seed: int = 0, classes: int = 5) -> ov.Model:
    """A classifier on input ``image`` [?,3,?,?]: conv stride 2, max-pool 3x3 stride 2, global average, FC.

    Like an ONNX classifier exported with dynamic axes: it takes any image of at least
    about 7x7, but not the 1x1 a warm-up on the smallest shape would feed it, nor a batch
    of zero. Output ``logits`` [N, classes].
    """
    rng = np.random.default_rng(seed)
    x = _name(ops.parameter([-1, 3, -1, -1], ov.Type.f32, name="image"), "image")
    w = ops.constant(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3)
    conv = ops.relu(ops.convolution(x, w, [2, 2], [0, 0], [0, 0], [1, 1]))
    pool = ops.max_pool(conv, [2, 2], [3, 3], [0, 0], [0, 0], [3, 3], rounding_type="floor").output(0)
    gap = ops.reduce_mean(pool, ops.constant(np.array([2, 3], dtype=np.int64)), keep_dims=False)
    fc = ops.matmul(gap, ops.constant(rng.standard_normal((8, classes)).astype(np.float32)), False, False)
    return ov.Model([_name(fc, "logits")], [x], "pooled_classifier")


def bf16_scale() -> ov.Model:
    """BF16 in and out: input ``x`` [-1,4] BF16; ``y`` (BF16) = x * 3 + 0.5, ``y_f32`` (FP32) = x * 2."""
    x = _name(ops.parameter([-1, 4], ov.Type.bf16, name="x"), "x")
    wide = ops.convert(x, ov.Type.f32)
    scaled = ops.add(ops.multiply(wide, ops.constant(np.float32(3))), ops.constant(np.float32(0.5)))
    y = _name(ops.convert(scaled, ov.Type.bf16), "y")
    y_f32 = _name(ops.multiply(wide, ops.constant(np.float32(2))), "y_f32")
    return ov.Model([y, y_f32], [x], "bf16_scale")


def pixels(dtype: type = np.uint8, shape: Sequence[int] = (1, 24, 32, 3)) -> ov.Model:
    """An image probe: ``pixels`` (FP32) is the NHWC input ``image`` as the model received it."""
    image = _name(ops.parameter(list(shape), ov.Type(np.dtype(dtype)), name="image"), "image")
    return ov.Model([_name(ops.convert(image, ov.Type.f32), "pixels")], [image], "pixels")


def text_rows() -> ov.Model:
    """A 2-D U8 input ``text`` (strings arrive as zero-padded rows).

    ``lengths`` (I32) counts each row's non-zero bytes; ``shifted_string`` (U8 [N, L], sent back
    as strings because of its name) adds 1 to every non-zero byte ("abc" -> "bcd").
    """
    text = _name(ops.parameter([-1, -1], ov.Type.u8, name="text"), "text")
    nonzero = ops.not_equal(text, ops.constant(np.uint8(0)))
    lengths = ops.reduce_sum(ops.convert(nonzero, ov.Type.i32), ops.constant(np.array([1], np.int64)), False)
    shifted = ops.select(nonzero, ops.add(text, ops.constant(np.uint8(1))), text)
    return ov.Model([_name(lengths, "lengths"), _name(shifted, "shifted_string")], [text], "text_rows")


def save(model: ov.Model, base_path: Path, versions: Iterable[int] = (1,)) -> Path:
    """Write ``model`` as IR to ``base_path/<v>/model.xml`` for each version; returns base_path."""
    for version in versions:
        target = base_path / str(version)
        target.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, str(target / "model.xml"), compress_to_fp16=False)
    return base_path


def model_file(base_path: Path, version: int = 1) -> Path:
    return base_path / str(version) / "model.xml"


def reference(model_file: Path | str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the model in-process (f32 precision) and return outputs by their first name.

    BF16 inputs and outputs are ``ml_dtypes.bfloat16`` arrays (OpenVINO itself shows bf16
    data as float16 views of the bits, so the bits are copied in and out).
    """
    core = ov.Core()
    compiled = core.compile_model(str(model_file), "CPU", F32)
    request = compiled.create_infer_request()
    names = [p.get_any_name() for p in compiled.inputs]
    plain: dict[int, np.ndarray] = {}
    for key, value in inputs.items():
        index = names.index(key)
        if compiled.inputs[index].get_element_type() == ov.Type.bf16:
            tensor = request.get_input_tensor(index)
            tensor.shape = list(value.shape)
            tensor.data.view(np.uint16)[...] = value.view(np.uint16)
        else:
            plain[index] = value.astype(np.bytes_) if value.dtype == object else value
    request.infer(plain)
    out: dict[str, np.ndarray] = {}
    for i, port in enumerate(compiled.outputs):
        tensor = request.get_output_tensor(i)
        if port.get_element_type() == ov.Type.string:
            out[port.get_any_name()] = np.array(list(tensor.bytes_data), dtype=object)
        elif port.get_element_type() == ov.Type.bf16:
            out[port.get_any_name()] = tensor.data.view(np.uint16).copy().view(ml_dtypes.bfloat16)
        else:
            out[port.get_any_name()] = tensor.data.copy()
    return out


#: name -> (builder, versions): the repository every integration test serves.
CATALOG: dict[str, tuple[Callable[[], ov.Model], tuple[int, ...]]] = {
    "identity_fp32": (lambda: identity(np.float32, (1, 10)), (1,)),
    "identity_fp16": (lambda: identity(np.float16, (2, 3)), (1,)),
    "identity_fp64": (lambda: identity(np.float64, (2, 3)), (1,)),
    "identity_int8": (lambda: identity(np.int8, (2, 3)), (1,)),
    "identity_int16": (lambda: identity(np.int16, (2, 3)), (1,)),
    "identity_int32": (lambda: identity(np.int32, (2, 3)), (1,)),
    "identity_int64": (lambda: identity(np.int64, (2, 3)), (1,)),
    "identity_uint8": (lambda: identity(np.uint8, (2, 3)), (1,)),
    "identity_uint16": (lambda: identity(np.uint16, (2, 3)), (1,)),
    "identity_uint32": (lambda: identity(np.uint32, (2, 3)), (1,)),
    "identity_uint64": (lambda: identity(np.uint64, (2, 3)), (1,)),
    "identity_bool": (lambda: identity(np.bool_, (2, 3)), (1,)),
    "strings": (string_identity, (1,)),
    "dynamic": (add_scaled, (1,)),
    "versions": (add_scaled, (1, 2)),  # two versions on disk; policy decides what is served
    "multi_io": (multi_io, (1,)),
    "cnn": (small_cnn, (1,)),
    "bf16": (bf16_scale, (1,)),
    # image inputs (CATALOG_CONFIG gives them their layouts and shapes)
    "cnn_nhwc": (lambda: small_cnn(input_scale=1 / 255), (1,)),
    "cnn_nhwc_dynamic": (lambda: small_cnn(input_scale=1 / 255), (1,)),
    "cnn_nchw": (lambda: small_cnn(input_scale=1 / 255), (1,)),
    "pixels": (pixels, (1,)),
    "pixels_gray": (lambda: pixels(np.float32, (1, -1, -1, 1)), (1,)),
    "pixels_i64": (lambda: pixels(np.int64, (1, 24, 32, 3)), (1,)),
    "text_rows": (text_rows, (1,)),
}

#: config.json keys the catalog's models are served with (besides the defaults of write_config)
CATALOG_CONFIG: dict[str, dict[str, object]] = {
    "versions": {"model_version_policy": {"all": {}}},
    "cnn_nhwc": {"layout": "NHWC:NCHW", "batch_size": "1"},  # static: images are resized
    "cnn_nhwc_dynamic": {"layout": "NHWC:NCHW"},  # -1 batch: images must have the model's size
    "cnn_nchw": {"layout": "NCHW"},  # refuses images
    "pixels": {"layout": "NHWC"},
    "pixels_gray": {"layout": "NHWC"},
    "pixels_i64": {"layout": "NHWC"},
}


def build_repository(root: Path, names: Iterable[str] | None = None) -> dict[str, Path]:
    """Write the catalog's models under ``root/<name>``; returns name -> base path."""
    paths = {}
    for name in names or CATALOG:
        builder, versions = CATALOG[name]
        paths[name] = save(builder(), root / name, versions)
    # version 2 of "versions" computes differently, so answers tell which version ran
    if "versions" in paths:
        ov.save_model(
            add_scaled(scale=3.0), str(paths["versions"] / "2" / "model.xml"), compress_to_fp16=False
        )
    return paths


def write_config(
    path: Path, paths: Mapping[str, Path | str], extra: Mapping[str, Mapping[str, object]] | None = None
) -> Path:
    """An OVMS config.json serving ``paths`` (directories or remote URLs such as ``s3://...``) with
    f32 precision; ``extra[name]`` adds keys."""
    entries = []
    for name, base in paths.items():
        cfg: dict[str, object] = {"name": name, "base_path": str(base), "plugin_config": dict(F32)}
        cfg.update((extra or {}).get(name, {}))
        entries.append({"config": cfg})
    path.write_text(json.dumps({"model_config_list": entries}, indent=2))
    return path


# --- OVMS 2026 preprocessing (issue 14) ---------------------------------------------------------


def channels_model() -> ov.Model:
    """NCHW [1,3,4,5] FP32 ``x`` -> ``y`` = x * [1, 10, 100] per channel (so channel order shows)."""
    x = _name(ops.parameter([1, 3, 4, 5], ov.Type.f32, name="x"), "x")
    y = ops.multiply(x, ops.constant(np.array([1.0, 10.0, 100.0], np.float32).reshape(1, 3, 1, 1)))
    return ov.Model([_name(y, "y")], [x], "channels")


def preprocessed_reference(model: Path, rgb: np.ndarray, mean: object, scale: object) -> np.ndarray:
    """What a server with OVMS's preprocessing must answer: the raw model in-process on the input
    preprocessed by hand (RGB -> BGR, uint8 -> f32, minus mean, divided by scale, NHWC -> NCHW)."""
    x = (rgb[..., ::-1].astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(scale, np.float32)
    return reference(model, {"x": x.transpose(0, 3, 1, 2)})["y"]
