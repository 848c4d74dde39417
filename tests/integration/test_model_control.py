"""Model control from clients nobody here wrote, against ovserve started from its CLI.

- tritonclient (HTTP and gRPC): repository index, unload, load, with inference checked
  against in-process OpenVINO;
- TF Serving's ``ModelService/HandleReloadConfigRequest`` through the protos ovmsclient
  bundles and a plain gRPC channel;
- status agreement: while a model loads and unloads (held at test gates, so the machine's
  speed does not matter), TF Serving status (REST and gRPC), KServe readiness and
  metadata, and the repository index tell the same story.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from gates import Gates
from models import F32, add_scaled, model_file, reference, save
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from ovmsclient.tfs_compat.protos.tensorflow_serving.config import model_server_config_pb2
from serverproc import HOST, ServerProcess
from tritonclient.utils import InferenceServerException

X = np.arange(4, dtype=np.float32).reshape(1, 4)


# -- helpers ---------------------------------------------------------------------------
def request(url: str, body: bytes | None = None) -> tuple[int, Any]:
    method = "GET" if body is None else "POST"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method)) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def tfs_states(server: ServerProcess, name: str) -> dict[str, str]:
    """Version -> state from TF Serving's REST status."""
    status, body = request(f"{server.rest_url}/v1/models/{name}")
    assert status == 200, body
    return {s["version"]: s["state"] for s in body["model_version_status"]}


def tfs_grpc_states(server: ServerProcess, name: str) -> dict[str, str]:
    """Version -> state from TF Serving's gRPC GetModelStatus (ovmsclient)."""
    client = ovmsclient.make_grpc_client(server.grpc_address)
    return {str(v): s["state"] for v, s in client.get_model_status(name).items()}


def index_entry(server: ServerProcess, name: str) -> list[dict[str, str]]:
    status, body = request(f"{server.rest_url}/v2/repository/index", b"")
    assert status == 200, body
    return [entry for entry in body if entry["name"] == name]


def http_infer(server: ServerProcess, name: str, x: np.ndarray = X) -> tuple[str, np.ndarray]:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}", network_timeout=120)
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer(name, [inp])
    return result.get_response()["model_version"], result.as_numpy("y")


def grpc_infer(server: ServerProcess, name: str) -> tuple[str, np.ndarray]:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    inp = grpcclient.InferInput("x", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    result = client.infer(name, [inp])
    return result.get_response().model_version, result.as_numpy("y")


def expected(base: Path, version: int, x: np.ndarray = X) -> np.ndarray:
    return reference(model_file(base, version), {"x": x})["y"]


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, Path]:
    """``m``: versions 1 (y = 2x + 1) and 2 (y = 3x + 1); ``other``: version 1 (y = 5x + 1)."""
    m = save(add_scaled(scale=2.0), tmp_path / "models" / "m", (1,))
    save(add_scaled(scale=3.0), m, (2,))
    other = save(add_scaled(scale=5.0), tmp_path / "models" / "other", (1,))
    return {"m": m, "other": other}


@pytest.fixture
def server(repo: dict[str, Path], tmp_path: Path) -> Iterator[ServerProcess]:
    """ovserve serving ``m`` (latest version: 2) from config.json."""
    config = tmp_path / "config.json"
    entry = {"name": "m", "base_path": str(repo["m"]), "plugin_config": F32}
    config.write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    proc = ServerProcess(["--config_path", str(config)], tmp_path / "ovserve.log").start()
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()


# -- tritonclient ----------------------------------------------------------------------
def test_tritonclient_http_index_unload_load(server: ServerProcess, repo: dict[str, Path]) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    assert client.get_model_repository_index() == [
        {"name": "m", "version": "2", "state": "READY", "reason": ""}
    ]

    client.unload_model("m")
    assert not client.is_model_ready("m")
    assert tfs_states(server, "m") == {"2": "END"} == tfs_grpc_states(server, "m")
    assert index_entry(server, "m") == [
        {"name": "m", "version": "2", "state": "UNAVAILABLE", "reason": "unloaded"}
    ]
    assert request(f"{server.rest_url}/v2/repository/index", b'{"ready": true}') == (200, [])
    with pytest.raises(InferenceServerException) as caught:
        http_infer(server, "m")
    assert caught.value.status() == "404" and "m version 2" in str(caught.value.message())

    client.load_model("m")
    assert client.is_model_ready("m")
    assert tfs_states(server, "m") == {"2": "AVAILABLE"}
    version, y = http_infer(server, "m")
    assert version == "2"
    np.testing.assert_allclose(y, expected(repo["m"], 2))

    with pytest.raises(InferenceServerException) as caught:
        client.load_model("m", config='{"backend": "onnxruntime"}')
    assert caught.value.status() == "501" and "config" in str(caught.value.message())
    with pytest.raises(InferenceServerException) as caught:
        client.unload_model("nope")
    assert caught.value.status() == "404" and "nope" in str(caught.value.message())
    assert client.is_model_ready("m")  # refused calls changed nothing


def test_tritonclient_grpc_index_unload_load(server: ServerProcess, repo: dict[str, Path]) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    index = client.get_model_repository_index(as_json=True)["models"]
    assert index == [{"name": "m", "version": "2", "state": "READY"}]  # proto JSON drops the empty reason
    assert "model_repository" in client.get_server_metadata().extensions

    client.unload_model("m")
    assert not client.is_model_ready("m")
    assert tfs_grpc_states(server, "m") == {"2": "END"}
    index = client.get_model_repository_index().models
    assert [(e.name, e.version, e.state, e.reason) for e in index] == [("m", "2", "UNAVAILABLE", "unloaded")]
    with pytest.raises(InferenceServerException) as caught:
        grpc_infer(server, "m")
    assert caught.value.status() == "StatusCode.NOT_FOUND" and "m version 2" in str(caught.value.message())

    client.load_model("m")
    assert client.is_model_ready("m") and tfs_grpc_states(server, "m") == {"2": "AVAILABLE"}
    version, y = grpc_infer(server, "m")
    assert version == "2"
    np.testing.assert_allclose(y, expected(repo["m"], 2))

    with pytest.raises(InferenceServerException) as caught:
        client.load_model("m", files={"file:1/model.xml": b"<net/>"}, config="{}")
    assert caught.value.status() == "StatusCode.UNIMPLEMENTED"
    with pytest.raises(InferenceServerException) as caught:
        client.load_model("nope")
    assert caught.value.status() == "StatusCode.NOT_FOUND"


def test_load_of_a_broken_model_answers_the_error_and_the_old_version_keeps_serving(
    server: ServerProcess, repo: dict[str, Path]
) -> None:
    broken = repo["m"] / "3"
    broken.mkdir()
    (broken / "model.xml").write_text("<net>half copied")
    (broken / "model.bin").write_bytes(b"")
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    with pytest.raises(InferenceServerException) as caught:
        client.load_model("m")
    assert caught.value.status() == "400"
    assert str(caught.value.message()).startswith("failed to load 'm': version 3: ")
    assert client.is_model_ready("m") and not client.is_model_ready("m", "3")
    _, body = request(f"{server.rest_url}/v1/models/m/versions/3")
    assert body["model_version_status"][0]["state"] == "LOADING"
    assert body["model_version_status"][0]["status"]["error_code"] == "UNKNOWN"
    assert index_entry(server, "m")[-1]["state"] == "UNAVAILABLE"
    assert http_infer(server, "m")[0] == "2"


# -- TF Serving HandleReloadConfigRequest ----------------------------------------------
def model_config(name: str, base: Path | str, policy: tuple[str, list[int]] | None = None) -> Any:
    entry = model_server_config_pb2.ModelConfig(name=name, base_path=str(base), model_platform="openvino")
    if policy is not None:
        kind, versions = policy
        if kind == "specific":
            entry.model_version_policy.specific.versions.extend(versions)
        elif kind == "all":
            entry.model_version_policy.all.SetInParent()
        else:
            entry.model_version_policy.latest.num_versions = versions[0]
    return entry


def reload_request(*entries: Any) -> Any:
    request = model_management_pb2.ReloadConfigRequest()
    request.config.model_config_list.SetInParent()
    request.config.model_config_list.config.extend(entries)
    return request


def test_handle_reload_config_request(server: ServerProcess, repo: dict[str, Path]) -> None:
    stub = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(server.grpc_address))
    kserve = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")

    # add a model
    response = stub.HandleReloadConfigRequest(
        reload_request(model_config("m", repo["m"]), model_config("other", repo["other"])), timeout=60
    )
    assert response.status.error_code == 0
    version, y = http_infer(server, "other")
    assert version == "1"
    np.testing.assert_allclose(y, expected(repo["other"], 1), rtol=1e-3)
    assert http_infer(server, "m")[0] == "2"

    # change a version policy
    stub.HandleReloadConfigRequest(
        reload_request(model_config("m", repo["m"], ("specific", [1])), model_config("other", repo["other"])),
        timeout=60,
    )
    assert tfs_states(server, "m") == {"2": "END", "1": "AVAILABLE"}
    version, y = grpc_infer(server, "m")
    assert version == "1"
    np.testing.assert_allclose(y, expected(repo["m"], 1), rtol=1e-3)
    stub.HandleReloadConfigRequest(
        reload_request(model_config("m", repo["m"], ("all", [])), model_config("other", repo["other"])),
        timeout=60,
    )
    assert kserve.get_model_metadata("m")["versions"] == ["1", "2"]

    # remove a model
    stub.HandleReloadConfigRequest(reload_request(model_config("m", repo["m"], ("all", []))), timeout=60)
    assert tfs_states(server, "other") == {"1": "END"} == tfs_grpc_states(server, "other")
    assert not kserve.is_model_ready("other")
    assert kserve.is_model_ready("m", "1") and kserve.is_model_ready("m", "2")
    with pytest.raises(InferenceServerException) as caught:
        kserve.load_model("other")  # no longer configured
    assert caught.value.status() == "404"

    # bad requests change nothing
    with pytest.raises(grpc.RpcError) as caught_rpc:
        stub.HandleReloadConfigRequest(
            reload_request(model_config("m", repo["m"]), model_config("m", repo["other"])), timeout=60
        )
    assert caught_rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "listed twice" in str(caught_rpc.value.details())
    with pytest.raises(grpc.RpcError) as caught_rpc:
        stub.HandleReloadConfigRequest(reload_request(model_config("x", "")), timeout=60)
    assert caught_rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "base_path" in str(caught_rpc.value.details())
    custom = model_management_pb2.ReloadConfigRequest()
    custom.config.custom_model_config.type_url = "type.googleapis.com/my.Config"
    with pytest.raises(grpc.RpcError) as caught_rpc:
        stub.HandleReloadConfigRequest(custom, timeout=60)
    assert caught_rpc.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest()).status.error_code == 0
    assert tfs_states(server, "m") == {"2": "AVAILABLE", "1": "AVAILABLE"}

    # a model that cannot load: the config is applied, the call says which model failed
    with pytest.raises(grpc.RpcError) as caught_rpc:
        stub.HandleReloadConfigRequest(
            reload_request(model_config("m", repo["m"]), model_config("ghost", repo["m"].parent / "ghost")),
            timeout=60,
        )
    assert caught_rpc.value.code() == grpc.StatusCode.UNKNOWN
    assert "ghost (The provided base path is invalid" in str(caught_rpc.value.details())
    assert not kserve.is_model_ready("ghost")
    assert index_entry(server, "ghost")[0]["state"] == "UNAVAILABLE"
    assert http_infer(server, "m")[0] == "2"


# -- status agreement ------------------------------------------------------------------
TRITON_STATE = {"LOADING": "LOADING", "AVAILABLE": "READY", "UNLOADING": "UNLOADING", "END": "UNAVAILABLE"}


class Observer:
    """Polls every status API in a loop; records each consistent reading and every disagreement."""

    def __init__(self, server: ServerProcess, name: str) -> None:
        self.server = server
        self.name = name
        self.http = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        self.grpc = grpcclient.InferenceServerClient(server.grpc_address)
        self.tfs = ovmsclient.make_grpc_client(server.grpc_address)
        self.states: list[str] = []
        self.disagreements: list[str] = []

    def tfs_state(self) -> str:
        return tfs_states(self.server, self.name)["1"]

    def observe(self) -> None:
        before = self.tfs_state()
        readings = {
            "tfs grpc": self.tfs.get_model_status(self.name)[1]["state"],
            "kserve rest ready": self.http.is_model_ready(self.name),
            "kserve grpc ready": self.grpc.is_model_ready(self.name),
            "kserve metadata versions": self._versions(),
            "index": index_entry(self.server, self.name)[0]["state"],
        }
        after = self.tfs_state()
        if before != after:
            return  # the state moved while we read: nothing to compare
        want = {
            "tfs grpc": before,
            "kserve rest ready": before == "AVAILABLE",
            "kserve grpc ready": before == "AVAILABLE",
            "kserve metadata versions": ["1"] if before == "AVAILABLE" else None,
            "index": TRITON_STATE[before],
        }
        if readings != want:
            self.disagreements.append(f"TF Serving says {before}: {readings}")
        if not self.states or self.states[-1] != before:
            self.states.append(before)

    def _versions(self) -> list[str] | None:
        status, body = request(f"{self.server.rest_url}/v2/models/{self.name}")
        return body["versions"] if status == 200 else None

    def watch(self, threads: list[threading.Thread]) -> None:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            self.observe()
        self.observe()


def watch_until_done(observer: Observer, thread: threading.Thread) -> None:
    while thread.is_alive():
        observer.observe()
    thread.join()
    observer.observe()


def control(server: ServerProcess, action: str, name: str) -> None:
    """``load_model`` / ``unload_model`` with a client of the calling thread's own (gevent clients stay in theirs)."""
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}", network_timeout=120)
    getattr(client, action)(name)


def test_every_status_api_agrees_while_a_model_loads_and_unloads(tmp_path: Path) -> None:
    """The load and the request are held at test gates, not assumed slow: any machine sees the same states."""
    base = save(add_scaled(), tmp_path / "big")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"model_config_list": [{"config": {"name": "big", "base_path": str(base), "plugin_config": F32}}]}
        )
    )
    gates = Gates(tmp_path / "gates")
    server = ServerProcess(["--config_path", str(config)], tmp_path / "ovserve.log", env=gates.env).start()
    try:
        control(server, "unload_model", "big")
        observer = Observer(server, "big")
        observer.observe()

        # a load held at its gate: LOADING on TF Serving status, not ready on KServe
        gates.close("load", "big")
        loading = threading.Thread(target=control, args=(server, "load_model", "big"))
        loading.start()
        gates.wait_held("load", "big")
        for _ in range(5):
            observer.observe()
        gates.open("load", "big")
        watch_until_done(observer, loading)
        assert observer.states == ["END", "LOADING", "AVAILABLE"], observer.states

        # an unload while a request (held at its gate) pins the version: UNLOADING until it ends
        batch = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
        answers: list[tuple[str, np.ndarray]] = []
        gates.close("infer", "big")
        infer = threading.Thread(target=lambda: answers.append(http_infer(server, "big", batch)))
        infer.start()
        gates.wait_held("infer", "big")
        unloading = threading.Thread(target=control, args=(server, "unload_model", "big"))
        unloading.start()
        deadline = time.monotonic() + 60
        while observer.states[-1] != "UNLOADING" and time.monotonic() < deadline:
            observer.observe()
        for _ in range(5):
            observer.observe()
        gates.open("infer", "big")
        infer.join(60)
        watch_until_done(observer, unloading)
        assert observer.states == ["END", "LOADING", "AVAILABLE", "UNLOADING", "END"], observer.states
        assert observer.disagreements == []
        version, y = answers[0]  # the request in flight finished on the version being unloaded
        assert version == "1"
        np.testing.assert_allclose(y, expected(base, 1, batch), rtol=1e-6)
    finally:
        assert server.stop() == 0, server.log()
