"""Bad KServe v2 requests over raw HTTP and raw gRPC: the status, and a message naming the problem.

The module ends by checking that the server is still up and still answers a good request.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Mapping
from typing import Any

import grpc
import numpy as np
import pytest
from serverproc import ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc

GOOD_INPUT = {"name": "in", "shape": [1, 10], "datatype": "FP32", "data": list(range(10))}
URL = "/v2/models/identity_fp32/infer"


class Reply:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def error(self) -> str:
        message: str = json.loads(self.body)["error"]
        return message


@pytest.fixture(scope="module")
def post(server: ServerProcess) -> Iterator[Any]:
    def send(
        path: str,
        body: bytes | dict[str, Any],
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> Reply:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
        try:
            conn.request(method, path, body=raw, headers=dict(headers or {}))
            answer = conn.getresponse()
            return Reply(answer.status, dict(answer.getheaders()), answer.read())
        finally:
            conn.close()

    yield send


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[Any]:
    channel = grpc.insecure_channel(server.grpc_address)
    yield service_pb2_grpc.GRPCInferenceServiceStub(channel)
    channel.close()


def body_with(**fields: Any) -> dict[str, Any]:
    item = dict(GOOD_INPUT)
    item.update(fields)
    return {"inputs": [{k: v for k, v in item.items() if v is not None}]}


def binary(header: Mapping[str, Any], *buffers: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(buffers), {"Inference-Header-Content-Length": str(len(head))}


def expect(reply: Reply, status: int, *fragments: str) -> None:
    assert reply.status == status, (reply.status, reply.body)
    for fragment in fragments:
        assert fragment in reply.error, reply.error


# -- REST ------------------------------------------------------------------------------


def test_rest_good_request(post: Any) -> None:
    reply = post(URL, body_with())
    assert reply.status == 200
    assert json.loads(reply.body)["outputs"][0]["data"] == [float(i) for i in range(10)]


def test_rest_not_json(post: Any) -> None:
    expect(post(URL, b"{inputs: nope"), 412, "The file is not valid json")


def test_rest_missing_inputs(post: Any) -> None:
    expect(post(URL, {"outputs": []}), 400, "Invalid JSON structure, missing inputs")


def test_rest_unknown_datatype(post: Any) -> None:
    expect(post(URL, body_with(datatype="FLOAT32")), 400, "Invalid datatype 'FLOAT32'", "input in")


def test_rest_datatype_differs_from_model(post: Any) -> None:
    expect(
        post(URL, body_with(datatype="FP64")),
        400,
        "Invalid input precision",
        "Expected: FP32",
        "Actual: FP64",
    )


def test_rest_element_count(post: Any) -> None:
    expect(
        post(URL, body_with(data=list(range(9)))),
        400,
        "Invalid number of values",
        "Expected: 10",
        "Actual: 9",
    )


def test_rest_negative_dims(post: Any) -> None:
    expect(post(URL, body_with(shape=[-1, 10])), 400, "Negative or zero dimension size is not acceptable")


def test_rest_shape_differs_from_model(post: Any) -> None:
    expect(post(URL, body_with(shape=[2, 5])), 400, "Invalid input", "Expected: 1", "Actual: 2")


def test_rest_fp16_as_json(post: Any) -> None:
    reply = post("/v2/models/identity_fp16/infer", body_with(datatype="FP16", shape=[2, 3], data=[1] * 6))
    expect(reply, 400, "Could not parse input content", "FP16")


def test_rest_data_both_json_and_binary(post: Any) -> None:
    raw = np.zeros(10, np.float32).tobytes()
    body, headers = binary(body_with(parameters={"binary_data_size": len(raw)}), raw)
    expect(post(URL, body, headers), 400, "Request contains values both in binary data and in content value")


def test_rest_header_length_past_payload(post: Any) -> None:
    body, _ = binary(body_with())
    reply = post(URL, body, {"Inference-Header-Content-Length": str(len(body) + 100)})
    expect(reply, 400, "Inference-Header-Content-Length header exceeds actual payload length")


def test_rest_binary_size_past_buffer(post: Any) -> None:
    body, headers = binary(body_with(data=None, parameters={"binary_data_size": 40}), b"\0" * 16)
    expect(
        post(URL, body, headers),
        400,
        "Received buffer size is smaller than binary_data_size parameter indicates",
    )


def test_rest_binary_size_not_matching_shape(post: Any) -> None:
    body, headers = binary(body_with(data=None, parameters={"binary_data_size": 16}), b"\0" * 16)
    expect(post(URL, body, headers), 400, "Invalid content size", "Expected: 40 bytes; Actual: 16 bytes")


def test_rest_bad_version(post: Any) -> None:
    expect(
        post("/v2/models/identity_fp32/versions/latest/infer", body_with()),
        400,
        "invalid model version format in request",
    )


def test_rest_unknown_output(post: Any) -> None:
    body = body_with()
    body["outputs"] = [{"name": "logits"}]
    expect(post(URL, body), 400, "Invalid output name - logits")


def test_rest_unknown_model(post: Any) -> None:
    expect(
        post("/v2/models/nobody/infer", body_with()),
        404,
        "Mediapipe graph definition with requested name is not found - nobody",  # OVMS, MediaPipe builds
    )


def test_rest_unknown_version(post: Any) -> None:
    expect(
        post("/v2/models/identity_fp32/versions/9/infer", body_with()),
        404,
        "Model with requested version is not found",
    )


def test_rest_model_not_ready(post: Any) -> None:
    reply = post("/v2/models/versions/versions/3/ready", b"", method="GET")
    expect(reply, 404, "version is not found")


@pytest.mark.parametrize(
    ("fields", "fragments"),
    [
        ({"shape": [100000, 100000, 100000]}, ("Invalid number of values", "Actual: 10")),
        ({"shape": [1.0, 10]}, ("dimensions must be integers",)),
        ({"shape": ["1", "10"]}, ("dimensions must be integers",)),
        ({"shape": "1,10"}, ("missing shape",)),
        ({"data": ["a"] * 10}, ("FP32 data must be numbers", "strings")),
        ({"data": [[1, 2, 3, 4, 5], [1, 2, 3, 4]]}, ("Could not parse input content",)),
        ({"data": {"x": 1}}, ("data of input in should be an array",)),
        ({"datatype": 7}, ("Invalid datatype 7",)),
        ({"name": 7}, ("missing its name",)),
    ],
)
def test_rest_json_of_the_wrong_kind(post: Any, fields: dict[str, Any], fragments: tuple[str, ...]) -> None:
    expect(post(URL, body_with(**fields)), 400, *fragments)


def test_rest_numbers_for_strings(post: Any) -> None:
    body = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": [1, 2]}]}
    expect(post("/v2/models/strings/infer", body), 400, "BYTES data must be strings")


@pytest.mark.parametrize("length", ["-5", "ten", "1e3", "99999999999999999999"])
def test_rest_header_length_not_a_length(post: Any, length: str) -> None:
    body, _ = binary(body_with())
    reply = post(URL, body, {"Inference-Header-Content-Length": length})
    assert reply.status == 400 and "Inference-Header-Content-Length" in reply.error, reply.body


@pytest.mark.parametrize("size", [-1, "40", 1.5, 2**70])
def test_rest_binary_size_not_a_size(post: Any, size: Any) -> None:
    body, headers = binary(body_with(data=None, parameters={"binary_data_size": size}), b"\0" * 40)
    reply = post(URL, body, headers)
    assert reply.status == 400 and "binary_data_size" in reply.error, reply.body


def test_rest_bad_string_framing(post: Any) -> None:
    header = {
        "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}]
    }
    body, headers = binary(header, (10).to_bytes(4, "little") + b"ab")
    expect(post("/v2/models/strings/infer", body, headers), 400, "declares 10 bytes but only 2 remain")


# -- gRPC ------------------------------------------------------------------------------


def good_tensor(**fields: Any) -> Any:
    values = dict(name="in", datatype="FP32", shape=[1, 10])
    values.update(fields)
    tensor = service_pb2.ModelInferRequest.InferInputTensor(**values)
    return tensor


def grpc_expect(stub: Any, request: Any, code: grpc.StatusCode, *fragments: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request)
    error: Any = caught.value
    assert error.code() == code, error.details()
    for fragment in fragments:
        assert fragment in error.details(), error.details()


def request(*tensors: Any, raw: list[bytes] | None = None, **fields: Any) -> Any:
    fields.setdefault("model_name", "identity_fp32")
    out = service_pb2.ModelInferRequest(inputs=list(tensors), **fields)
    out.raw_input_contents.extend(raw or [])
    return out


def fp32_tensor(count: int = 10, **fields: Any) -> Any:
    tensor = good_tensor(**fields)
    tensor.contents.fp32_contents.extend(float(i) for i in range(count))
    return tensor


def test_grpc_good_request(stub: Any) -> None:
    response = stub.ModelInfer(request(fp32_tensor()))
    assert np.frombuffer(response.raw_output_contents[0], np.float32).tolist() == [
        float(i) for i in range(10)
    ]


def test_grpc_bad_version(stub: Any) -> None:
    grpc_expect(
        stub,
        request(fp32_tensor(), model_version="v1"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid model version format in request",
    )


def test_grpc_unknown_datatype(stub: Any) -> None:
    grpc_expect(
        stub,
        request(fp32_tensor(datatype="float")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid datatype 'float'",
    )


def test_grpc_datatype_differs_from_model(stub: Any) -> None:
    tensor = good_tensor(datatype="INT64")
    tensor.contents.int64_contents.extend(range(10))
    grpc_expect(
        stub,
        request(tensor),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid input precision",
        "Expected: FP32",
        "Actual: I64",
    )


def test_grpc_element_count(stub: Any) -> None:
    grpc_expect(
        stub,
        request(fp32_tensor(count=7)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid number of values in tensor proto container",
        "Expected: 10",
        "Actual: 7",
    )


def test_grpc_negative_dims(stub: Any) -> None:
    grpc_expect(
        stub,
        request(fp32_tensor(shape=[1, -10])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Negative or zero dimension size is not acceptable",
    )


def test_grpc_typed_and_raw(stub: Any) -> None:
    grpc_expect(
        stub,
        request(fp32_tensor(), raw=[b"\0" * 40]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Passing buffers both in InferInputTensor contents and in ModelInferRequest raw_input_contents",
    )


def test_grpc_raw_size(stub: Any) -> None:
    grpc_expect(
        stub,
        request(good_tensor(), raw=[b"\0" * 39]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid content size of tensor proto - Expected: 40 bytes; Actual: 39 bytes",
    )


def test_grpc_fp16_typed(stub: Any) -> None:
    tensor = good_tensor(datatype="FP16", shape=[2, 3])
    tensor.contents.fp32_contents.extend([1.0] * 6)
    req = service_pb2.ModelInferRequest(model_name="identity_fp16", inputs=[tensor])
    grpc_expect(
        stub, req, grpc.StatusCode.INVALID_ARGUMENT, "Could not parse input content", "raw_input_contents"
    )


def test_grpc_unknown_output(stub: Any) -> None:
    req = request(
        fp32_tensor(), outputs=[service_pb2.ModelInferRequest.InferRequestedOutputTensor(name="zz")]
    )
    grpc_expect(stub, req, grpc.StatusCode.INVALID_ARGUMENT, "Invalid output name - zz")


def test_grpc_unknown_model(stub: Any) -> None:
    grpc_expect(
        stub,
        request(fp32_tensor(), model_name="nobody"),
        grpc.StatusCode.NOT_FOUND,
        "Mediapipe graph definition with requested name is not found - nobody",  # OVMS, MediaPipe builds
    )


def test_grpc_model_ready_unknown(stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelReady(service_pb2.ModelReadyRequest(name="nobody"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_grpc_repository_named_repository_unimplemented(stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(repository_name="elsewhere"))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    assert "repository_name" in caught.value.details()  # type: ignore[attr-defined]


def test_grpc_stream_errors_do_not_end_the_stream(stub: Any) -> None:
    requests = [
        request(fp32_tensor(count=3)),
        request(fp32_tensor(), model_version="x"),
        request(fp32_tensor()),
    ]
    replies = list(stub.ModelStreamInfer(iter(requests)))
    assert len(replies) == 3
    assert "Invalid number of values" in replies[0].error_message
    assert "invalid model version format in request" in replies[1].error_message
    assert replies[2].error_message == ""
    assert np.frombuffer(replies[2].infer_response.raw_output_contents[0], np.float32)[-1] == 9.0


# -- still serving ---------------------------------------------------------------------


def test_zz_server_survived(server: ServerProcess, post: Any, stub: Any) -> None:
    assert server.alive()
    assert post(URL, body_with()).status == 200
    assert stub.ModelInfer(request(fp32_tensor())).model_name == "identity_fp32"
