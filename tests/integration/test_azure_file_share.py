"""``azfs://`` base paths (Azure file shares): the server runs and every API names why the model is absent.

No fsspec client reads Azure Files (adlfs serves Blob and Data Lake only) and no local
emulator serves them (azurite has Blob, Queue and Table), so ovserve refuses the scheme
with a clear message in the model's status, as it does for any base path it cannot read,
rather than failing start-up: a config.json reload can bring such an entry in at any time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from models import F32, add_scaled, model_file, reference, save
from serverproc import ServerProcess
from tritonclient.utils import InferenceServerException

URL = "azfs://share/models/m"
WHY = f"Azure file shares (azfs://) are not supported: {URL}"


def call(url: str, body: bytes | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_single_model_on_a_file_share_is_refused_with_a_clear_status(tmp_path: Path) -> None:
    server = ServerProcess(["--model_name", "m", "--model_path", URL], tmp_path / "log").start()
    try:
        status, body = call(f"{server.rest_url}/v2/health/ready")
        assert status == 200  # the server itself is up, as OVMS is with a model it cannot load
        status, body = call(f"{server.rest_url}/v2/models/m/ready")
        assert status == 404 and WHY in str(body), body
        infer = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 1, 2, 3]}]}
        status, body = call(f"{server.rest_url}/v2/models/m/infer", json.dumps(infer).encode())
        assert status == 404 and WHY in str(body) and "az://container/path" in str(body), body
        status, body = call(f"{server.rest_url}/v2/repository/index", b"")
        assert body == [{"name": "m", "state": "UNAVAILABLE", "reason": str(body[0]["reason"])}]  # type: ignore[index]
        assert WHY in str(body)

        client = grpcclient.InferenceServerClient(server.grpc_address)
        assert not client.is_model_ready("m")
        with pytest.raises(InferenceServerException) as refused:
            client.get_model_metadata("m")
        assert refused.value.status() == str(grpc.StatusCode.UNAVAILABLE) and WHY in str(refused.value)
        client.close()
        assert server.log().count(WHY) == 1  # logged once, not at every poll
    finally:
        assert server.stop() == 0, server.log()


def test_a_file_share_entry_in_config_json_leaves_the_other_models_serving(tmp_path: Path) -> None:
    local = save(add_scaled(), tmp_path / "local")
    config = tmp_path / "config.json"
    entries = [
        {"config": {"name": "local", "base_path": str(local), "plugin_config": dict(F32)}},
        {"config": {"name": "share", "base_path": URL}},
    ]
    config.write_text(json.dumps({"model_config_list": entries}))
    server = ServerProcess(
        ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"], tmp_path / "log"
    ).start()
    try:
        status, body = call(f"{server.rest_url}/v2/models/share/ready")
        assert status == 404 and WHY in str(body), body
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        client = grpcclient.InferenceServerClient(server.grpc_address)
        tensor = grpcclient.InferInput("x", [2, 4], "FP32")
        tensor.set_data_from_numpy(x)
        expected = reference(model_file(local), {"x": x})["y"]
        np.testing.assert_allclose(client.infer("local", [tensor]).as_numpy("y"), expected, rtol=1e-6)
        client.close()
    finally:
        assert server.stop() == 0, server.log()
