"""The benchmark's models, built with OpenVINO's opset API, and their request payloads.

- ``tiny``: y = 2x + 1 on a ``[1,10]`` FP32 input ``x``, output ``y``.
- ``resnet50``: ResNet-50 v1's layer structure (7x7/2 stem, max pool, bottleneck stages of
  3-4-6-3 blocks with stride on the first 1x1 conv, global average pool, 1000-way FC,
  softmax) on a ``[1,3,224,224]`` FP32 input ``image``, output ``probs`` ``[1,1000]``.
  Weights are random (batch norm folded into conv biases, as in a converted IR); about
  25.6 M parameters, ~4 GFLOPs per image like the real network.
- ``cnn``: a small CNN (four 3x3 convolutions, 32-64-64-128 channels, two of stride 2, global
  average pool, 10-way FC) on ``[1,3,96,96]`` FP32 ``image``, output ``scores`` ``[1,10]``:
  about 215 MFLOPs, ~1 ms an inference on one core here (the "1 ms model" of issue 16).

Both are saved as IR with ``compress_to_fp16=False``. Payload files for every protocol
are written next to them: the bytes each load generator sends, byte for byte.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

RESNET_SEED = 50
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (width, blocks, stride)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_name: str
    output_name: str
    shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def xml(self) -> str:
        return "1/model.xml"


TINY = ModelSpec("tiny", "x", "y", (1, 10), (1, 10))
RESNET = ModelSpec("resnet50", "image", "probs", (1, 3, 224, 224), (1, 1000))
CNN = ModelSpec("cnn", "image", "scores", (1, 3, 96, 96), (1, 10))
SPECS = {s.name: s for s in (TINY, RESNET, CNN)}
#: the small CNN's layers: (output channels, stride) of 3x3 convolutions with ReLU
CNN_LAYERS = ((32, 2), (64, 1), (64, 2), (128, 1))
CNN_SEED = 1


def _named(node: ov.Node, name: str) -> ov.Node:
    node.output(0).get_tensor().set_names({name})
    node.set_friendly_name(name)
    return node


def tiny() -> ov.Model:
    x = _named(ops.parameter(list(TINY.shape), ov.Type.f32, name="x"), "x")
    y = ops.add(
        ops.multiply(x, ops.constant(np.array(2, dtype=np.float32))), ops.constant(np.array(1, np.float32))
    )
    return ov.Model([_named(y, "y")], [x], "tiny")


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def conv(
        self, x: ov.Node, cin: int, cout: int, k: int, stride: int, relu: bool, gain: float = 1.0
    ) -> ov.Node:
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = (self.rng.standard_normal((cout, cin, k, k), dtype=np.float32) * std).astype(np.float32)
        b = (self.rng.standard_normal((1, cout, 1, 1), dtype=np.float32) * 0.01).astype(np.float32)
        pad = k // 2
        y = ops.add(
            ops.convolution(x, ops.constant(w), [stride] * 2, [pad] * 2, [pad] * 2, [1, 1]), ops.constant(b)
        )
        return ops.relu(y) if relu else y

    def bottleneck(self, x: ov.Node, cin: int, width: int, stride: int) -> ov.Node:
        cout = width * 4
        y = self.conv(x, cin, width, 1, stride, relu=True)  # v1: the stride sits on the first 1x1
        y = self.conv(y, width, width, 3, 1, relu=True)
        # a small gain on the last conv keeps the residual sum's scale bounded over 16 blocks
        y = self.conv(y, width, cout, 1, 1, relu=False, gain=0.2)
        shortcut = self.conv(x, cin, cout, 1, stride, relu=False) if (stride != 1 or cin != cout) else x
        return ops.relu(ops.add(y, shortcut))


def resnet50(seed: int = RESNET_SEED) -> ov.Model:
    b = _Builder(seed)
    image = _named(ops.parameter(list(RESNET.shape), ov.Type.f32, name="image"), "image")
    y = b.conv(image, 3, 64, 7, 2, relu=True)
    y = ops.max_pool(y, [2, 2], [1, 1], [1, 1], [1, 1], [3, 3]).output(0)
    cin = 64
    for width, blocks, stride in STAGES:
        for i in range(blocks):
            y = b.bottleneck(y, cin, width, stride if i == 0 else 1)
            cin = width * 4
    pooled = ops.reduce_mean(y, ops.constant(np.array([2, 3], dtype=np.int64)), keep_dims=False)
    w = (b.rng.standard_normal((cin, 1000), dtype=np.float32) * np.sqrt(1.0 / cin)).astype(np.float32)
    logits = ops.add(
        ops.matmul(pooled, ops.constant(w), False, False), ops.constant(np.zeros(1000, np.float32))
    )
    probs = _named(ops.softmax(logits, 1), "probs")
    return ov.Model([probs], [image], "resnet50")


def cnn(seed: int = CNN_SEED) -> ov.Model:
    """A small CNN whose one inference costs about 1 ms on one core of the bench machine (about
    215 MFLOPs: four 3x3 convolutions with ReLU, global average pool, a 10-way FC)."""
    b = _Builder(seed)
    image = _named(ops.parameter(list(CNN.shape), ov.Type.f32, name="image"), "image")
    y: ov.Node = image
    cin = CNN.shape[1]
    for cout, stride in CNN_LAYERS:
        y = b.conv(y, cin, cout, 3, stride, relu=True)
        cin = cout
    pooled = ops.reduce_mean(y, ops.constant(np.array([2, 3], dtype=np.int64)), keep_dims=False)
    w = (b.rng.standard_normal((cin, 10), dtype=np.float32) * np.sqrt(1.0 / cin)).astype(np.float32)
    scores = _named(ops.matmul(pooled, ops.constant(w), False, False), "scores")
    return ov.Model([scores], [image], "cnn")


def sample_input(spec: ModelSpec) -> np.ndarray:
    """A fixed input whose values are exact in FP32 and short in JSON (multiples of 1/64)."""
    if spec is TINY:
        return np.arange(10, dtype=np.float32).reshape(TINY.shape) / 4
    rng = np.random.default_rng(1)
    return (rng.integers(-128, 128, size=spec.shape) / 64).astype(np.float32)


def build(work: Path) -> dict[str, Path]:
    """Write the models under ``work/models/<name>/1/model.xml`` (kept when already there)."""
    paths = {}
    recipes = {
        "tiny": f"tiny seed={RESNET_SEED} stages={STAGES}",
        "resnet50": f"resnet50 seed={RESNET_SEED} stages={STAGES}",
        "cnn": f"cnn seed={CNN_SEED} layers={CNN_LAYERS} shape={CNN.shape}",
    }
    for spec, builder in ((TINY, tiny), (RESNET, resnet50), (CNN, cnn)):
        base = work / "models" / spec.name
        xml = base / spec.xml
        stamp = base / ".stamp"
        tag = recipes[spec.name]
        if not (xml.exists() and stamp.exists() and stamp.read_text() == tag):
            xml.parent.mkdir(parents=True, exist_ok=True)
            ov.save_model(builder(), str(xml), compress_to_fp16=False)
            stamp.write_text(tag)
        paths[spec.name] = base
    return paths


def _json_numbers(a: np.ndarray) -> str:
    # float() of a float32 multiple of 1/64 prints exactly and briefly
    return json.dumps(a.astype(np.float64).tolist(), separators=(",", ":"))


def grpc_frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message (uncompressed), as sent in an HTTP/2 DATA frame."""
    return struct.pack(">BI", 0, len(message)) + message


def write_payloads(spec: ModelSpec, x: np.ndarray, out: Path) -> dict[str, Path]:
    """Request bodies per protocol; returns protocol -> file. v2 binary also writes ``.hlen``."""
    out.mkdir(parents=True, exist_ok=True)
    bodies = {**_rest_bodies(spec, x, out), **_grpc_bodies(spec, x)}
    names = {
        "v2_json": "v2.json",
        "v2_binary": "v2.bin",
        "own_json": "own.json",  # the peers' own APIs (BentoML, LitServe, Ray Serve)
        "tfs_rest": "tfs.json",
        "v2_grpc": "v2.grpc",
        "tfs_grpc": "tfs.grpc",
    }
    files: dict[str, Path] = {}
    for protocol, body in bodies.items():
        files[protocol] = out / f"{spec.name}.{names[protocol]}"
        files[protocol].write_bytes(body)
    return files


def _rest_bodies(spec: ModelSpec, x: np.ndarray, out: Path) -> dict[str, bytes]:
    shape = json.dumps(list(spec.shape))
    numbers = _json_numbers(x.reshape(-1))
    v2_json = (
        f'{{"inputs":[{{"name":"{spec.input_name}","shape":{shape},"datatype":"FP32","data":{numbers}}}]}}'
    )
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": spec.input_name,
                    "shape": list(spec.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": spec.output_name, "parameters": {"binary_data": True}}],
        },
        separators=(",", ":"),
    ).encode()
    (out / f"{spec.name}.v2.bin.hlen").write_text(str(len(header)))
    return {
        "v2_json": v2_json.encode(),
        "v2_binary": header + x.tobytes(),
        "own_json": f'{{"x":{_json_numbers(x)}}}'.encode(),
        "tfs_rest": f'{{"instances":{_json_numbers(x)}}}'.encode(),
    }


def _grpc_bodies(spec: ModelSpec, x: np.ndarray) -> dict[str, bytes]:
    from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2
    from tritonclient.grpc import service_pb2

    infer = service_pb2.ModelInferRequest(model_name=spec.name)
    tensor = infer.inputs.add()
    tensor.name, tensor.datatype = spec.input_name, "FP32"
    tensor.shape.extend(spec.shape)
    infer.raw_input_contents.append(x.tobytes())

    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = spec.name
    predict.inputs[spec.input_name].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in spec.shape]
            ),
            tensor_content=x.tobytes(),
        )
    )
    return {
        "v2_grpc": grpc_frame(infer.SerializeToString()),
        "tfs_grpc": grpc_frame(predict.SerializeToString()),
    }
