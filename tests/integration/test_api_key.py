"""--api_key_file / API_KEY on both ports, with tritonclient, ovmsclient, raw gRPC stubs and raw HTTP.

The server gets the key from --api_key_file while API_KEY holds another value: the file wins
(OVMS's precedence). Every endpoint but server health needs ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import ovmsclient
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import add_scaled, model_file, reference, save, write_config
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from serverproc import HOST, ServerProcess, run_cli
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

KEY = "k3y-from-file"
GOOD = {"Authorization": f"Bearer {KEY}"}
GRPC_GOOD = (("authorization", f"Bearer {KEY}"),)
UNAUTHORIZED = "Unauthorized request due to invalid or missing api-key"
X = np.arange(8, dtype=np.float32).reshape(2, 4)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(add_scaled(), tmp_path_factory.mktemp("models") / "m")


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("apikey")
    config = write_config(root / "config.json", {"m": model_dir})
    (root / "key.txt").write_text(f"{KEY}\n")
    args = ["--config_path", str(config), "--api_key_file", str(root / "key.txt"), "--metrics_enable"]
    proc = ServerProcess(args, root / "ovserve.log", env={"API_KEY": "from-env-not-used"}).start()
    yield proc
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def expected(model_dir: Path) -> np.ndarray:
    """y for X, computed by OpenVINO in-process."""
    return reference(model_file(model_dir), {"x": X})["y"]


REST_CALLS = [
    (
        "POST",
        "/v2/models/m/infer",
        {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [0] * 8}]},
    ),
    ("POST", "/v1/models/m:predict", {"instances": [[0.0, 1.0, 2.0, 3.0]]}),
    ("GET", "/v2", None),
    ("GET", "/v2/models/m", None),
    ("GET", "/v2/models/m/ready", None),
    ("GET", "/v1/models/m", None),
    ("GET", "/v1/models/m/metadata", None),
    ("GET", "/v1/config", None),
    ("POST", "/v1/config/reload", None),
    ("POST", "/v2/repository/index", {}),
    ("GET", "/metrics", None),
    ("GET", "/no/such/url", None),
]


@pytest.mark.parametrize(("method", "path", "body"), REST_CALLS)
def test_rest_needs_the_key(server: ServerProcess, method: str, path: str, body: Any) -> None:
    url = server.rest_url + path
    for headers in ({}, {"Authorization": "Bearer from-env-not-used"}, {"Authorization": KEY}):
        answer = requests.request(method, url, json=body, headers=headers, timeout=10)
        assert answer.status_code == 401, (path, headers)
        assert answer.json() == {"error": UNAUTHORIZED}
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    answer = requests.request(method, url, json=body, headers=GOOD, timeout=10)
    assert answer.status_code != 401, answer.text


def test_rest_health_is_open(server: ServerProcess) -> None:
    for path in ("/v2/health/live", "/v2/health/ready"):
        assert requests.get(server.rest_url + path, timeout=10).status_code == 200


def test_rest_results_with_the_key(server: ServerProcess, expected: np.ndarray) -> None:
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": X.ravel().tolist()}]}
    answer = requests.post(f"{server.rest_url}/v2/models/m/infer", json=body, headers=GOOD, timeout=10)
    out = answer.json()["outputs"][0]
    np.testing.assert_allclose(np.array(out["data"], np.float32).reshape(2, 4), expected, rtol=1e-6)
    metrics = requests.get(f"{server.rest_url}/metrics", headers=GOOD, timeout=10)
    assert metrics.status_code == 200 and "ovms_requests_success" in metrics.text


def test_tritonclient_http(server: ServerProcess, expected: np.ndarray) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    inp = httpclient.InferInput("x", [2, 4], "FP32")
    inp.set_data_from_numpy(X)
    try:
        with pytest.raises(InferenceServerException, match=UNAUTHORIZED):
            client.infer("m", [inp])
        assert client.is_server_ready()  # health: no key
        result = client.infer("m", [inp], headers=dict(GOOD)).as_numpy("y")  # it adds to the dict
        np.testing.assert_allclose(result, expected, rtol=1e-6)
    finally:
        client.close()


def test_tritonclient_grpc_unary_and_stream(server: ServerProcess, expected: np.ndarray) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    inp = grpcclient.InferInput("x", [2, 4], "FP32")
    inp.set_data_from_numpy(X)
    try:
        assert client.is_server_live() and client.is_server_ready()  # no key
        for call in (
            lambda h: client.infer("m", [inp], headers=h),
            lambda h: client.get_server_metadata(headers=h),
            lambda h: client.get_model_metadata("m", headers=h),
            lambda h: client.is_model_ready("m", headers=h),
            lambda h: client.get_model_repository_index(headers=h),
            lambda h: client.load_model("m", headers=h),
        ):
            with pytest.raises(InferenceServerException) as refused:
                call(None)
            assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
            assert UNAUTHORIZED in refused.value.message()
            call({"authorization": f"Bearer {KEY}"})
        result = client.infer("m", [inp], headers={"authorization": f"Bearer {KEY}"}).as_numpy("y")
        np.testing.assert_allclose(result, expected, rtol=1e-6)
        assert _stream(client, inp, None).status() == "StatusCode.UNAUTHENTICATED"
        np.testing.assert_allclose(
            _stream(client, inp, {"authorization": f"Bearer {KEY}"}), expected, rtol=1e-6
        )
    finally:
        client.close()


def _stream(
    client: grpcclient.InferenceServerClient, inp: grpcclient.InferInput, headers: dict[str, str] | None
) -> Any:
    """One request on ModelStreamInfer (a stream-stream call): its result array, or its error."""
    results: queue.Queue[Any] = queue.Queue()
    client.start_stream(lambda result, error: results.put(error or result.as_numpy("y")), headers=headers)
    try:
        with contextlib.suppress(InferenceServerException):  # if the server already ended the stream
            client.async_stream_infer("m", [inp])  # (its reason then reaches the callback)
        return results.get(timeout=30)
    finally:
        client.stop_stream()


def test_tfs_grpc_with_ovmsclient_and_raw_stubs(server: ServerProcess, expected: np.ndarray) -> None:
    with pytest.raises(Exception, match=UNAUTHORIZED):  # ovmsclient cannot send metadata
        ovmsclient.make_grpc_client(server.grpc_address).predict({"x": X}, "m")
    with grpc.insecure_channel(server.grpc_address) as channel:
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "m"
        request.inputs["x"].CopyFrom(_tensor_proto(X))
        with pytest.raises(grpc.RpcError) as refused:
            predict(request, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert refused.value.details() == UNAUTHORIZED
        answer = predict(request, timeout=10, metadata=GRPC_GOOD)
        y = np.frombuffer(answer.outputs["y"].tensor_content, np.float32).reshape(2, 4)
        np.testing.assert_allclose(y, expected, rtol=1e-6)
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus
        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = "m"
        with pytest.raises(grpc.RpcError) as refused:
            status(status_request, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert status(status_request, timeout=10, metadata=GRPC_GOOD).model_version_status


def _tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape]
    )
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=shape, tensor_content=array.tobytes()
    )


def test_grpc_health_service_is_never_asked_for_a_key(server: ServerProcess) -> None:
    """grpc.health.v1 and KServe's ServerLive answer without a key (Kubernetes probes send none)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(server.grpc_address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        live = service_pb2_grpc.GRPCInferenceServiceStub(channel).ServerLive
        assert live(service_pb2.ServerLiveRequest(), timeout=10).live


def test_server_stays_up(server: ServerProcess) -> None:
    for _ in range(20):
        assert (
            requests.get(
                f"{server.rest_url}/v2", headers={"Authorization": "Bearer x"}, timeout=10
            ).status_code
            == 401
        )
    assert server.alive()
    assert requests.get(f"{server.rest_url}/v2", headers=GOOD, timeout=10).status_code == 200


def test_unreadable_key_file_stops_start_up(tmp_path: Path) -> None:
    done = run_cli(
        [
            "--port",
            "9000",
            "--model_name",
            "m",
            "--model_path",
            str(tmp_path),
            "--api_key_file",
            str(tmp_path / "nope"),
        ]
    )
    assert done.returncode == 64
    assert "--api_key_file: Error reading API key file: Unable to open file" in done.stderr
