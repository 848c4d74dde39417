"""Property-based fuzzing (hypothesis) of every request decoder: KServe REST (JSON and the binary
extension), KServe gRPC (typed and raw contents), TF Serving REST (row and column) and TF Serving gRPC
(tensor_content and typed values).

The property: whatever arrives, a decoder returns arrays that match what the request declared, or
raises a :class:`ServingError` whose code is a client error; never another exception (a 500). The
examples are bounded and derandomized, so every run tries the same ones and CI is stable.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve._generated.tensorflow.core.framework import tensor_pb2
from ovserve.api.kserve import codec_grpc, codec_json
from ovserve.api.tfs import codec_json as tfs_json
from ovserve.api.tfs import codec_proto
from ovserve.errors import Code, ServingError
from ovserve.tensors import KSERVE_TO_NUMPY, TF_TO_NUMPY

from .kserve.fakes import EchoServable, spec
from .tfs.fakes import EchoServable as TfsEcho
from .tfs.fakes import spec as tfs_spec

FUZZ = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: the codes a client's mistake may get (never INTERNAL / UNKNOWN)
CLIENT_CODES = {Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION, Code.UNIMPLEMENTED, Code.NOT_FOUND}

KSERVE = EchoServable("m", [spec("in", "FP32", -1, -1), spec("text", "BYTES", -1)])
TFS = TfsEcho("m", [tfs_spec("x", np.float32, -1, 4), tfs_spec("s", object, -1)])
SINGLE = TfsEcho("one", [tfs_spec("x", np.int64, -1, -1)])

datatypes = st.sampled_from([*KSERVE_TO_NUMPY, "FLOAT", "", "fp32"])
dims = st.one_of(st.integers(-3, 6), st.integers(-(2**64), 2**64), st.sampled_from([0, 2**31, 2**63 - 1]))
shapes = st.lists(dims, max_size=5)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=4)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


def client_error(call: Any, *args: Any) -> Any:
    """``call(*args)``: its result, or None when it raised a client error (anything else fails)."""
    try:
        return call(*args)
    except ServingError as exc:
        assert exc.code in CLIENT_CODES, (exc.code, str(exc))
        return None


# -- KServe REST -----------------------------------------------------------------------
kserve_inputs = st.fixed_dictionaries(
    {"name": st.sampled_from(["in", "text", "zz"]), "datatype": datatypes, "shape": shapes},
    optional={
        "data": json_values,
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_size": st.integers(-2, 64)}),
    },
)


@FUZZ
@given(st.lists(kserve_inputs, max_size=3), st.binary(max_size=64), st.booleans())
def test_kserve_rest(inputs: list[dict[str, Any]], tail: bytes, binary: bool) -> None:
    head = json.dumps({"inputs": inputs}).encode()
    body, length = (head + tail, str(len(head)).encode()) if binary else (head, None)
    request = client_error(codec_json.decode_infer_request, body, length, KSERVE)
    if request is not None:
        for item in inputs:
            array = request.inputs[item["name"]]
            assert array.shape == tuple(item["shape"])
            assert array.dtype == KSERVE_TO_NUMPY[item["datatype"]]


@FUZZ
@given(json_values, st.binary(max_size=32), st.one_of(st.none(), st.text(max_size=8)))
def test_kserve_rest_any_json(doc: Any, tail: bytes, length: str | None) -> None:
    head = json.dumps(doc).encode()
    header = None if length is None else length.encode()
    client_error(codec_json.decode_infer_request, head + tail, header, KSERVE)


# -- KServe gRPC -----------------------------------------------------------------------
contents = st.fixed_dictionaries(
    {},
    optional={
        "fp32_contents": st.lists(st.floats(width=32, allow_nan=False), max_size=12),
        "int_contents": st.lists(st.integers(-(2**31), 2**31 - 1), max_size=12),
        "int64_contents": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=12),
        "bytes_contents": st.lists(st.binary(max_size=5), max_size=12),
        "bool_contents": st.lists(st.booleans(), max_size=12),
    },
)
grpc_shapes = st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(-2, 6), max_size=5)


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(["in", "text"]), datatypes, grpc_shapes, contents), max_size=3),
    st.one_of(st.none(), st.lists(st.binary(max_size=48), max_size=3)),
)
def test_kserve_grpc(tensors: list[Any], raw: list[bytes] | None) -> None:
    request = pb.ModelInferRequest(model_name="m")
    for name, datatype, shape, values in tensors:
        request.inputs.append(
            pb.ModelInferRequest.InferInputTensor(
                name=name, datatype=datatype, shape=shape, contents=pb.InferTensorContents(**values)
            )
        )
    request.raw_input_contents.extend(raw or [])
    decoded = client_error(codec_grpc.decode_infer_request, request, KSERVE)
    if decoded is not None:
        for name, datatype, shape, _ in tensors:
            array = decoded.inputs[name]
            assert array.shape == tuple(shape) and array.dtype == KSERVE_TO_NUMPY[datatype]


@FUZZ
@given(st.binary(max_size=256))
def test_kserve_grpc_any_bytes(data: bytes) -> None:
    try:
        request = pb.ModelInferRequest.FromString(data)
    except Exception:  # the server answers INVALID_ARGUMENT for these (api.grpc_server)
        return
    client_error(codec_grpc.decode_infer_request, request, KSERVE)


# -- TF Serving REST -------------------------------------------------------------------
@FUZZ
@given(json_values, st.sampled_from([TFS, SINGLE]))
def test_tfs_rest_any_json(doc: Any, servable: Any) -> None:
    client_error(tfs_json.decode_predict, json.dumps(doc).encode(), servable)


@FUZZ
@given(st.sampled_from(["instances", "inputs"]), json_values, st.sampled_from([TFS, SINGLE]))
def test_tfs_rest(key: str, value: Any, servable: Any) -> None:
    client_error(tfs_json.decode_predict, json.dumps({key: value}).encode(), servable)


# -- TF Serving gRPC -------------------------------------------------------------------
@FUZZ
@given(
    st.sampled_from([*TF_TO_NUMPY, 0, 8, 99]),
    grpc_shapes,
    st.binary(max_size=48),
    st.lists(st.floats(width=32, allow_nan=False), max_size=8),
    st.lists(st.integers(-(2**31), 2**31 - 1), max_size=8),
    st.lists(st.binary(max_size=4), max_size=8),
)
def test_tfs_grpc(
    dtype: int, shape: list[int], content: bytes, floats: list[float], ints: list[int], strings: list[bytes]
) -> None:
    proto = tensor_pb2.TensorProto(
        dtype=dtype, tensor_content=content, float_val=floats, int_val=ints, string_val=strings
    )
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    array = client_error(codec_proto.decode_tensor, "x", proto)
    if array is not None:
        assert array.shape == tuple(shape) and array.dtype == TF_TO_NUMPY[dtype]
