"""Unknown and missing inputs over KServe, and bodies past the size limit on REST and gRPC."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import add_scaled, model_file, multi_io, reference, save
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from serverproc import HOST, ServerProcess
from tritonclient.utils import InferenceServerException

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("limits")
    base = save(multi_io(), root / "multi")
    config = root / "config.json"
    config.write_text(
        json.dumps(
            {
                "model_config_list": [
                    {"config": {"name": "multi", "base_path": str(base)}},
                    {"config": {"name": "dyn", "base_path": str(save(add_scaled(), root / "dyn"))}},
                ]
            }
        )
    )
    server = ServerProcess(
        ["--config_path", str(config), "--max_request_bytes", str(LIMIT)], root / "log.txt"
    )
    server.start()
    yield server, base
    assert server.stop() == 0


def post(url: str, body: bytes) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())["error"]


def kserve_body(inputs: dict[str, tuple[str, list[int], list[float]]]) -> bytes:
    return json.dumps(
        {
            "inputs": [
                {"name": n, "datatype": dt, "shape": shape, "data": data}
                for n, (dt, shape, data) in inputs.items()
            ]
        }
    ).encode()


def test_rest_unknown_and_missing_inputs(small_limit: tuple[ServerProcess, Path]) -> None:
    server, _ = small_limit
    url = f"{server.rest_url}/v2/models/multi/infer"
    status, message = post(
        url, kserve_body({"a": ("FP32", [1, 3], [1, 2, 3]), "zzz": ("INT32", [1, 3], [1, 2, 3])})
    )
    assert status == 400 and "Required input: b" in message and "zzz" in message
    status, message = post(url, kserve_body({"a": ("FP32", [1, 3], [1, 2, 3])}))
    assert status == 400 and "Invalid number of inputs - Expected: 2; Actual: 1" in message


def test_grpc_unknown_and_missing_inputs(small_limit: tuple[ServerProcess, Path]) -> None:
    server, base = small_limit
    client = grpcclient.InferenceServerClient(server.grpc_address)
    a = grpcclient.InferInput("a", [1, 3], "FP32")
    a.set_data_from_numpy(np.ones((1, 3), np.float32))
    wrong = grpcclient.InferInput("c", [1, 3], "INT32")
    wrong.set_data_from_numpy(np.ones((1, 3), np.int32))
    with pytest.raises(InferenceServerException) as err:
        client.infer("multi", [a, wrong])
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT" and "Required input: b" in err.value.message()
    with pytest.raises(InferenceServerException) as err:
        client.infer("multi", [a])
    assert "Invalid number of inputs" in err.value.message()
    b = grpcclient.InferInput("b", [1, 3], "INT32")
    b.set_data_from_numpy(np.array([[1, 2, 3]], np.int32))
    result = client.infer("multi", [a, b])
    expected = reference(
        model_file(base), {"a": np.ones((1, 3), np.float32), "b": np.array([[1, 2, 3]], np.int32)}
    )
    np.testing.assert_array_equal(result.as_numpy("prod"), expected["prod"])


def test_rest_body_past_the_limit_is_413(small_limit: tuple[ServerProcess, Path]) -> None:
    server, _ = small_limit
    rows = LIMIT // 16
    x = np.zeros((rows, 4), np.float32)
    status, message = post(
        f"{server.rest_url}/v2/models/dyn/infer", kserve_body({"x": ("FP32", [rows, 4], x.ravel().tolist())})
    )
    assert status == 413 and str(LIMIT) in message
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    small = httpclient.InferInput("x", [2, 4], "FP32")
    small.set_data_from_numpy(np.ones((2, 4), np.float32))
    np.testing.assert_allclose(client.infer("dyn", [small]).as_numpy("y"), np.full((2, 4), 3.0))


def test_grpc_message_past_the_limit_is_resource_exhausted(small_limit: tuple[ServerProcess, Path]) -> None:
    server, _ = small_limit
    client = grpcclient.InferenceServerClient(server.grpc_address)
    rows = LIMIT // 8
    big = grpcclient.InferInput("x", [rows, 4], "FP32")
    big.set_data_from_numpy(np.zeros((rows, 4), np.float32))
    with pytest.raises(InferenceServerException) as err:
        client.infer("dyn", [big])
    assert err.value.status() == str(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert server.alive()


def test_tfs_grpc_message_past_the_limit_is_resource_exhausted(
    small_limit: tuple[ServerProcess, Path],
) -> None:
    server, _ = small_limit
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "dyn"
    proto = request.inputs["x"]
    proto.dtype = types_pb2.DT_FLOAT
    for size in (LIMIT // 8, 4):
        proto.tensor_shape.dim.add().size = size
    proto.tensor_content = b"\0" * (LIMIT * 2)
    with grpc.insecure_channel(server.grpc_address) as channel, pytest.raises(grpc.RpcError) as err:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert server.alive()
