"""The standard gRPC health service (grpc.health.v1, through grpcio-health-checking's stub) and
server reflection (through grpcurl, a real reflection client) against ovserve from its CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import tritonclient.http as httpclient
from grpc_health.v1 import health_pb2, health_pb2_grpc
from models import F32, add_scaled, save
from serverproc import HOST, ServerProcess

GRPCURL = str(Path(sys.executable).parent / "grpcurl")
Status = health_pb2.HealthCheckResponse
SERVICES = {
    "inference.GRPCInferenceService",
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """``m`` and ``other`` serve; ``broken`` fails to load (its status says why)."""
    models = tmp_path / "models"
    broken = models / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "model.xml").write_text("<net>half copied")
    (broken / "model.bin").write_bytes(b"")
    entries = [
        {"name": "m", "base_path": str(save(add_scaled(), models / "m")), "plugin_config": F32},
        {"name": "other", "base_path": str(save(add_scaled(), models / "other")), "plugin_config": F32},
        {"name": "broken", "base_path": str(models / "broken")},
    ]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [{"config": e} for e in entries]}))
    proc = ServerProcess(["--config_path", str(config)], tmp_path / "ovserve.log").start()
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()


def health(server: ServerProcess) -> tuple[grpc.Channel, health_pb2_grpc.HealthStub]:
    channel = grpc.insecure_channel(server.grpc_address)
    return channel, health_pb2_grpc.HealthStub(channel)


def check(stub: health_pb2_grpc.HealthStub, service: str) -> int:
    return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status)


def test_check_overall_services_and_models(server: ServerProcess) -> None:
    channel, stub = health(server)
    with channel:
        for service in ("", "inference.GRPCInferenceService", "tensorflow.serving.PredictionService"):
            assert check(stub, service) == Status.SERVING, service
        assert check(stub, "m") == Status.SERVING
        assert check(stub, "broken") == Status.NOT_SERVING  # known, no AVAILABLE version
        with pytest.raises(grpc.RpcError) as failed:
            check(stub, "no_such_model")
        assert failed.value.code() == grpc.StatusCode.NOT_FOUND
        assert "no_such_model" in str(failed.value.details())


def test_watch_follows_unload_and_load_of_a_model(server: ServerProcess) -> None:
    channel, stub = health(server)
    control = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    with channel:
        watch = stub.Watch(health_pb2.HealthCheckRequest(service="m"), timeout=60)
        assert next(watch).status == Status.SERVING
        control.unload_model("m")
        assert next(watch).status == Status.NOT_SERVING
        assert check(stub, "m") == Status.NOT_SERVING
        assert check(stub, "other") == Status.SERVING  # nothing else disturbed
        control.load_model("m")
        assert next(watch).status == Status.SERVING
        watch.cancel()
        unknown = stub.Watch(health_pb2.HealthCheckRequest(service="later"), timeout=60)
        assert next(unknown).status == Status.SERVICE_UNKNOWN
        unknown.cancel()


def test_watch_sees_not_serving_on_sigterm_and_the_stream_ends(server: ServerProcess) -> None:
    channel, stub = health(server)
    with channel:
        overall = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        model = stub.Watch(health_pb2.HealthCheckRequest(service="m"), timeout=60)
        assert next(overall).status == Status.SERVING
        assert next(model).status == Status.SERVING
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert next(overall).status == Status.NOT_SERVING
        assert next(model).status == Status.NOT_SERVING
        assert list(overall) == [] and list(model) == []  # the streams end: shutdown is not held
    assert server.process.wait(30) == 0


def run_grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRPCURL, "-plaintext", "-max-time", "20", *args], capture_output=True, text=True, timeout=30
    )


def test_grpcurl_lists_and_describes_every_service(server: ServerProcess) -> None:
    listed = run_grpcurl(server.grpc_address, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == SERVICES
    kserve = run_grpcurl(server.grpc_address, "describe", "inference.GRPCInferenceService")
    assert kserve.returncode == 0, kserve.stderr
    assert "rpc ModelInfer ( .inference.ModelInferRequest )" in kserve.stdout
    message = run_grpcurl(server.grpc_address, "describe", "inference.ModelInferRequest")
    assert "repeated .inference.ModelInferRequest.InferInputTensor inputs" in message.stdout, message.stderr
    tfs = run_grpcurl(server.grpc_address, "describe", "tensorflow.serving.PredictRequest")
    assert "map<string, .tensorflow.TensorProto> inputs" in tfs.stdout, tfs.stderr


def test_grpcurl_calls_through_reflection(server: ServerProcess) -> None:
    """grpcurl builds its requests from the reflected descriptors: KServe, TF Serving and health."""
    address = server.grpc_address
    meta = run_grpcurl("-d", '{"name": "m"}', address, "inference.GRPCInferenceService/ModelMetadata")
    assert meta.returncode == 0, meta.stderr
    answer = json.loads(meta.stdout)
    assert (answer["name"], answer["inputs"][0]["name"], answer["outputs"][0]["name"]) == ("m", "x", "y")
    status = run_grpcurl(
        "-d", '{"model_spec": {"name": "m"}}', address, "tensorflow.serving.ModelService/GetModelStatus"
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["model_version_status"][0]["state"] == "AVAILABLE"
    probe = run_grpcurl("-d", '{"service": "m"}', address, "grpc.health.v1.Health/Check")
    assert (probe.returncode, json.loads(probe.stdout)) == (0, {"status": "SERVING"}), probe.stderr
    missing = run_grpcurl("-d", '{"service": "nope"}', address, "grpc.health.v1.Health/Check")
    assert missing.returncode != 0 and "NotFound" in missing.stderr
