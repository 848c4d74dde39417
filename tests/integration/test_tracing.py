"""OpenTelemetry tracing end to end: ovserve (--tracing_enable) exports OTLP to a real receiver
process on 127.0.0.1 (tests/clients/otlp_receiver.py), over OTLP/HTTP and OTLP/gRPC; the spans follow the W3C traceparent sent as
a REST header (tritonclient.http) and as gRPC metadata (tritonclient.grpc)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import F32, add_scaled, save
from serverproc import HOST, ServerProcess

RECEIVER = Path(__file__).resolve().parent.parent / "clients" / "otlp_receiver.py"
REST_TRACE, GRPC_TRACE = "0af7651916cd43dd8448eb211c80319c", "5b8efff798038103d269b633813fc60c"
PARENT = "b7ad6b7169203331"


@pytest.fixture(params=["http/protobuf", "grpc", "env"])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """An OTLP receiver process: (how ovserve is told about it, port, spans file). ``env``: an
    OTLP/gRPC receiver named by the SDK's OTEL_* variables only, no --tracing_* flag but the switch."""
    protocol: str = request.param
    out = tmp_path / "spans.jsonl"
    out.touch()
    kind = "http" if protocol == "http/protobuf" else "grpc"
    process = subprocess.Popen(
        [sys.executable, str(RECEIVER), str(out), kind], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield protocol, int(process.stdout.readline()), out
    finally:
        process.terminate()
        process.wait(10)


def test_spans_reach_an_otlp_receiver(
    receiver: tuple[str, int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    protocol, port, out = receiver
    path = "/v1/traces" if protocol == "http/protobuf" else ""
    base = save(add_scaled(), tmp_path / "models" / "m")
    config = tmp_path / "config.json"
    entry = {"name": "m", "base_path": str(base), "plugin_config": F32}
    config.write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    endpoint = f"http://{HOST}:{port}{path}"
    args = ["--config_path", str(config), "--tracing_enable"]
    service = "ovserve"
    if protocol == "env":
        service = "resnet-serving"
        for key, value in (
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", service),
        ):
            monkeypatch.setenv(key, value)  # the server process inherits them
    else:
        args += ["--tracing_endpoint", endpoint, "--tracing_protocol", protocol]
    server = ServerProcess(args, tmp_path / "ovserve.log").start()
    try:
        x = np.ones((2, 4), np.float32)
        rest_input = httpclient.InferInput("x", [2, 4], "FP32")
        rest_input.set_data_from_numpy(x)
        rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        rest.infer("m", [rest_input], headers={"traceparent": f"00-{REST_TRACE}-{PARENT}-01"})
        grpc_input = grpcclient.InferInput("x", [2, 4], "FP32")
        grpc_input.set_data_from_numpy(x)
        grpc = grpcclient.InferenceServerClient(server.grpc_address)
        grpc.infer("m", [grpc_input], headers={"traceparent": f"00-{GRPC_TRACE}-{PARENT}-01"})
    finally:
        assert server.stop() == 0, server.log()  # the server flushes its spans as it stops
    spans = [json.loads(line) for line in out.read_text().splitlines()]
    for trace_id, interface in ((REST_TRACE, "REST"), (GRPC_TRACE, "gRPC")):
        mine = {s["name"]: s for s in spans if s["trace_id"] == trace_id}
        assert set(mine) == {"infer m", "decode", "queue", "inference", "encode"}, spans
        root = mine["infer m"]
        assert root["parent_span_id"] == PARENT and root["service"] == service
        assert root["attributes"] == {
            "ovserve.model.name": "m",
            "ovserve.model.version": 1,
            "ovserve.api": "KServe",
            "ovserve.interface": interface,
        }
        for stage in ("decode", "queue", "inference", "encode"):
            assert mine[stage]["parent_span_id"] == root["span_id"]
            assert root["start"] <= mine[stage]["start"] <= mine[stage]["end"] <= root["end"]
