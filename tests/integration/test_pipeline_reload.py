"""A model reloads under a running pipeline: not one pipeline request fails.

Client threads (tritonclient REST and gRPC) call the pipeline ``chain`` (scale2, then scale3)
in a loop. A new version of ``scale2`` appears on disk; test gates (``OVSERVE_TEST_GATES``)
make each step observable whatever the machine's speed: the new version's load is held while
requests keep flowing on the old one; then requests are held inside the old version while the
new one becomes available and the old one waits for them (UNLOADING); released, they finish,
and the pipeline, revalidated against the new version, keeps answering. Every answer is compared
with the two models run in-process.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from gates import Gates
from models import F32, add_scaled, model_file, reference, save
from pipeline_fakes import chain_config as chain_of
from serverproc import HOST, ServerProcess, http_json, wait_for
from tritonclient.utils import InferenceServerException

X = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
CLIENTS = 4


def chain_config(scale2: Path, scale3: Path) -> dict[str, object]:
    def node(name: str, model: str, source: dict[str, str]) -> dict[str, object]:
        return {
            "name": name,
            "type": "DL model",
            "model_name": model,
            "inputs": [{"x": source}],
            "outputs": [{"data_item": "y", "alias": "y"}],
        }

    return {
        "model_config_list": [
            {"config": {"name": "scale2", "base_path": str(scale2), "plugin_config": dict(F32)}},
            {"config": {"name": "scale3", "base_path": str(scale3), "plugin_config": dict(F32)}},
        ],
        "pipeline_config_list": [
            {
                "name": "chain",
                "inputs": ["x"],
                "nodes": [
                    node("first", "scale2", {"node_name": "request", "data_item": "x"}),
                    node("second", "scale3", {"node_name": "first", "data_item": "y"}),
                ],
                "outputs": [{"y": {"node_name": "second", "data_item": "y"}}],
            }
        ],
    }


class Load:
    """Client threads calling ``chain`` until stopped; answers counted and checked."""

    def __init__(self, server: ServerProcess, expected: np.ndarray) -> None:
        self.server = server
        self.expected = expected
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers = [0] * CLIENTS
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(target=self._loop, args=(i, self._rest if i % 2 else self._grpc), daemon=True)
            for i in range(CLIENTS)
        ]

    def _rest(self) -> Callable[[], np.ndarray]:
        client = httpclient.InferenceServerClient(f"{HOST}:{self.server.rest_port}", network_timeout=300)
        tensor = httpclient.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        return lambda: client.infer("chain", [tensor]).as_numpy("y")

    def _grpc(self) -> Callable[[], np.ndarray]:
        client = grpcclient.InferenceServerClient(self.server.grpc_address)
        tensor = grpcclient.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        return lambda: client.infer("chain", [tensor], client_timeout=300).as_numpy("y")

    def _loop(self, index: int, connect: Callable[[], Callable[[], np.ndarray]]) -> None:
        call = connect()
        while not self.stop.is_set():
            try:
                y = call()
            except Exception as exc:
                with self.lock:
                    self.failures.append(f"client {index}: {exc}")
                continue
            with self.lock:
                if not np.allclose(y, self.expected, rtol=1e-6):
                    self.failures.append(f"client {index}: wrong answer {y.tolist()}")
                self.answers[index] += 1

    def each_answered(self, more_than: list[int]) -> Callable[[], bool]:
        return lambda: all(a > b for a, b in zip(self.answers, more_than, strict=True))


def version_states(server: ServerProcess, model: str) -> dict[str, str]:
    _, body = http_json(f"{server.rest_url}/v1/models/{model}")
    return {v["version"]: v["state"] for v in body.get("model_version_status", [])}


def test_model_reload_under_a_running_pipeline_fails_no_request(tmp_path: Path) -> None:
    scale2 = save(add_scaled((-1, 4), scale=2.0), tmp_path / "scale2")
    scale3 = save(add_scaled((-1, 4), scale=3.0), tmp_path / "scale3")
    first = reference(model_file(scale2), {"x": X})["y"]
    expected = reference(model_file(scale3), {"x": first})["y"]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(chain_config(scale2, scale3)))
    gates = Gates(tmp_path / "gates")
    args = ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"]
    server = ServerProcess(args, tmp_path / "ovserve.log", env=gates.env).start()
    load = Load(server, expected)
    try:
        for thread in load.threads:
            thread.start()
        wait_for(load.each_answered([0] * CLIENTS), "every client answered", server=server)

        gates.close("load", "scale2")  # version 2 arrives; its load waits at the gate
        shutil.copytree(scale2 / "1", scale2 / "2")
        gates.wait_held("load", "scale2")
        seen = list(load.answers)
        wait_for(load.each_answered(seen), "answers while version 2 loads", server=server)

        gates.close("infer", "scale2")  # requests now wait inside version 1
        gates.wait_held("infer", "scale2", CLIENTS)
        gates.open("load", "scale2")
        wait_for(
            lambda: version_states(server, "scale2") == {"2": "AVAILABLE", "1": "UNLOADING"},
            "version 2 available while version 1 drains",
            server=server,
        )
        gates.open("infer", "scale2")
        wait_for(
            lambda: version_states(server, "scale2").get("1") == "END", "version 1 retired", server=server
        )
        seen = list(load.answers)
        wait_for(load.each_answered(seen), "answers after the reload", server=server)
    finally:
        load.stop.set()
        gates.open("infer", "scale2")
        gates.open("load", "scale2")
        for thread in load.threads:
            thread.join(60)
        code = server.stop()
    assert load.failures == []
    assert code == 0, server.log()
    assert "Pipeline" not in "".join(line for line in server.log().splitlines() if "ERROR" in line)


def status_of(server: ServerProcess, name: str) -> dict[str, object]:
    """The TF Serving REST status of a pipeline's one version (empty before it is known)."""
    _, body = http_json(f"{server.rest_url}/v1/models/{name}")
    versions = body.get("model_version_status", [])
    return versions[0] if versions else {}


def write_atomically(path: Path, doc: dict[str, object]) -> None:
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps(doc))
    staging.replace(path)  # the poller never reads half a file


def test_config_reload_adds_changes_removes_pipelines_and_they_follow_their_models(tmp_path: Path) -> None:
    paths = {
        "scale2": save(add_scaled((-1, 4), scale=2.0), tmp_path / "scale2"),
        "scale3": save(add_scaled((-1, 4), scale=3.0), tmp_path / "scale3"),
    }

    def run(*models: str) -> np.ndarray:
        value = X
        for model in models:
            value = reference(model_file(paths[model]), {"x": value})["y"]
        return value

    def doc(models: list[str], pipelines: list[dict[str, object]]) -> dict[str, object]:
        entries = [
            {"config": {"name": m, "base_path": str(paths[m]), "plugin_config": dict(F32)}} for m in models
        ]
        return {"model_config_list": entries, "pipeline_config_list": pipelines}

    config = tmp_path / "config.json"
    write_atomically(
        config, doc(["scale2", "scale3"], [chain_of("chain", "scale2", "scale3"), chain_of("gone", "scale2")])
    )
    args = ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"]
    server = ServerProcess(args, tmp_path / "ovserve.log").start()
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    grpc = grpcclient.InferenceServerClient(server.grpc_address)

    def infer(name: str) -> np.ndarray:
        tensor = httpclient.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        return rest.infer(name, [tensor]).as_numpy("y")

    def refused(name: str) -> tuple[str, str, str]:
        tensor = httpclient.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        gtensor = grpcclient.InferInput("x", list(X.shape), "FP32")
        gtensor.set_data_from_numpy(X)
        with pytest.raises(InferenceServerException) as err:
            rest.infer(name, [tensor])
        with pytest.raises(InferenceServerException) as gerr:
            grpc.infer(name, [gtensor])
        return str(err.value.status()), str(gerr.value.status()), str(err.value)

    try:
        np.testing.assert_allclose(infer("chain"), run("scale2", "scale3"), rtol=1e-6)
        # removed, changed (the other order), added
        write_atomically(
            config,
            doc(["scale2", "scale3"], [chain_of("chain", "scale3", "scale2"), chain_of("fresh", "scale3")]),
        )
        wait_for(
            lambda: status_of(server, "fresh").get("state") == "AVAILABLE", "fresh served", server=server
        )
        wait_for(lambda: status_of(server, "gone").get("state") == "END", "gone retired", server=server)
        rest_code, grpc_code, text = refused("gone")
        assert (rest_code, grpc_code) == ("404", "StatusCode.NOT_FOUND")
        assert "Pipeline is retired" in text
        wait_for(
            lambda: np.allclose(infer("chain"), run("scale3", "scale2"), rtol=1e-6),
            "chain changed",
            server=server,
        )
        np.testing.assert_allclose(infer("fresh"), run("scale3"), rtol=1e-6)
        # a model they use goes away: both stop, saying why; it comes back: so do they
        write_atomically(
            config, doc(["scale2"], [chain_of("chain", "scale3", "scale2"), chain_of("fresh", "scale3")])
        )
        for name in ("chain", "fresh"):
            wait_for(
                lambda n=name: status_of(server, n).get("state") == "LOADING",
                f"{name} stopped",
                server=server,
            )
        status = status_of(server, "fresh")
        assert "FAILED_PRECONDITION" in json.dumps(status) and "scale3" in json.dumps(status)
        rest_code, grpc_code, text = refused("chain")
        assert (rest_code, grpc_code) == ("404", "StatusCode.UNAVAILABLE")
        assert "Pipeline is not loaded yet" in text and "scale3" in text
        write_atomically(
            config,
            doc(["scale2", "scale3"], [chain_of("chain", "scale3", "scale2"), chain_of("fresh", "scale3")]),
        )
        wait_for(lambda: status_of(server, "chain").get("state") == "AVAILABLE", "chain back", server=server)
        np.testing.assert_allclose(infer("chain"), run("scale3", "scale2"), rtol=1e-6)
        np.testing.assert_allclose(infer("fresh"), run("scale3"), rtol=1e-6)
    finally:
        code = server.stop()
    assert code == 0, server.log()
