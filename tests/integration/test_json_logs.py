"""--log_format json: every log line is a JSON object, and the lines a request causes carry its
request id (the client's x-request-id, echoed back, or one the server makes), over REST and gRPC."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from models import F32, add_scaled, save
from serverproc import ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    base = save(add_scaled(), tmp_path / "models" / "m")
    config = tmp_path / "config.json"
    entry = {"name": "m", "base_path": str(base), "plugin_config": F32}
    config.write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    proc = ServerProcess(
        ["--config_path", str(config), "--log_format", "json"], tmp_path / "ovserve.log"
    ).start()
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()


def post(server: ServerProcess, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(server.rest_url + path, data=b"", headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.status, dict(answer.headers)


def lines(server: ServerProcess) -> list[dict[str, Any]]:
    """Every line the server logged, parsed (a line that is not JSON fails the test)."""
    out = []
    for line in server.log().splitlines():
        if not line.startswith("{"):
            assert "absl" in line or line.startswith(("E0000", "WARNING: All log")), (
                line
            )  # native gRPC/TF noise
            continue
        out.append(json.loads(line))
    return out


def test_rest_request_id_is_echoed_and_on_every_line_of_the_request(server: ServerProcess) -> None:
    status, headers = post(server, "/v2/repository/models/m/unload", {"x-request-id": "unload-42"})
    assert status == 200 and headers["x-request-id"] == "unload-42"
    status, headers = post(server, "/v2/repository/models/m/load", {"x-request-id": "load-43"})
    assert status == 200 and headers["x-request-id"] == "load-43"
    logged = lines(server)
    assert {"time", "level", "logger", "message"} <= set(logged[0])
    loading = [e for e in logged if "LOADING" in e["message"] or "loaded m" in e["message"]]
    assert loading and all(e.get("request_id") == "load-43" for e in loading[-2:]), loading
    unloading = [e for e in logged if "UNLOADING" in e["message"]]
    assert unloading and all(e.get("request_id") == "unload-42" for e in unloading), unloading
    ready = [e for e in logged if e["message"].startswith("server ready")]
    assert ready and "request_id" not in ready[0]  # not inside a request
    _, made = post(server, "/v2/repository/models/m/load", {})
    assert made["x-request-id"]  # made by the server when the client sends none


def test_grpc_request_id_is_echoed_and_logged(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        _, call = stub.RepositoryModelUnload.with_call(
            service_pb2.RepositoryModelUnloadRequest(model_name="m"),
            metadata=[("x-request-id", "grpc-7")],
            timeout=60,
        )
        assert ("x-request-id", "grpc-7") in list(call.initial_metadata())
        _, call = stub.ServerReady.with_call(service_pb2.ServerReadyRequest(), timeout=10)
        made = dict(call.initial_metadata())["x-request-id"]
        assert made and made != "grpc-7"
    unloading = [e for e in lines(server) if "UNLOADING" in e["message"]]
    assert unloading and all(e.get("request_id") == "grpc-7" for e in unloading), unloading


def test_streaming_methods_work_with_request_ids(server: ServerProcess) -> None:
    """The call-context interceptor wraps unary-stream (health Watch) and stream-stream (ModelStreamInfer)."""
    with grpc.insecure_channel(server.grpc_address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="m"), metadata=[("x-request-id", "watch-1")], timeout=30
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        assert ("x-request-id", "watch-1") in list(watch.initial_metadata())
        watch.cancel()
        request = service_pb2.ModelInferRequest(model_name="m")
        tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 4])
        tensor.contents.fp32_contents.extend([1, 2, 3, 4])
        stream = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer(
            iter([request]), timeout=30
        )
        [reply] = list(stream)
        assert reply.error_message == "" and reply.infer_response.model_name == "m"
        assert dict(stream.initial_metadata())["x-request-id"]
