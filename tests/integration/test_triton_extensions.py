"""Triton's model configuration and statistics extensions: wire numbers against tritonclient's
descriptors, answers through tritonclient (HTTP and gRPC), and Triton's perf_analyzer over both
protocols (it reads the configuration first and the statistics after each window).

perf_analyzer comes from ``make perf-tools`` (the tritonclient 2.49.0 wheel's binary, under .tools/perf).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf.descriptor import Descriptor, EnumDescriptor
from models import model_file, reference
from serverproc import HOST, ServerProcess
from tritonclient.grpc import model_config_pb2, service_pb2
from tritonclient.utils import InferenceServerException

from ovserve._generated.kserve import grpc_predict_v2_pb2 as ours

REPO = Path(__file__).resolve().parents[2]
PERF_DIR = REPO / ".tools" / "perf"
PERF_ANALYZER = PERF_DIR / "bin" / "perf_analyzer"

#: our message -> tritonclient's file that defines it
MESSAGES = {
    "ModelConfigRequest": service_pb2,
    "ModelConfigResponse": service_pb2,
    "ModelStatisticsRequest": service_pb2,
    "ModelStatisticsResponse": service_pb2,
    "ModelStatistics": service_pb2,
    "InferStatistics": service_pb2,
    "StatisticDuration": service_pb2,
    "InferBatchStatistics": service_pb2,
    "ModelConfig": model_config_pb2,
    "ModelInput": model_config_pb2,
    "ModelOutput": model_config_pb2,
    "ModelInstanceGroup": model_config_pb2,
    "ModelDynamicBatching": model_config_pb2,
    "ModelTransactionPolicy": model_config_pb2,
}


def _type_name(field: Any) -> str:
    sub = field.message_type or field.enum_type
    return sub.full_name if sub is not None else str(field.type)


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_wire_numbers_match_tritonclient(name: str) -> None:
    mine: Descriptor = ours.DESCRIPTOR.message_types_by_name[name]
    theirs: Descriptor = MESSAGES[name].DESCRIPTOR.message_types_by_name[name]
    assert mine.full_name == theirs.full_name
    for field in mine.fields:
        other = theirs.fields_by_name[field.name]
        assert (field.number, _type_name(field), field.is_repeated) == (
            other.number,
            _type_name(other),
            other.is_repeated,
        ), f"{name}.{field.name}"


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        (
            ours.DESCRIPTOR.enum_types_by_name["DataType"],
            model_config_pb2.DESCRIPTOR.enum_types_by_name["DataType"],
        ),
        (
            ours.ModelInstanceGroup.DESCRIPTOR.enum_types_by_name["Kind"],
            model_config_pb2.ModelInstanceGroup.DESCRIPTOR.enum_types_by_name["Kind"],
        ),
    ],
)
def test_enums_match_tritonclient(mine: EnumDescriptor, theirs: EnumDescriptor) -> None:
    assert [(v.name, v.number) for v in mine.values] == [(v.name, v.number) for v in theirs.values]


def test_methods_match_tritonclient() -> None:
    mine = ours.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    for method in ("ModelConfig", "ModelStatistics"):
        a, b = mine.methods_by_name[method], theirs.methods_by_name[method]
        assert (a.input_type.full_name, a.output_type.full_name) == (
            b.input_type.full_name,
            b.output_type.full_name,
        )


EXPECTED_CONFIG = {
    "name": "dynamic",
    "platform": "openvino",
    "backend": "openvino",
    "max_batch_size": 0,
    "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [-1, 4]}],
    "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [-1, 4]}],
    "instance_group": [{"name": "dynamic", "kind": "KIND_CPU", "count": 1}],
    "model_transaction_policy": {"decoupled": False},
}


def test_model_config_over_http_and_grpc(server: ServerProcess) -> None:
    http = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    assert http.get_model_config("dynamic") == EXPECTED_CONFIG
    assert http.get_model_config("versions", "1")["name"] == "versions"
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    config = grpc.get_model_config("dynamic", as_json=True)["config"]
    assert int(config.get("max_batch_size", 0)) == 0  # proto3 JSON leaves zeros out
    assert [(i["name"], i["data_type"], i["dims"]) for i in config["input"]] == [
        ("x", "TYPE_FP32", ["-1", "4"])
    ]
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    for client in (http, grpc):
        with pytest.raises(InferenceServerException, match="no_such_model"):
            client.get_model_config("no_such_model")
        with pytest.raises(InferenceServerException, match="version"):
            client.get_model_config("dynamic", "7")


def _counts(stats: dict[str, Any]) -> tuple[int, int, int]:
    inference = stats["inference_stats"]
    return int(inference["success"]["count"]), int(inference["fail"]["count"]), int(stats["inference_count"])


def test_statistics_count_real_requests(server: ServerProcess, repo: dict[str, Path]) -> None:
    """Statistics of ``multi_io`` (used by no other test here) move by exactly what this test sends."""
    http = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    before = http.get_inference_statistics("multi_io")["model_stats"][0]
    a, b = np.array([[1, 2, 3]], np.float32), np.array([[4, 5, 6]], np.int32)
    inputs = [grpcclient.InferInput("a", [1, 3], "FP32"), grpcclient.InferInput("b", [1, 3], "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    for _ in range(3):
        result = grpc.infer("multi_io", inputs)
    expected = reference(model_file(repo["multi_io"]), {"a": a, "b": b})
    np.testing.assert_array_equal(result.as_numpy("sum"), expected["sum"])
    bad = [grpcclient.InferInput("a", [1, 3], "FP32")]
    bad[0].set_data_from_numpy(a)
    with pytest.raises(InferenceServerException):
        grpc.infer("multi_io", bad)  # missing input b: a failure
    after = http.get_inference_statistics("multi_io")["model_stats"][0]
    ok, failed, count = (x - y for x, y in zip(_counts(after), _counts(before), strict=True))
    assert (ok, failed, count) == (3, 1, 3)
    inference = after["inference_stats"]
    assert inference["compute_infer"]["ns"] > before["inference_stats"]["compute_infer"]["ns"]
    assert after["last_inference"] > 0 and after["version"] == "1"
    over_grpc = grpc.get_inference_statistics("multi_io", as_json=True)["model_stats"][0]
    assert int(over_grpc["inference_stats"]["success"]["count"]) == _counts(after)[0]
    every = http.get_inference_statistics("")["model_stats"]
    assert {"multi_io", "dynamic"} <= {s["name"] for s in every}
    versions = http.get_inference_statistics("versions")["model_stats"]
    assert sorted(s["version"] for s in versions) == ["1", "2"]
    with pytest.raises(InferenceServerException, match="no_such_model"):
        http.get_inference_statistics("no_such_model")


def _perf_analyzer(protocol: str, url: str, model: str, shape: str | None) -> str:
    assert PERF_ANALYZER.exists(), "perf_analyzer is missing: run `make perf-tools`"
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        [str(PERF_DIR / "nvidia" / "cuda_runtime" / "lib"), env.get("LD_LIBRARY_PATH", "")]
    )
    args = [str(PERF_ANALYZER), "-m", model, "-u", url, "-i", protocol, "--concurrency-range", "1"]
    # count windows of 20 requests, at most 3, and any spread accepted: bounded in requests, not in time
    args += ["--measurement-mode", "count_windows", "--measurement-request-count", "20", "--max-trials", "3"]
    args += ["--stability-percentage", "1000"]
    if shape:
        args += ["--shape", shape]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_perf_analyzer_measures_throughput(server: ServerProcess, protocol: str) -> None:
    url = f"{HOST}:{server.rest_port}" if protocol == "http" else server.grpc_address
    out = _perf_analyzer(protocol, url, "dynamic", "x:1,4")
    throughput = re.search(r"Concurrency: 1, throughput: ([0-9.]+) infer/sec", out)
    assert throughput is not None, out
    assert float(throughput.group(1)) > 0
    served = re.search(r"Successful request count: (\d+)", out)  # from the statistics extension
    assert served is not None and int(served.group(1)) > 0, out
