"""Models changing under a running server: version directories, config.json edits, the reload API."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import F32, add_scaled
from serverproc import HOST, ServerProcess, http_json, wait_for

X = np.arange(4, dtype=np.float32).reshape(1, 4)


def write_version(base: Path, version: int) -> None:
    """Version v computes y = v*x + 1, so every answer tells which version ran."""
    staging = base.parent / f".staging-{base.name}-{version}"
    ov.save_model(add_scaled(scale=float(version)), str(staging / "model.xml"), compress_to_fp16=False)
    staging.rename(base / str(version))  # appears whole, as a careful deployment does


def config_doc(models: dict[str, Path], **extra: object) -> dict[str, object]:
    return {
        "model_config_list": [
            {"config": {"name": n, "base_path": str(p), "plugin_config": dict(F32), **extra}}
            for n, p in models.items()
        ]
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, Path]]:
    base = tmp_path / "m"
    base.mkdir()
    write_version(base, 1)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_doc({"m": base})))
    server = ServerProcess(
        ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"], tmp_path / "log.txt"
    ).start()
    try:
        yield server, base, config
    finally:
        assert server.stop() == 0, server.log()


def served_version(server: ServerProcess, name: str = "m") -> int:
    status, body = http_json(f"{server.rest_url}/v2/models/{name}")
    return max(int(v) for v in body["versions"]) if status == 200 else -1  # type: ignore[union-attr]


def test_new_version_directory_is_picked_up_by_polling_and_old_retired(served) -> None:  # type: ignore[no-untyped-def]
    server, base, _ = served
    write_version(base, 2)
    wait_for(lambda: served_version(server) == 2)
    _, body = http_json(f"{server.rest_url}/v1/models/m")
    states = {s["version"]: s["state"] for s in body["model_version_status"]}  # type: ignore[index]
    assert states == {"2": "AVAILABLE", "1": "END"}
    shutil.rmtree(base / "2")
    wait_for(lambda: served_version(server) == 1)  # latest-1 falls back to version 1 again


def test_broken_new_version_keeps_the_old_one_serving_and_shows_its_error(served) -> None:  # type: ignore[no-untyped-def]
    server, base, _ = served
    broken = base / "5"
    broken.mkdir()
    (broken / "model.xml").write_text("<net>half copied")
    (broken / "model.bin").write_bytes(b"")

    def error_shown() -> bool:
        _, body = http_json(f"{server.rest_url}/v1/models/m/versions/5")
        statuses = body.get("model_version_status", [])
        return bool(statuses) and statuses[0]["status"]["error_code"] == "UNKNOWN"  # type: ignore[index]

    wait_for(error_shown)
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    inp = httpclient.InferInput("x", [1, 4], "FP32")
    inp.set_data_from_numpy(X)
    result = client.infer("m", [inp])
    assert result.get_response()["model_version"] == "1"
    np.testing.assert_allclose(result.as_numpy("y"), X * 1 + 1)
    assert not client.is_model_ready("m", "5")
    gclient = grpcclient.InferenceServerClient(server.grpc_address)
    assert not gclient.is_model_ready("m", "5") and gclient.is_model_ready("m")
    # a later poll retries: once the copy completes, version 5 replaces version 1
    shutil.rmtree(broken)
    write_version(base, 5)
    wait_for(lambda: served_version(server) == 5)


def test_reload_api_and_config_edits(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, base, config = served
    status, body = http_json(f"{server.rest_url}/v1/config")
    assert status == 200 and body["m"]["model_version_status"][0]["state"] == "AVAILABLE"  # type: ignore[index]
    other = tmp_path / "other"
    other.mkdir()
    write_version(other, 3)
    config.write_text(json.dumps(config_doc({"m": base, "other": other})))
    status, body = http_json(f"{server.rest_url}/v1/config/reload", b"")
    assert status in (200, 201) and set(body) == {"m", "other"}  # 200 if the poller got there first
    assert served_version(server, "other") == 3
    status, body = http_json(f"{server.rest_url}/v1/config/reload", b"")
    assert status == 200  # nothing changed
    config.write_text('{"model_config_list": [{"config": {"name": "m", "base_path": "m", "nope": 1}}]}')
    status, body = http_json(f"{server.rest_url}/v1/config/reload", b"")
    assert status == 412 and "nope" in str(body["error"])
    assert served_version(server, "other") == 3 and served_version(server) == 1  # still serving
    config.write_text(json.dumps(config_doc({"other": other})))
    http_json(f"{server.rest_url}/v1/config/reload", b"")
    _, body = http_json(f"{server.rest_url}/v1/models/m")
    assert body["model_version_status"][0]["state"] == "END"  # type: ignore[index]


def test_twenty_swaps_under_continuous_rest_and_grpc_load(served) -> None:  # type: ignore[no-untyped-def]
    server, base, _ = served
    stop = threading.Event()
    failures: list[str] = []
    answered: list[tuple[int, float]] = []
    available: set[int] = {1}

    def record(version: int, y: np.ndarray) -> None:
        if version not in available:
            failures.append(f"answer from version {version}, which was never AVAILABLE")
        elif not np.allclose(y, X * version + 1):
            failures.append(f"version {version} answered {y}")
        answered.append((version, time.monotonic()))

    def rest_loop() -> None:
        client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        inp = httpclient.InferInput("x", [1, 4], "FP32")
        inp.set_data_from_numpy(X)
        while not stop.is_set():
            try:
                result = client.infer("m", [inp])
                record(int(result.get_response()["model_version"]), result.as_numpy("y"))
            except Exception as exc:
                failures.append(f"REST: {exc}")

    def grpc_loop() -> None:
        client = grpcclient.InferenceServerClient(server.grpc_address)
        inp = grpcclient.InferInput("x", [1, 4], "FP32")
        inp.set_data_from_numpy(X)
        while not stop.is_set():
            try:
                result = client.infer("m", [inp])
                record(int(result.get_response().model_version), result.as_numpy("y"))
            except Exception as exc:
                failures.append(f"gRPC: {exc}")

    threads = [threading.Thread(target=rest_loop), threading.Thread(target=grpc_loop)]
    for thread in threads:
        thread.start()
    try:
        for version in range(2, 22):
            available.add(version)  # it becomes AVAILABLE during the reload below, never before
            write_version(base, version)
            http_json(f"{server.rest_url}/v1/config/reload", b"")
            wait_for(lambda v=version: served_version(server) == v)  # type: ignore[misc]
            count = len(answered)
            wait_for(lambda c=count: len(answered) > c + 5)  # type: ignore[misc]
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert failures == []
    assert {v for v, _ in answered} >= {1, 21}
    assert len(answered) > 100
