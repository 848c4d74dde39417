"""Prometheus metrics at GET /metrics after known traffic over all four front ends.

The scrape is parsed with prometheus_client's parser and the counts are checked
exactly: per API, interface, method, model and version, histogram counts, gauges, and
which families appear.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import F32, identity, save
from prometheus_client.parser import text_string_to_metric_families
from serverproc import ServerProcess

X = np.arange(10, dtype=np.float32).reshape(1, 10)
DEFAULT_FAMILIES = {
    "ovms_requests_success",
    "ovms_requests_fail",
    "ovms_request_time_us",
    "ovms_inference_time_us",
    "ovms_wait_for_infer_req_time_us",
    "ovms_streams",
    "ovms_current_requests",
}
Labels = tuple[tuple[str, str], ...]


def scrape(server: ServerProcess, query: str = "") -> tuple[str, dict[str, dict[tuple[str, Labels], float]]]:
    """The content type and {family: {(sample name, sorted labels): value}}."""
    with urllib.request.urlopen(f"{server.rest_url}/metrics{query}", timeout=10) as answer:
        assert answer.status == 200
        content_type = answer.headers["Content-Type"]
        text = answer.read().decode()
    families = {
        f.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples}
        for f in text_string_to_metric_families(text)
    }
    return content_type, families


def counter(
    families: dict[str, dict[tuple[str, Labels], float]],
    family: str,
    api: str,
    interface: str,
    method: str,
    version: str | None = "1",
) -> float:
    labels = {"api": api, "interface": interface, "method": method, "name": "m"}
    if version is not None:
        labels["version"] = version
    return families[family][(f"{family}_total", tuple(sorted(labels.items())))]


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(identity(np.float32, (1, 10)), tmp_path_factory.mktemp("models") / "m")


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        [
            "--model_name",
            "m",
            "--model_path",
            str(model_dir),
            "--metrics_enable",
            "--plugin_config",
            json.dumps(F32),
        ],
        tmp_path_factory.mktemp("log") / "ovserve.log",
    ).start()
    yield proc
    assert proc.stop() == 0, proc.log()


def test_series_exist_at_zero_after_load(server: ServerProcess) -> None:
    # runs first: nothing has been sent yet
    content_type, families = scrape(server)
    assert content_type == "text/plain; version=0.0.4"
    assert set(families) == DEFAULT_FAMILIES
    # 4 unversioned (GetModelStatus, ModelReady) + 8 versioned series per family
    for family in ("ovms_requests_success", "ovms_requests_fail"):
        assert len(families[family]) == 12
        assert set(families[family].values()) == {0}
    assert families["ovms_current_requests"] == {
        ("ovms_current_requests", (("name", "m"), ("version", "1"))): 0
    }
    assert families["ovms_streams"][("ovms_streams", (("name", "m"), ("version", "1")))] >= 1


def test_counts_after_known_traffic(server: ServerProcess) -> None:
    rest = httpclient.InferenceServerClient(server.rest_url.removeprefix("http://"))
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    tfs_grpc = ovmsclient.make_grpc_client(server.grpc_address)
    tfs_rest = ovmsclient.make_http_client(server.rest_url.removeprefix("http://"))

    for _ in range(3):  # KServe REST infer
        inp = httpclient.InferInput("in", [1, 10], "FP32")
        inp.set_data_from_numpy(X)
        np.testing.assert_array_equal(rest.infer("m", [inp]).as_numpy("out"), X)
    inp_g = grpcclient.InferInput("in", [1, 10], "FP32")
    inp_g.set_data_from_numpy(X)
    np.testing.assert_array_equal(grpc.infer("m", [inp_g]).as_numpy("out"), X)  # KServe gRPC infer
    for _ in range(2):  # TFS gRPC predict
        np.testing.assert_array_equal(tfs_grpc.predict({"in": X}, "m"), X)
    np.testing.assert_array_equal(tfs_rest.predict({"in": X}, "m"), X)  # TFS REST predict

    # failures: a wrong shape over KServe REST, a wrong shape over TFS gRPC
    bad = json.dumps({"inputs": [{"name": "in", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})
    assert post(f"{server.rest_url}/v2/models/m/infer", bad.encode()) == 400
    with pytest.raises(Exception, match=r"(?i)shape"):
        tfs_grpc.predict({"in": np.zeros((1, 3), np.float32)}, "m")
    # unknown model / version: not counted on any series
    assert post(f"{server.rest_url}/v2/models/nope/infer", bad.encode()) == 404
    assert post(f"{server.rest_url}/v2/models/m/versions/7/infer", bad.encode()) == 404

    # metadata, status, readiness
    assert rest.get_model_metadata("m")["name"] == "m"  # KServe REST ModelMetadata
    assert rest.is_model_ready("m")  # KServe REST ModelReady
    assert grpc.is_model_ready("m")  # KServe gRPC ModelReady
    assert grpc.get_model_metadata("m").name == "m"  # KServe gRPC ModelMetadata
    assert tfs_grpc.get_model_status("m")[1]["state"] == "AVAILABLE"  # TFS gRPC GetModelStatus
    assert tfs_grpc.get_model_metadata("m")["model_version"] == 1  # TFS gRPC GetModelMetadata
    assert get(f"{server.rest_url}/v1/models/m")[0] == 200  # TFS REST GetModelStatus
    assert get(f"{server.rest_url}/v1/models/m/metadata")[0] == 200  # TFS REST GetModelMetadata
    assert get(f"{server.rest_url}/v1/models/m/versions/9")[0] == 404  # TFS REST GetModelStatus, failed

    _, families = scrape(server, "?ignored=1")
    ok, fail = "ovms_requests_success", "ovms_requests_fail"
    expected_ok = {
        ("KServe", "REST", "ModelInfer", "1"): 3,
        ("KServe", "gRPC", "ModelInfer", "1"): 1,
        ("TensorFlowServing", "gRPC", "Predict", "1"): 2,
        ("TensorFlowServing", "REST", "Predict", "1"): 1,
        ("KServe", "REST", "ModelMetadata", "1"): 1,
        ("KServe", "gRPC", "ModelMetadata", "1"): 1,
        ("KServe", "REST", "ModelReady", None): 1,
        ("KServe", "gRPC", "ModelReady", None): 1,
        ("TensorFlowServing", "gRPC", "GetModelStatus", None): 1,
        ("TensorFlowServing", "REST", "GetModelStatus", None): 1,
        ("TensorFlowServing", "gRPC", "GetModelMetadata", "1"): 1,
        ("TensorFlowServing", "REST", "GetModelMetadata", "1"): 1,
    }
    for key, count in expected_ok.items():
        assert counter(families, ok, *key) == count, key
    assert sum(families[ok].values()) == sum(expected_ok.values())
    expected_fail = {
        ("KServe", "REST", "ModelInfer", "1"): 1,
        ("TensorFlowServing", "gRPC", "Predict", "1"): 1,
        ("TensorFlowServing", "REST", "GetModelStatus", None): 1,
    }
    for key, count in expected_fail.items():
        assert counter(families, fail, *key) == count, key
    assert sum(families[fail].values()) == sum(expected_fail.values())

    def sample(family: str, suffix: str, **labels: str) -> float:
        key = (f"{family}{suffix}", tuple(sorted({"name": "m", "version": "1", **labels}.items())))
        return families[family][key]

    # request time: successful inferences, per interface
    assert sample("ovms_request_time_us", "_count", interface="REST") == 4
    assert sample("ovms_request_time_us", "_count", interface="gRPC") == 3
    assert sample("ovms_request_time_us", "_bucket", interface="REST", le="+Inf") == 4
    assert sample("ovms_request_time_us", "_sum", interface="REST") > 0
    # backend: every inference that ran
    assert sample("ovms_inference_time_us", "_count") == 7
    assert sample("ovms_wait_for_infer_req_time_us", "_count") == 7
    assert sample("ovms_inference_time_us", "_sum") > 0
    assert sample("ovms_current_requests", "") == 0
    assert set(families) == DEFAULT_FAMILIES  # no batcher configured: no ovserve_* series


def test_unknown_method_on_metrics(server: ServerProcess) -> None:
    assert post(f"{server.rest_url}/metrics", b"") == 406


def test_metrics_list_in_config_json(model_dir: Path, tmp_path: Path) -> None:
    config = {
        "model_config_list": [
            {"config": {"name": "m", "base_path": str(model_dir), "nireq": 3, "plugin_config": F32}}
        ],
        "monitoring": {
            "metrics": {
                "enable": True,
                "metrics_list": [
                    "ovms_requests_success",
                    "ovms_infer_req_queue_size",
                    "ovms_infer_req_active",
                ],
            }
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    proc = ServerProcess(["--config_path", str(path)], tmp_path / "ovserve.log").start()
    try:
        rest = httpclient.InferenceServerClient(proc.rest_url.removeprefix("http://"))
        for _ in range(2):
            inp = httpclient.InferInput("in", [1, 10], "FP32")
            inp.set_data_from_numpy(X)
            rest.infer("m", [inp])
        _, families = scrape(proc)
    finally:
        assert proc.stop() == 0, proc.log()
    assert set(families) == {"ovms_requests_success", "ovms_infer_req_queue_size", "ovms_infer_req_active"}
    assert counter(families, "ovms_requests_success", "KServe", "REST", "ModelInfer") == 2
    gauge: dict[str, Any] = {
        name: families[name][(name, (("name", "m"), ("version", "1")))]
        for name in ("ovms_infer_req_queue_size", "ovms_infer_req_active")
    }
    assert gauge == {"ovms_infer_req_queue_size": 3, "ovms_infer_req_active": 0}


def test_metrics_disabled_is_an_unknown_url(model_dir: Path, tmp_path: Path) -> None:
    proc = ServerProcess(
        ["--model_name", "m", "--model_path", str(model_dir)], tmp_path / "ovserve.log"
    ).start()
    try:
        status, body = get(f"{proc.rest_url}/metrics")
    finally:
        assert proc.stop() == 0, proc.log()
    assert status == 400
    assert json.loads(body) == {"error": "Invalid request URL"}
