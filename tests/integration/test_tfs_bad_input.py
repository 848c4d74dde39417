"""Bad TF Serving requests against the running server: raw HTTP, and raw gRPC built from ovmsclient's
bundled protobuf messages. Each answer must carry the right status and name the problem; afterwards
the server must still be alive and answer a good request."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from serverproc import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers of the sibling TFS tests
from test_tfs_rest import http


# -- REST ------------------------------------------------------------------------------
def rest_error(server: ServerProcess, path: str, body: object, status: int, *needles: str) -> str:
    got, answer = http(server, "POST", path, body)
    assert got == status, answer
    assert set(answer) == {"error"}
    for needle in needles:
        assert needle in answer["error"], answer["error"]
    return str(answer["error"])


def test_rest_bad_json(server: ServerProcess) -> None:
    message = rest_error(server, "/v1/models/dynamic:predict", b'{"instances": [[1, 2, 3, 4]', 412)
    assert message.startswith("The file is not valid json - Error: ")


def test_rest_row_or_column_ambiguity(server: ServerProcess) -> None:
    for body in (
        {"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]},
        {"signature_name": "serving_default"},
    ):
        assert rest_error(server, "/v1/models/dynamic:predict", body, 400) == (
            "Invalid JSON structure. Could not detect row or column format"
        )


def test_rest_ragged_arrays(server: ServerProcess) -> None:
    rest_error(
        server,
        "/v1/models/dynamic:predict",
        {"instances": [[1, 2, 3, 4], [1, 2]]},
        400,
        "Not valid ndarray detected",
        "input x",
    )
    rest_error(
        server,
        "/v1/models/dynamic:predict",
        {"inputs": {"x": [[1, 2, 3, 4], 5]}},
        400,
        "Not valid ndarray detected",
        "input x",
    )


def test_rest_different_batch_sizes(server: ServerProcess) -> None:
    body = {"instances": [{"a": [1, 2, 3], "b": [1, 2, 3]}, {"a": [1, 2, 3]}]}
    rest_error(
        server,
        "/v1/models/multi_io:predict",
        body,
        400,
        "Invalid JSON structure. Request inputs have different batch sizes",
    )


def test_rest_unnamed_values_for_a_multi_input_model(server: ServerProcess) -> None:
    rest_error(
        server,
        "/v1/models/multi_io:predict",
        {"inputs": [[1, 2, 3]]},
        400,
        "Inputs inside buffer does not match expected format",
        "a, b",
    )


def test_rest_wrong_dtype(server: ServerProcess) -> None:
    rest_error(
        server,
        "/v1/models/identity_fp32:predict",
        {"inputs": [["a"] * 10]},
        400,
        "Invalid input precision",
        "Expected: FP32",
        "Actual: STRING",
        "in",
    )
    rest_error(
        server,
        "/v1/models/identity_uint8:predict",
        {"inputs": [[1, 2, 300], [1, 2, 3]]},
        400,
        "input in",
        "U8",
    )


def test_rest_numbers_where_strings_belong(server: ServerProcess) -> None:
    for body in ({"inputs": {"text": [1, 2]}}, {"instances": [1.5, 2]}, {"inputs": [[1, "a"]]}):
        rest_error(server, "/v1/models/strings:predict", body, 400, "text")


def test_rest_wrong_shape(server: ServerProcess) -> None:
    rest_error(
        server,
        "/v1/models/identity_fp32:predict",
        {"inputs": [[1, 2, 3]]},
        400,
        "Invalid input shape",
        "(1,10)",
        "(1,3)",
    )
    rest_error(
        server,
        "/v1/models/identity_fp32:predict",
        {"inputs": [1, 2]},
        400,
        "Invalid number of shape dimensions",
        "input name: in",
    )
    rest_error(
        server,
        "/v1/models/identity_fp32:predict",
        {"instances": [[0] * 10, [0] * 10]},
        400,
        "Invalid input batch size",
        "Expected: 1; Actual: 2",
    )


def test_rest_missing_input(server: ServerProcess) -> None:
    rest_error(
        server,
        "/v1/models/multi_io:predict",
        {"inputs": {"a": [[1, 2, 3]]}},
        400,
        "Invalid number of inputs - Expected: 2; Actual: 1",
    )
    rest_error(
        server,
        "/v1/models/multi_io:predict",
        {"inputs": {"a": [[1, 2, 3]], "c": [[1, 2, 3]]}},
        400,
        "Missing input with specific name - Required input: b",
    )


def test_rest_unknown_model_and_version(server: ServerProcess) -> None:
    rest_error(
        server,
        "/v1/models/nope:predict",
        {"inputs": [[1]]},
        404,
        "Model with requested name is not found",
        "nope",
    )
    rest_error(
        server,
        "/v1/models/versions/versions/3:predict",
        {"inputs": [[1, 2, 3, 4]]},
        404,
        "Model with requested version is not found",
    )
    status, answer = http(server, "GET", "/v1/models/versions/versions/99999999999999999999999/metadata")
    assert status == 404 and "requested version is not found" in answer["error"]
    status, answer = http(server, "GET", "/v1/models/nope")
    assert status == 404 and "requested name is not found" in answer["error"]


def test_rest_wrong_method(server: ServerProcess) -> None:
    assert http(server, "GET", "/v1/models/dynamic:predict")[0] == 406
    assert http(server, "POST", "/v1/models/dynamic/metadata", {})[0] == 406


# -- gRPC ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_address) as opened:
        yield opened


@pytest.fixture(scope="module")
def prediction(channel: grpc.Channel) -> Any:
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel: grpc.Channel) -> Any:
    return model_service_pb2_grpc.ModelServiceStub(channel)


def tensor(request: Any, name: str, dtype: int, shape: tuple[int, ...], content: bytes) -> None:
    proto = request.inputs[name]
    proto.dtype = dtype
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    proto.tensor_content = content


def predict(name: str, version: int = 0) -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version:
        request.model_spec.version.value = version
    return request


def grpc_error(call: Any, request: Any, code: grpc.StatusCode, *needles: str) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    error: Any = caught.value
    assert error.code() == code, error.details()
    for needle in needles:
        assert needle in error.details(), error.details()
    return str(error.details())


def good_fp32() -> Any:
    request = predict("identity_fp32")
    tensor(request, "in", types_pb2.DT_FLOAT, (1, 10), np.arange(10, dtype=np.float32).tobytes())
    return request


def test_grpc_wrong_dtype(prediction: Any) -> None:
    request = predict("identity_fp32")
    tensor(request, "in", types_pb2.DT_INT32, (1, 10), np.arange(10, dtype=np.int32).tobytes())
    grpc_error(
        prediction.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid input precision - Expected: FP32; Actual: I32",
        "input name: in",
    )


def test_grpc_wrong_shape(prediction: Any) -> None:
    request = predict("identity_fp32")
    tensor(request, "in", types_pb2.DT_FLOAT, (2, 5), np.arange(10, dtype=np.float32).tobytes())
    grpc_error(
        prediction.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid input batch size - Expected: 1; Actual: 2",
    )
    request = predict("dynamic")
    tensor(request, "x", types_pb2.DT_FLOAT, (2, 3), np.zeros(6, np.float32).tobytes())
    grpc_error(
        prediction.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid input shape - Expected: (-1,4); Actual: (2,3)",
    )


def test_grpc_content_size_mismatch(prediction: Any) -> None:
    request = predict("identity_fp32")
    tensor(request, "in", types_pb2.DT_FLOAT, (1, 10), np.arange(9, dtype=np.float32).tobytes())
    grpc_error(
        prediction.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid content size of tensor proto - Expected: 40 bytes; Actual: 36 bytes",
        "input name: in",
    )


def test_grpc_value_count_mismatch(prediction: Any) -> None:
    request = predict("identity_fp32")
    proto = request.inputs["in"]
    proto.dtype = types_pb2.DT_FLOAT
    proto.tensor_shape.dim.add().size = 1
    proto.tensor_shape.dim.add().size = 10
    proto.float_val.extend([1.0, 2.0])
    grpc_error(
        prediction.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid number of values in tensor proto container - Expected: 10; Actual: 2",
    )


def test_grpc_missing_input(prediction: Any) -> None:
    request = predict("multi_io")
    tensor(request, "a", types_pb2.DT_FLOAT, (1, 3), np.zeros(3, np.float32).tobytes())
    grpc_error(
        prediction.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid number of inputs - Expected: 2; Actual: 1",
    )
    tensor(request, "c", types_pb2.DT_INT32, (1, 3), np.zeros(3, np.int32).tobytes())
    grpc_error(
        prediction.Predict,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing input with specific name - Required input: b",
    )


def test_grpc_unknown_model_and_version(prediction: Any, models: Any) -> None:
    request = good_fp32()
    request.model_spec.name = "nope"
    grpc_error(prediction.Predict, request, grpc.StatusCode.NOT_FOUND, "requested name is not found", "nope")
    request = good_fp32()
    request.model_spec.version.value = 4
    grpc_error(prediction.Predict, request, grpc.StatusCode.NOT_FOUND, "requested version is not found")
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "nope"
    grpc_error(models.GetModelStatus, status, grpc.StatusCode.NOT_FOUND, "requested name is not found")


def test_grpc_metadata_request_checks(prediction: Any) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    grpc_error(
        prediction.GetModelMetadata,
        request,
        grpc.StatusCode.INVALID_ARGUMENT,
        "model_spec missing in request",
    )
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["inputs"])
    request.model_spec.name = "dynamic"
    grpc_error(
        prediction.GetModelMetadata, request, grpc.StatusCode.INVALID_ARGUMENT, "Invalid signature name"
    )


def test_grpc_unimplemented(prediction: Any, models: Any) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "dynamic"
    grpc_error(prediction.Classify, request, grpc.StatusCode.UNIMPLEMENTED, "Classify")
    reload = model_management_pb2.ReloadConfigRequest()
    reload.config.custom_model_config.type_url = "type.googleapis.com/my.Config"
    grpc_error(models.HandleReloadConfigRequest, reload, grpc.StatusCode.UNIMPLEMENTED, "custom_model_config")


# -- still serving ---------------------------------------------------------------------
def test_server_still_serves_after_bad_input(server: ServerProcess, prediction: Any) -> None:
    reply = prediction.Predict(good_fp32(), timeout=30)
    out = reply.outputs["out"]
    assert out.dtype == types_pb2.DT_FLOAT
    np.testing.assert_array_equal(
        np.frombuffer(out.tensor_content, np.float32), np.arange(10, dtype=np.float32)
    )
    status, answer = http(server, "POST", "/v1/models/dynamic:predict", {"instances": [[1, 2, 3, 4]]})
    assert (status, answer) == (200, {"predictions": [[3.0, 5.0, 7.0, 9.0]]})
    assert server.alive()
