"""BF16 tensors on every API, against the running server, compared with in-process OpenVINO.

The ``bf16`` catalog model takes ``x`` [-1,4] BF16 and answers ``y`` (BF16) = x * 3 + 0.5 and
``y_f32`` (FP32) = x * 2. Clients hold BF16 as ``ml_dtypes.bfloat16`` (tritonclient's choice).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import ml_dtypes
import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import model_file, reference
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from serverproc import ServerProcess
from tritonclient.utils import InferenceServerException

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers of the sibling TFS tests
from test_tfs_rest import http

#: values exactly representable in BF16, with a sign, a large and a tiny one
X = np.array([[1.5, -2.0, 3.25, 100.5], [0.0, 1e30, -7.0, 0.125]], dtype=np.float32).astype(
    ml_dtypes.bfloat16
)


@pytest.fixture(scope="module")
def expected(repo: dict[str, Path]) -> dict[str, np.ndarray]:
    return reference(model_file(repo["bf16"]), {"x": X})


def bits(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).view(np.uint16)


@pytest.fixture(scope="module")
def rest_client(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(url=server.rest_url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    yield client
    client.close()


def test_expected_values_are_the_models_arithmetic(expected: dict[str, np.ndarray]) -> None:
    wide = X.astype(np.float32)
    np.testing.assert_array_equal(bits(expected["y"]), bits((wide * 3 + 0.5).astype(ml_dtypes.bfloat16)))
    np.testing.assert_array_equal(expected["y_f32"], wide * 2)


@pytest.mark.parametrize("binary_outputs", [True, False])
def test_kserve_rest_binary(
    rest_client: httpclient.InferenceServerClient, expected: dict[str, np.ndarray], binary_outputs: bool
) -> None:
    item = httpclient.InferInput("x", list(X.shape), "BF16")
    item.set_data_from_numpy(X, binary_data=True)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary_outputs) for n in ("y", "y_f32")]
    result = rest_client.infer("bf16", [item], outputs=outputs)
    assert result.get_output("y")["datatype"] == "BF16"
    np.testing.assert_array_equal(bits(result.as_numpy("y")), bits(expected["y"]))
    np.testing.assert_array_equal(result.as_numpy("y_f32"), expected["y_f32"])


def test_kserve_rest_json_bf16_data_is_refused(server: ServerProcess) -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BF16", "data": [1, 2, 3, 4]}]}
    request = urllib.request.Request(
        server.rest_url + "/v2/models/bf16/infer", data=json.dumps(body).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    assert (
        "Could not parse input content - BF16 values can only be sent as binary data"
        in json.loads(caught.value.read())["error"]
    )


def test_kserve_grpc_raw(
    grpc_client: grpcclient.InferenceServerClient, expected: dict[str, np.ndarray]
) -> None:
    item = grpcclient.InferInput("x", list(X.shape), "BF16")
    item.set_data_from_numpy(X)
    result = grpc_client.infer("bf16", [item])
    np.testing.assert_array_equal(bits(result.as_numpy("y")), bits(expected["y"]))
    np.testing.assert_array_equal(result.as_numpy("y_f32"), expected["y_f32"])


def test_kserve_metadata(
    rest_client: httpclient.InferenceServerClient, grpc_client: grpcclient.InferenceServerClient
) -> None:
    meta = rest_client.get_model_metadata("bf16")
    assert meta["inputs"] == [{"name": "x", "datatype": "BF16", "shape": [-1, 4]}]
    assert [o["datatype"] for o in meta["outputs"]] == ["BF16", "FP32"]
    assert grpc_client.get_model_metadata("bf16").inputs[0].datatype == "BF16"


def test_kserve_grpc_typed_contents_are_refused(grpc_client: grpcclient.InferenceServerClient) -> None:
    request = grpcclient.service_pb2.ModelInferRequest(model_name="bf16")
    tensor = request.inputs.add(name="x", datatype="BF16", shape=[1, 4])
    tensor.contents.fp32_contents.extend([1, 2, 3, 4])
    stub = grpcclient.service_pb2_grpc.GRPCInferenceServiceStub(grpc_client._channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "BF16 values can only be sent in raw_input_contents" in caught.value.details()


def test_kserve_datatype_must_match(grpc_client: grpcclient.InferenceServerClient) -> None:
    item = grpcclient.InferInput("x", list(X.shape), "FP16")
    item.set_data_from_numpy(X.astype(np.float16))
    with pytest.raises(
        InferenceServerException, match="Invalid input precision - Expected: BF16; Actual: FP16"
    ):
        grpc_client.infer("bf16", [item])


def tfs_predict(server: ServerProcess, tensor: Any) -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "bf16"
    request.inputs["x"].CopyFrom(tensor)
    with grpc.insecure_channel(server.grpc_address) as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)


@pytest.mark.parametrize("placement", ["tensor_content", "half_val"])
def test_tfs_grpc(server: ServerProcess, expected: dict[str, np.ndarray], placement: str) -> None:
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_BFLOAT16)
    for size in X.shape:
        tensor.tensor_shape.dim.add().size = size
    if placement == "tensor_content":
        tensor.tensor_content = X.tobytes()
    else:  # TensorFlow's typed form: the bit patterns in half_val
        tensor.half_val.extend(bits(X).ravel().tolist())
    answer = tfs_predict(server, tensor)
    y = answer.outputs["y"]
    assert y.dtype == types_pb2.DT_BFLOAT16
    assert [d.size for d in y.tensor_shape.dim] == [2, 4]
    np.testing.assert_array_equal(
        np.frombuffer(y.tensor_content, np.uint16).reshape(2, 4), bits(expected["y"])
    )
    y_f32 = answer.outputs["y_f32"]
    np.testing.assert_array_equal(
        np.frombuffer(y_f32.tensor_content, np.float32).reshape(2, 4), expected["y_f32"]
    )


def test_tfs_metadata(server: ServerProcess) -> None:
    client = ovmsclient.make_grpc_client(server.grpc_address)
    meta = client.get_model_metadata("bf16")
    assert meta["inputs"] == {"x": {"dtype": "DT_BFLOAT16", "shape": [-1, 4]}}
    assert meta["outputs"]["y"]["dtype"] == "DT_BFLOAT16"


def test_tfs_rest_numbers_in_and_out(server: ServerProcess, expected: dict[str, np.ndarray]) -> None:
    status, answer = http(
        server, "POST", "/v1/models/bf16:predict", {"inputs": {"x": X.astype(np.float32).tolist()}}
    )
    assert status == 200, answer
    np.testing.assert_array_equal(
        np.array(answer["outputs"]["y"], np.float32), expected["y"].astype(np.float32)
    )
    np.testing.assert_array_equal(np.array(answer["outputs"]["y_f32"], np.float32), expected["y_f32"])
