"""Defect 4 of issue 9, end to end on every API: impossible shapes are a 400 / INVALID_ARGUMENT (never a
500 / INTERNAL), and empty tensors (a zero dimension) of numbers, BF16 and strings are served.

Clients: tritonclient (KServe REST and gRPC), ovmsclient's TF Serving messages over raw gRPC, and raw
HTTP for the bodies no client would build.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from serverproc import HOST, ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc

HUGE = 9223372036854775807
TOO_LARGE = "declare too large buffer"


def rest(server: ServerProcess, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(server.rest_url + path, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_address) as opened:
        yield opened


def test_kserve_rest_zero_and_huge_dimension(server: ServerProcess) -> None:
    item = {"name": "in", "shape": [HUGE, 0], "datatype": "FP32", "data": []}
    status, answer = rest(server, "/v2/models/identity_fp32/infer", json.dumps({"inputs": [item]}).encode())
    assert status == 400 and TOO_LARGE in answer["error"] and "input name: in" in answer["error"]
    head = json.dumps(
        {
            "inputs": [
                {"name": "in", "shape": [HUGE, 0], "datatype": "FP32", "parameters": {"binary_data_size": 0}}
            ]
        }
    ).encode()
    status, answer = rest(
        server, "/v2/models/identity_fp32/infer", head, {"Inference-Header-Content-Length": str(len(head))}
    )
    assert status == 400 and TOO_LARGE in answer["error"]


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
def test_kserve_grpc_zero_and_huge_dimension(channel: grpc.Channel, raw: bool) -> None:
    tensor = service_pb2.ModelInferRequest.InferInputTensor(name="in", datatype="FP32", shape=[HUGE, 0])
    request = service_pb2.ModelInferRequest(model_name="identity_fp32", inputs=[tensor])
    if raw:
        request.raw_input_contents.append(b"")
    with pytest.raises(grpc.RpcError) as caught:
        service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and TOO_LARGE in error.details()


@pytest.mark.parametrize("content", [b"", b"\0\0\0\0"], ids=["typed", "tensor_content"])
def test_tfs_grpc_zero_and_huge_dimension(channel: grpc.Channel, content: bytes) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "identity_fp32"
    proto = request.inputs["in"]
    proto.dtype = types_pb2.DT_FLOAT
    for size in (HUGE, 0):
        proto.tensor_shape.dim.add().size = size
    proto.tensor_content = content
    with pytest.raises(grpc.RpcError) as caught:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and TOO_LARGE in error.details()


#: model -> (input, datatype, empty shape, output names)
EMPTY = {
    "strings": ("text", "BYTES", [0], ["text"]),
    "dynamic": ("x", "FP32", [0, 4], ["y"]),
    "bf16": ("x", "BF16", [0, 4], ["y", "y_f32"]),
}


def _empty(datatype: str, shape: list[int]) -> np.ndarray:
    if datatype == "BYTES":
        return np.empty(shape, dtype=object)
    if datatype == "BF16":
        import ml_dtypes

        return np.empty(shape, dtype=ml_dtypes.bfloat16)
    return np.empty(shape, dtype=np.float32)


@pytest.mark.parametrize("model", list(EMPTY))
def test_empty_batch_kserve_clients(server: ServerProcess, model: str) -> None:
    name, datatype, shape, outputs = EMPTY[model]
    data = _empty(datatype, shape)
    for module, url in ((httpclient, f"{HOST}:{server.rest_port}"), (grpcclient, server.grpc_address)):
        tensor = module.InferInput(name, shape, datatype)
        tensor.set_data_from_numpy(data)
        result = module.InferenceServerClient(url).infer(model, [tensor])
        for output in outputs:
            assert result.as_numpy(output).shape == tuple(shape), (module.__name__, output)


def test_empty_string_batch_kserve_json(server: ServerProcess) -> None:
    body = {"inputs": [{"name": "text", "shape": [0], "datatype": "BYTES", "data": []}]}
    status, answer = rest(server, "/v2/models/strings/infer", json.dumps(body).encode())
    assert status == 200, answer
    assert answer["outputs"][0]["shape"] == [0] and answer["outputs"][0]["data"] == []


def test_empty_string_batch_tfs(server: ServerProcess, channel: grpc.Channel) -> None:
    status, answer = rest(server, "/v1/models/strings:predict", b'{"inputs": {"text": []}}')
    assert (status, answer) == (200, {"outputs": []})
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "strings"
    request.inputs["text"].dtype = types_pb2.DT_STRING
    request.inputs["text"].tensor_shape.dim.add().size = 0
    reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert [d.size for d in reply.outputs["text"].tensor_shape.dim] == [0]
    assert list(reply.outputs["text"].string_val) == []


def test_zz_server_still_serves(server: ServerProcess) -> None:
    assert server.alive()
    tensor = httpclient.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(np.array([b"a", b"bc"], dtype=object))
    result = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}").infer("strings", [tensor])
    assert result.as_numpy("text").tolist() == [b"a", b"bc"]
