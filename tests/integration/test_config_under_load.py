"""config.json rewritten under continuous REST and gRPC load: a model added, one changed, one removed.

The server runs from its CLI on a config.json it polls every second. Four client threads
(REST and gRPC, on the two models that stay) keep sending requests while the test rewrites
the file once: ``added`` appears, ``changed`` gets a new ``nireq`` and a fixed ``shape``,
``removed`` goes away, ``keep`` stays as it was. Every answer is compared with in-process
OpenVINO; the models that stay must not fail a single request.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import F32, add_scaled, identity, model_file, reference, save, small_cnn
from serverproc import HOST, ServerProcess, http_json, wait_for
from tritonclient.utils import InferenceServerException

#: inputs valid under both configs of ``changed``: dynamic [-1,4] before, fixed (2,4) after
X = np.arange(8, dtype=np.float32).reshape(2, 4) / 4
IMAGE = np.random.default_rng(11).standard_normal((1, 3, 32, 32)).astype(np.float32)
IDENTITY_IN = np.arange(10, dtype=np.float32).reshape(1, 10)


def entry(name: str, base: Path, **extra: object) -> dict[str, object]:
    return {"config": {"name": name, "base_path": str(base), "plugin_config": dict(F32), **extra}}


def write_config(path: Path, entries: list[dict[str, object]]) -> None:
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps({"model_config_list": entries}, indent=2))
    staging.replace(path)  # the poller never reads half a file


@dataclass
class Load:
    """Client threads that infer in a loop and check every answer."""

    server: ServerProcess
    expected: dict[str, np.ndarray]
    stop: threading.Event = field(default_factory=threading.Event)
    failures: list[str] = field(default_factory=list)
    answers: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, models: list[str]) -> None:
        for model in models:
            for loop in (self._rest, self._grpc):
                thread = threading.Thread(target=loop, args=(model,), daemon=True)
                self.threads.append(thread)
                thread.start()

    def count(self, model: str, api: str) -> int:
        with self.lock:
            return self.answers.get((model, api), 0)

    def _record(self, model: str, api: str, y: np.ndarray) -> None:
        with self.lock:
            if not np.allclose(y, self.expected[model], rtol=1e-5, atol=1e-6):
                self.failures.append(f"{api} {model}: wrong answer {y.tolist()}")
            self.answers[(model, api)] = self.answers.get((model, api), 0) + 1

    def _fail(self, model: str, api: str, exc: Exception) -> None:
        with self.lock:
            self.failures.append(f"{api} {model}: {exc}")

    def _rest(self, model: str) -> None:
        client = httpclient.InferenceServerClient(f"{HOST}:{self.server.rest_port}")
        tensor = httpclient.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        while not self.stop.is_set():
            try:
                self._record(model, "REST", client.infer(model, [tensor]).as_numpy("y"))
            except Exception as exc:
                self._fail(model, "REST", exc)
        client.close()

    def _grpc(self, model: str) -> None:
        client = grpcclient.InferenceServerClient(self.server.grpc_address)
        tensor = grpcclient.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        while not self.stop.is_set():
            try:
                self._record(model, "gRPC", client.infer(model, [tensor]).as_numpy("y"))
            except Exception as exc:
                self._fail(model, "gRPC", exc)
        client.close()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "models"
    return {
        "keep": save(add_scaled(scale=2.0), root / "keep"),
        "changed": save(add_scaled(scale=3.0), root / "changed"),
        "removed": save(identity(np.float32, (1, 10)), root / "removed"),
        "added": save(small_cnn(seed=4), root / "added"),
    }


@pytest.fixture
def served(repo: dict[str, Path], tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    config = tmp_path / "config.json"
    write_config(
        config,
        [
            entry("keep", repo["keep"]),
            entry("changed", repo["changed"], nireq=1),
            entry("removed", repo["removed"]),
        ],
    )
    server = ServerProcess(
        [
            "--config_path",
            str(config),
            "--file_system_poll_wait_seconds",
            "1",
            "--metrics_enable",
            "--metrics_list",
            "ovms_infer_req_queue_size",
        ],
        tmp_path / "ovserve.log",
    ).start()
    try:
        yield server, config
    finally:
        assert server.stop() == 0, server.log()


def queue_size(server: ServerProcess, model: str) -> int | None:
    """The ``ovms_infer_req_queue_size`` gauge (the version's nireq) from /metrics."""
    with urllib.request.urlopen(f"{server.rest_url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    found = re.search(rf'^ovms_infer_req_queue_size\{{name="{model}",version="1"\}} (\d+)', text, re.M)
    return int(found.group(1)) if found else None


def input_shape(server: ServerProcess, model: str) -> list[int] | None:
    status, body = http_json(f"{server.rest_url}/v2/models/{model}")
    return body["inputs"][0]["shape"] if status == 200 else None  # type: ignore[index]


def test_add_change_and_remove_models_while_clients_run(
    served: tuple[ServerProcess, Path], repo: dict[str, Path]
) -> None:
    server, config = served
    expected = {name: reference(model_file(repo[name]), {"x": X})["y"] for name in ("keep", "changed")}
    np.testing.assert_allclose(expected["changed"], X * 3 + 1, rtol=1e-6)  # the reference is sane
    # before the edit: the model to be removed serves, the one to be changed is dynamic with nireq 1
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    gclient = grpcclient.InferenceServerClient(server.grpc_address)
    ident = httpclient.InferInput("in", [1, 10], "FP32")
    ident.set_data_from_numpy(IDENTITY_IN)
    np.testing.assert_array_equal(rest.infer("removed", [ident]).as_numpy("out"), IDENTITY_IN)
    assert input_shape(server, "changed") == [-1, 4]
    assert queue_size(server, "changed") == 1

    load = Load(server, expected)
    load.start(["keep", "changed"])
    try:
        streams = [(m, api) for m in ("keep", "changed") for api in ("REST", "gRPC")]
        wait_for(lambda: all(load.count(m, a) >= 20 for m, a in streams), "answers before the edit")
        before = {s: load.count(*s) for s in streams}

        write_config(
            config,
            [
                entry("keep", repo["keep"]),
                entry("changed", repo["changed"], nireq=3, shape="(2,4)"),
                entry("added", repo["added"]),
            ],
        )
        wait_for(lambda: rest.is_model_ready("added"), "the added model AVAILABLE")
        wait_for(lambda: input_shape(server, "changed") == [2, 4], "the changed model's new shape")
        wait_for(lambda: not rest.is_model_ready("removed"), "the removed model retired")
        # the clients go on through and past the change
        wait_for(lambda: all(load.count(*s) >= before[s] + 20 for s in streams), "answers after the edit")
    finally:
        load.close()

    assert load.failures == [], load.failures[:10]
    for s in streams:
        assert load.count(*s) >= before[s] + 20, s

    # the added model serves over both APIs, answers equal to in-process OpenVINO
    want = reference(model_file(repo["added"]), {"image": IMAGE})["probs"]
    image = httpclient.InferInput("image", list(IMAGE.shape), "FP32")
    image.set_data_from_numpy(IMAGE)
    np.testing.assert_allclose(rest.infer("added", [image]).as_numpy("probs"), want, rtol=1e-5, atol=1e-6)
    gimage = grpcclient.InferInput("image", list(IMAGE.shape), "FP32")
    gimage.set_data_from_numpy(IMAGE)
    np.testing.assert_allclose(gclient.infer("added", [gimage]).as_numpy("probs"), want, rtol=1e-5, atol=1e-6)

    # the changed model serves with its new settings: nireq 3, and only the fixed shape (2,4)
    assert queue_size(server, "changed") == 3
    assert gclient.get_model_metadata("changed").inputs[0].shape == [2, 4]
    one_row = httpclient.InferInput("x", [1, 4], "FP32")
    one_row.set_data_from_numpy(X[:1])
    with pytest.raises(InferenceServerException) as refused:
        rest.infer("changed", [one_row])
    assert refused.value.status() == "400" and "Invalid input batch size" in str(refused.value)
    np.testing.assert_allclose(
        rest.infer("changed", [_rest_x()]).as_numpy("y"), expected["changed"], rtol=1e-6
    )

    # the removed model answers "not found" over both APIs, and says it was retired
    status, body = http_json(
        f"{server.rest_url}/v2/models/removed/infer",
        json.dumps(
            {"inputs": [{"name": "in", "shape": [1, 10], "datatype": "FP32", "data": [0] * 10}]}
        ).encode(),
    )
    assert status == 404 and "removed" in str(body["error"]) and "retired" in str(body["error"]), body
    gident = grpcclient.InferInput("in", [1, 10], "FP32")
    gident.set_data_from_numpy(IDENTITY_IN)
    with pytest.raises(InferenceServerException) as gone:
        gclient.infer("removed", [gident])
    assert gone.value.status() == str(grpc.StatusCode.NOT_FOUND) and "retired" in str(gone.value)
    status, body = http_json(f"{server.rest_url}/v1/models/removed")
    assert [v["state"] for v in body["model_version_status"]] == ["END"]  # type: ignore[union-attr]

    # the model that stayed as it was was loaded once, never reloaded
    assert len(re.findall(r"loaded keep version 1 from", server.log())) == 1, server.log()
    rest.close()
    gclient.close()


def _rest_x() -> httpclient.InferInput:
    tensor = httpclient.InferInput("x", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    return tensor
