"""config.json from a ConfigMap volume, updated the way the kubelet updates it (tests/configmapvol.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from configmapvol import ConfigMapVolume
from models import F32, add_scaled, identity, model_file, reference, save
from serverproc import ServerProcess, wait_for


def config_json(models: dict[str, Path]) -> str:
    entries = [
        {"config": {"name": name, "base_path": str(path), "plugin_config": F32}}
        for name, path in models.items()
    ]
    return json.dumps({"model_config_list": entries})


def ready(server: ServerProcess, model: str) -> bool:
    return requests.get(f"{server.rest_url}/v2/models/{model}/ready", timeout=5).status_code == 200


def infer(server: ServerProcess, model: str, name: str, x: np.ndarray) -> np.ndarray:
    body = {
        "inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]
    }
    answer = requests.post(f"{server.rest_url}/v2/models/{model}/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    out = answer.json()["outputs"][0]
    return np.array(out["data"], dtype=np.float32).reshape(out["shape"])


@pytest.fixture()
def models(tmp_path: Path) -> dict[str, Path]:
    return {
        "first": save(add_scaled(), tmp_path / "repo" / "first"),
        "second": save(identity(np.float32, (1, 10)), tmp_path / "repo" / "second"),
    }


@pytest.fixture()
def volume(tmp_path: Path, models: dict[str, Path]) -> ConfigMapVolume:
    mounted = ConfigMapVolume(tmp_path / "config")
    mounted.write({"config.json": config_json({"first": models["first"]})})
    return mounted


@pytest.fixture()
def server(tmp_path: Path, volume: ConfigMapVolume) -> Iterator[ServerProcess]:
    args = ["--config_path", str(volume.config_path), "--file_system_poll_wait_seconds", "1"]
    started = ServerProcess(args, tmp_path / "log.txt").start()
    yield started
    started.stop()


def test_symlink_swap_adds_and_removes_models(
    server: ServerProcess, volume: ConfigMapVolume, models: dict[str, Path]
) -> None:
    assert ready(server, "first") and not ready(server, "second")
    volume.write({"config.json": config_json(models)})
    wait_for(lambda: ready(server, "second"), "the added model is served", server=server)
    x = np.arange(10, dtype=np.float32).reshape(1, 10)
    expected = reference(model_file(models["second"]), {"in": x})["out"]
    np.testing.assert_array_equal(infer(server, "second", "in", x), expected)

    volume.write({"config.json": config_json({"second": models["second"]})})
    wait_for(lambda: not ready(server, "first"), "the removed model is unloaded", server=server)
    assert ready(server, "second")
    assert sorted(p.name for p in volume.root.iterdir()) == [
        "..2026_12_06_10_00_03.000000003",
        "..data",
        "config.json",
    ]


def test_a_broken_update_keeps_the_running_config(
    server: ServerProcess, volume: ConfigMapVolume, models: dict[str, Path]
) -> None:
    volume.write({"config.json": '{"model_config_list": [{"config": '})
    wait_for(lambda: "config reload refused" in server.log(), "the broken config is refused", server=server)
    assert ready(server, "first")
    x = np.ones((2, 4), dtype=np.float32)
    expected = reference(model_file(models["first"]), {"x": x})["y"]
    np.testing.assert_allclose(infer(server, "first", "x", x), expected, rtol=1e-6)
    volume.write({"config.json": config_json(models)})  # the next good update applies
    wait_for(lambda: ready(server, "second"), "the next good config is applied", server=server)


def test_relative_base_paths_keep_their_meaning_across_updates(tmp_path: Path) -> None:
    """Relative base paths are anchored at the named directory, not at the symlink's timestamped target."""
    mounted = ConfigMapVolume(tmp_path / "relative")
    save(add_scaled(), mounted.root / "repo" / "first")  # beside the ConfigMap's keys
    second = save(identity(np.float32, (1, 10)), mounted.root / "repo" / "second")

    def entries(names: list[str]) -> str:
        items = [{"config": {"name": n, "base_path": f"repo/{n}", "plugin_config": F32}} for n in names]
        return json.dumps({"model_config_list": items})

    mounted.write({"config.json": entries(["first"])})
    args = ["--config_path", str(mounted.config_path), "--file_system_poll_wait_seconds", "1"]
    server = ServerProcess(args, tmp_path / "relative-log.txt").start()
    try:
        assert ready(server, "first")
        mounted.write({"config.json": entries(["first", "second"])})
        wait_for(lambda: ready(server, "second"), "the added model (relative path) is served", server=server)
        x = np.arange(10, dtype=np.float32).reshape(1, 10)
        expected = reference(model_file(second), {"in": x})["out"]
        np.testing.assert_array_equal(infer(server, "second", "in", x), expected)
        assert ready(server, "first")
    finally:
        server.stop()
