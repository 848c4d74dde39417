"""Shapes that declare impossible sizes, and empty tensors of every type, on every request decoder.

A shape such as ``[9223372036854775807, 0]`` holds no element, yet no array of that shape can
exist (numpy: "array is too big"); ``[100000, 100000, 100000]`` declares 4 PB. Both are the
client's mistake: a 400 naming the input, found before anything is allocated. Empty tensors
(a zero dimension) of every datatype decode to empty arrays of that datatype.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve._generated.tensorflow.core.framework import tensor_pb2
from ovserve.api.kserve import codec_grpc, codec_json
from ovserve.api.tfs import codec_json as tfs_json
from ovserve.api.tfs import codec_proto
from ovserve.errors import InvalidInput
from ovserve.tensors import BF16_DTYPE, BYTES_DTYPE, KSERVE_TO_NUMPY, NUMPY_TO_TF, check_declared_size

from .kserve.fakes import EchoServable, spec
from .tfs.fakes import EchoServable as TfsEcho
from .tfs.fakes import spec as tfs_spec

HUGE = 9223372036854775807
#: no array can have these shapes (past numpy's size limit, or more than 64 dimensions)
IMPOSSIBLE_SHAPES = [[HUGE, 0], [0, HUGE], [2**40, 2**40, 0], [2**62, 2**62], [1] * 65]
DATATYPES = list(KSERVE_TO_NUMPY)
SERVABLE = EchoServable("m", [spec("in", "FP32", -1, -1)])


def kserve_json(datatype: str, shape: list[int], data: list[Any] | None) -> Any:
    item: dict[str, Any] = {"name": "in", "datatype": datatype, "shape": shape}
    if data is not None:
        item["data"] = data
    return codec_json.decode_infer_request(json.dumps({"inputs": [item]}).encode(), None, SERVABLE)


def kserve_binary(datatype: str, shape: list[int], raw: bytes) -> Any:
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "in",
                    "datatype": datatype,
                    "shape": shape,
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    return codec_json.decode_infer_request(head + raw, str(len(head)).encode(), SERVABLE)


def kserve_grpc(datatype: str, shape: list[int], raw: bytes | None) -> Any:
    tensor = pb.ModelInferRequest.InferInputTensor(name="in", datatype=datatype, shape=shape)
    request = pb.ModelInferRequest(model_name="m", inputs=[tensor])
    if raw is not None:
        request.raw_input_contents.append(raw)
    return codec_grpc.decode_infer_request(request, SERVABLE)


def tfs_proto(dtype: np.dtype, shape: list[int], content: bytes = b"") -> np.ndarray:
    message = tensor_pb2.TensorProto(dtype=NUMPY_TO_TF[dtype], tensor_content=content)
    for size in shape:
        message.tensor_shape.dim.add().size = size
    return codec_proto.decode_tensor("in", message)


DECODERS = {
    "kserve-json": lambda shape: kserve_json("FP32", shape, []),
    "kserve-binary": lambda shape: kserve_binary("FP32", shape, b""),
    "kserve-binary-bytes": lambda shape: kserve_binary("BYTES", shape, b""),
    "kserve-grpc-typed": lambda shape: kserve_grpc("FP32", shape, None),
    "kserve-grpc-raw": lambda shape: kserve_grpc("FP32", shape, b""),
    "kserve-grpc-typed-bytes": lambda shape: kserve_grpc("BYTES", shape, None),
    "tfs-grpc-typed": lambda shape: tfs_proto(np.dtype(np.float32), shape),
    "tfs-grpc-content": lambda shape: tfs_proto(np.dtype(np.float32), shape, b"\0\0\0\0"),
    "tfs-grpc-strings": lambda shape: tfs_proto(BYTES_DTYPE, shape),
}


@pytest.mark.parametrize("shape", IMPOSSIBLE_SHAPES, ids=str)
@pytest.mark.parametrize("decoder", list(DECODERS))
def test_impossible_shape_is_the_clients_mistake(decoder: str, shape: list[int]) -> None:
    with pytest.raises(InvalidInput) as caught:
        DECODERS[decoder](shape)
    message = str(caught.value)
    assert "input name: in" in message, message
    assert "too large" in message or "dimensions" in message, message


@pytest.mark.parametrize("decoder", list(DECODERS))
def test_shape_past_the_data_is_the_clients_mistake(decoder: str) -> None:
    with pytest.raises(InvalidInput, match="input name: in"):
        DECODERS[decoder]([100000, 100000, 100000])


def test_declared_size_arithmetic() -> None:
    assert check_declared_size((2, 3), 4, "x") == 6
    assert check_declared_size((), 4, "x") == 1
    assert check_declared_size((0, 2**40), 8, "x") == 0
    assert check_declared_size((2**61 - 1, 0), 4, "x") == 0  # numpy can hold this empty shape
    with pytest.raises(InvalidInput, match="declare too large buffer"):
        check_declared_size((2**61, 0), 4, "x")
    with pytest.raises(InvalidInput, match="at most 64"):
        check_declared_size((1,) * 65, 1, "x")


@pytest.mark.parametrize("datatype", DATATYPES)
def test_empty_tensor_of_every_datatype_kserve(datatype: str) -> None:
    dtype = KSERVE_TO_NUMPY[datatype]
    decoded = [
        kserve_binary(datatype, [0, 3], b"").inputs["in"],
        kserve_grpc(datatype, [0, 3], b"").inputs["in"],
    ]
    if datatype not in ("FP16", "BF16"):  # these two travel only as binary / raw data
        decoded.append(kserve_json(datatype, [0, 3], []).inputs["in"])
        decoded.append(kserve_grpc(datatype, [0, 3], None).inputs["in"])
    for array in decoded:
        assert array.shape == (0, 3) and array.dtype == dtype


@pytest.mark.parametrize("dtype", list(NUMPY_TO_TF), ids=str)
def test_empty_tensor_of_every_datatype_tfs_grpc(dtype: np.dtype) -> None:
    array = tfs_proto(dtype, [0, 3])
    assert array.shape == (0, 3) and array.dtype == dtype


def test_empty_string_batch_kserve_json() -> None:
    array = kserve_json("BYTES", [0], []).inputs["in"]
    assert array.shape == (0,) and array.dtype == BYTES_DTYPE


@pytest.mark.parametrize("body", [{"inputs": {"text": []}}, {"inputs": []}])
def test_empty_string_batch_tfs_rest(body: dict[str, Any]) -> None:
    servable = TfsEcho("strings", [tfs_spec("text", object, -1)])
    request, _ = tfs_json.decode_predict(json.dumps(body).encode(), servable)
    array = request.inputs["text"]
    assert array.shape == (0,) and array.dtype == BYTES_DTYPE


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, BF16_DTYPE], ids=str)
def test_empty_numeric_batch_tfs_rest(dtype: Any) -> None:
    servable = TfsEcho("m", [tfs_spec("x", dtype, -1, 4)])
    request, _ = tfs_json.decode_predict(b'{"inputs": {"x": []}}', servable)
    assert request.inputs["x"].size == 0 and request.inputs["x"].dtype == np.dtype(dtype)
