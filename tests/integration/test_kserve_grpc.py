"""KServe v2 gRPC through tritonclient.grpc (raw buffers) and its protobuf messages (typed contents)."""

from __future__ import annotations

import queue
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from models import model_file, reference
from serverproc import ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc

IDENTITIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "identity_fp32": ("FP32", (1, 10)),
    "identity_fp16": ("FP16", (2, 3)),
    "identity_fp64": ("FP64", (2, 3)),
    "identity_int8": ("INT8", (2, 3)),
    "identity_int16": ("INT16", (2, 3)),
    "identity_int32": ("INT32", (2, 3)),
    "identity_int64": ("INT64", (2, 3)),
    "identity_uint8": ("UINT8", (2, 3)),
    "identity_uint16": ("UINT16", (2, 3)),
    "identity_uint32": ("UINT32", (2, 3)),
    "identity_uint64": ("UINT64", (2, 3)),
    "identity_bool": ("BOOL", (2, 3)),
}
NUMPY = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
CONTENTS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def values(datatype: str, shape: Sequence[int], seed: int = 2) -> np.ndarray:
    """Test data that reaches the edges of integer types."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(NUMPY[datatype])
    count = int(np.prod(shape))
    if dtype == np.bool_:
        return rng.integers(0, 2, count).astype(bool).reshape(shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        out = rng.integers(info.min, info.max, count, dtype=dtype, endpoint=True)
        out[0], out[-1] = info.min, info.max
        return out.reshape(shape)
    return (rng.standard_normal(count) * 10).astype(dtype).reshape(shape)


def assert_matches(served: np.ndarray | None, expected: np.ndarray) -> None:
    assert served is not None
    assert served.shape == expected.shape
    if expected.dtype.kind == "f":
        assert served.dtype == expected.dtype
        np.testing.assert_allclose(served, expected, rtol=1e-5)
    elif expected.dtype == object:
        assert list(served.ravel()) == list(expected.ravel())
    else:
        assert served.dtype == expected.dtype
        np.testing.assert_array_equal(served, expected)


def as_fixed_bytes(texts: np.ndarray) -> np.ndarray:
    """OpenVINO's Python API takes string inputs as a numpy ``S`` array, not an object array."""
    return np.array(list(texts), dtype=bytes)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    c = grpcclient.InferenceServerClient(url=server.grpc_address)
    yield c
    c.close()


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[Any]:
    channel = grpc.insecure_channel(server.grpc_address)
    yield service_pb2_grpc.GRPCInferenceServiceStub(channel)
    channel.close()


def make_inputs(inputs: Mapping[str, np.ndarray], datatypes: Mapping[str, str] | None = None) -> list[Any]:
    out = []
    for name, array in inputs.items():
        datatype = (datatypes or {}).get(name) or grpcclient.np_to_triton_dtype(array.dtype)
        item = grpcclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array)
        out.append(item)
    return out


def infer(
    client: grpcclient.InferenceServerClient,
    model: str,
    inputs: Mapping[str, np.ndarray],
    *,
    outputs: Sequence[str] | None = None,
    version: str = "",
    datatypes: Mapping[str, str] | None = None,
    request_id: str = "",
) -> grpcclient.InferResult:
    requested = [grpcclient.InferRequestedOutput(n) for n in outputs] if outputs else None
    return client.infer(
        model, make_inputs(inputs, datatypes), model_version=version, outputs=requested, request_id=request_id
    )


def test_health(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("identity_fp32")
    assert client.is_model_ready("versions", "2")


def test_server_metadata(client: grpcclient.InferenceServerClient) -> None:
    meta = client.get_server_metadata()
    assert meta.name
    assert meta.version
    assert "binary_tensor_data" in meta.extensions


def test_model_metadata(client: grpcclient.InferenceServerClient) -> None:
    meta = client.get_model_metadata("cnn")
    assert (meta.name, list(meta.versions), meta.platform) == ("cnn", ["1"], "OpenVINO")
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("image", "FP32", [-1, 3, 32, 32])]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.outputs] == [("probs", "FP32", [-1, 10])]
    assert list(client.get_model_metadata("versions").versions) == ["1", "2"]
    dynamic = client.get_model_metadata("dynamic")
    assert [list(t.shape) for t in dynamic.inputs] == [[-1, 4]]


@pytest.mark.parametrize("model", list(IDENTITIES))
def test_identity_raw(client: grpcclient.InferenceServerClient, repo: dict[str, Path], model: str) -> None:
    datatype, shape = IDENTITIES[model]
    data = values(datatype, shape)
    result = infer(client, model, {"in": data}, outputs=["out"])
    assert result.get_output("out").datatype == datatype
    assert_matches(result.as_numpy("out"), reference(model_file(repo[model]), {"in": data})["out"])


@pytest.mark.parametrize("model", [m for m, (d, _) in IDENTITIES.items() if d != "FP16"])
def test_identity_typed_contents(stub: Any, repo: dict[str, Path], model: str) -> None:
    datatype, shape = IDENTITIES[model]
    data = values(datatype, shape, seed=9)
    tensor = service_pb2.ModelInferRequest.InferInputTensor(name="in", datatype=datatype, shape=list(shape))
    getattr(tensor.contents, CONTENTS[datatype]).extend(data.ravel().tolist())
    response = stub.ModelInfer(service_pb2.ModelInferRequest(model_name=model, inputs=[tensor]))
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [("out", datatype, list(shape))]
    served = np.frombuffer(response.raw_output_contents[0], NUMPY[datatype]).reshape(shape)
    assert_matches(served, reference(model_file(repo[model]), {"in": data})["out"])


def test_strings(client: grpcclient.InferenceServerClient, repo: dict[str, Path]) -> None:
    texts = np.array([b"hello", b"", "gr\u00fc\u00df dich".encode(), b"\xff\x00 not utf-8"], dtype=object)
    expected = reference(model_file(repo["strings"]), {"text": as_fixed_bytes(texts)})
    [out_name] = expected
    result = infer(client, "strings", {"text": texts}, outputs=[out_name], datatypes={"text": "BYTES"})
    assert result.get_output(out_name).datatype == "BYTES"
    assert_matches(result.as_numpy(out_name), expected[out_name])


def test_strings_typed_contents(stub: Any, repo: dict[str, Path]) -> None:
    texts = [b"one", b"", b"three \xe2\x9c\x93"]
    tensor = service_pb2.ModelInferRequest.InferInputTensor(name="text", datatype="BYTES", shape=[3])
    tensor.contents.bytes_contents.extend(texts)
    response = stub.ModelInfer(service_pb2.ModelInferRequest(model_name="strings", inputs=[tensor]))
    raw = response.raw_output_contents[0]
    served = []
    while raw:
        length = int.from_bytes(raw[:4], "little")
        served.append(raw[4 : 4 + length])
        raw = raw[4 + length :]
    assert served == texts


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_dynamic_batch(client: grpcclient.InferenceServerClient, repo: dict[str, Path], batch: int) -> None:
    x = values("FP32", (batch, 4), seed=batch)
    result = infer(client, "dynamic", {"x": x})
    assert_matches(result.as_numpy("y"), reference(model_file(repo["dynamic"]), {"x": x})["y"])


def test_multi_io_with_output_selection(
    client: grpcclient.InferenceServerClient, repo: dict[str, Path]
) -> None:
    inputs = {"a": values("FP32", (1, 3)), "b": values("INT32", (1, 3)) // 1000}
    expected = reference(model_file(repo["multi_io"]), inputs)
    result = infer(client, "multi_io", inputs, outputs=["sum"])
    assert result.as_numpy("prod") is None
    assert_matches(result.as_numpy("sum"), expected["sum"])
    both = infer(client, "multi_io", inputs)
    assert [o.name for o in both.get_response().outputs] == ["sum", "prod"]
    for name in ("sum", "prod"):
        assert_matches(both.as_numpy(name), expected[name])


def test_cnn(client: grpcclient.InferenceServerClient, repo: dict[str, Path]) -> None:
    image = np.random.default_rng(6).random((3, 3, 32, 32), dtype=np.float32)
    result = infer(client, "cnn", {"image": image})
    assert_matches(result.as_numpy("probs"), reference(model_file(repo["cnn"]), {"image": image})["probs"])


def test_versions(client: grpcclient.InferenceServerClient, repo: dict[str, Path]) -> None:
    x = values("FP32", (2, 4), seed=12)
    for version, asked in ((2, ""), (1, "1"), (2, "2")):
        result = infer(client, "versions", {"x": x}, version=asked)
        assert result.get_response().model_version == str(version)
        assert_matches(result.as_numpy("y"), reference(model_file(repo["versions"], version), {"x": x})["y"])


def test_request_id_is_echoed(client: grpcclient.InferenceServerClient) -> None:
    response = infer(
        client, "identity_fp32", {"in": values("FP32", (1, 10))}, request_id="grpc-7"
    ).get_response()
    assert (response.id, response.model_name, response.model_version) == ("grpc-7", "identity_fp32", "1")


def test_stream_infer(client: grpcclient.InferenceServerClient, repo: dict[str, Path]) -> None:
    replies: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client.start_stream(callback=lambda result, error: replies.put((result, error)))
    try:
        batches = {f"req-{i}": values("FP32", (i + 1, 4), seed=i) for i in range(6)}
        for request_id, x in batches.items():
            client.async_stream_infer("dynamic", make_inputs({"x": x}), request_id=request_id)
        # a bad request in the middle of the stream: answered with an error, the stream goes on
        client.async_stream_infer("dynamic", make_inputs({"x": values("FP32", (2, 5))}), request_id="bad")
        client.async_stream_infer(
            "versions", make_inputs({"x": batches["req-0"]}), model_version="1", request_id="v1"
        )
        got: dict[str, Any] = {}
        errors = []
        for _ in range(len(batches) + 2):
            result, error = replies.get(timeout=30)
            if error is not None:
                errors.append(error)
            else:
                got[result.get_response().id] = result
    finally:
        client.stop_stream()
    assert len(errors) == 1
    assert "Invalid input shape" in errors[0].message()
    for request_id, x in batches.items():
        assert_matches(got[request_id].as_numpy("y"), reference(model_file(repo["dynamic"]), {"x": x})["y"])
    v1 = reference(model_file(repo["versions"], 1), {"x": batches["req-0"]})["y"]
    assert got["v1"].get_response().model_version == "1"
    assert_matches(got["v1"].as_numpy("y"), v1)
