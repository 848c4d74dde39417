"""Faults while ovserve runs: each leaves every other model serving, with the reason in the model's status.

- a model's weights truncated while it loads (held at a test gate, then cut in half);
- an OpenVINO compile that raises (a plugin property the CPU plugin refuses);
- a version directory deleted while a request holds the version, and a whole model
  directory deleted;
- the remote-storage cache's disk full (a 256 KiB tmpfs as the server's TMPDIR);
- the S3 emulator (moto) killed in the middle of a download (a relay holds the download
  half way until moto is dead).

Every wait is for a state, never for a duration; the deadlines only catch a broken server.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from faultproxy import PausingProxy
from gates import Gates
from models import add_scaled, model_file, reference, save, slow, write_config
from serverproc import HOST, ServerProcess, http_json, wait_for
from storage_emulators import MotoS3

X = np.arange(8, dtype=np.float32).reshape(2, 4)
BIG = np.ones((256, 256), np.float32)  # input of the "big" model (1 MiB of weights)


def version_status(server: ServerProcess, name: str) -> list[dict[str, Any]]:
    _, body = http_json(f"{server.rest_url}/v1/models/{name}")
    return list(body.get("model_version_status", []))


def model_error(server: ServerProcess, name: str) -> str:
    """The model's own error (KServe readiness), or its versions' error messages (TF Serving status)."""
    _, body = http_json(f"{server.rest_url}/v2/models/{name}/ready")
    texts = [str(body.get("error", ""))]
    texts += [s["status"]["error_message"] for s in version_status(server, name)]
    return " | ".join(t for t in texts if t)


def infer(server: ServerProcess, name: str, x: np.ndarray = X) -> tuple[str, np.ndarray]:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}", network_timeout=60)
    try:
        tensor = httpclient.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        result = client.infer(name, [tensor])
        out = result.as_numpy("y")
        assert out is not None
        return result.get_response()["model_version"], out
    finally:
        client.close()


def assert_serves(server: ServerProcess, name: str, base: Path, x: np.ndarray = X) -> None:
    _, y = infer(server, name, x)
    np.testing.assert_allclose(y, reference(model_file(base), {"x": x})["y"], rtol=1e-5, atol=1e-6)


@pytest.fixture
def gates(tmp_path: Path) -> Gates:
    return Gates(tmp_path / "gates")


def start_in_background(server: ServerProcess) -> threading.Thread:
    """``server.start()`` on a thread: its first loads may be held at a gate."""
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    return thread


# -- local files ---------------------------------------------------------------------------
def test_weights_truncated_while_the_model_loads(tmp_path: Path, gates: Gates) -> None:
    good = save(add_scaled(), tmp_path / "good")
    victim = save(slow(256, 4), tmp_path / "victim")
    weights = victim / "1" / "model.bin"
    intact = weights.read_bytes()
    config = write_config(tmp_path / "config.json", {"good": str(good), "victim": str(victim)})
    gates.close("load", "victim")
    args = ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"]
    server = ServerProcess(args, tmp_path / "log", env=gates.env)
    starting = start_in_background(server)
    try:
        gates.wait_held("load", "victim")
        with weights.open("r+b") as f:  # cut in half in place, as a copy over it would
            f.truncate(len(intact) // 2)
        gates.open("load", "victim")
        starting.join(90)
        assert server.alive(), server.log()
        wait_for(lambda: "Incorrect weights in bin file" in model_error(server, "victim"), "the reason shown")
        assert_serves(server, "good", good)
        weights.write_bytes(intact)  # repaired: a later poll loads it
        wait_for(lambda: http_json(f"{server.rest_url}/v2/models/victim/ready")[0] == 200, "victim loaded")
        assert_serves(server, "victim", victim, BIG)
    finally:
        assert server.stop() == 0, server.log()


def test_weights_truncated_between_reading_and_compiling_do_not_kill_the_process(tmp_path: Path) -> None:
    """With weights memory-mapped (OpenVINO's default), this compile died of SIGBUS."""
    base = save(slow(256, 4), tmp_path / "m")
    script = f"""
import os, numpy as np
from ovserve.backends.openvino import OpenVINOEngine
core = OpenVINOEngine().core
model = core.read_model({str(model_file(base))!r})
os.truncate({str(base / "1" / "model.bin")!r}, 100)
compiled = core.compile_model(model, "CPU", {{"INFERENCE_PRECISION_HINT": "f32"}})
np.save({str(tmp_path / "y.npy")!r}, compiled.create_infer_request().infer({{0: np.ones((256, 256), np.float32)}})[0])
"""
    expected = reference(model_file(base), {"x": BIG})["y"]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)


def test_an_openvino_compile_that_raises(tmp_path: Path) -> None:
    good = save(add_scaled(), tmp_path / "good")
    broken = save(add_scaled(), tmp_path / "broken")
    config = write_config(
        tmp_path / "config.json",
        {"good": str(good), "broken": str(broken)},
        {"broken": {"plugin_config": {"NUM_STREAMS": "-7"}}},
    )
    server = ServerProcess(["--config_path", str(config)], tmp_path / "log").start()
    try:
        error = model_error(server, "broken")
        assert "Cannot compile model into target device" in error and "src/" not in error, error
        assert http_json(f"{server.rest_url}/v2/models/broken/ready")[0] != 200
        assert_serves(server, "good", good)
    finally:
        assert server.stop() == 0, server.log()


def test_directories_deleted_while_their_versions_serve(tmp_path: Path, gates: Gates) -> None:
    m = save(add_scaled(scale=1.0), tmp_path / "m", (1,))
    save(add_scaled(scale=2.0), m, (2,))
    gone = save(add_scaled(scale=5.0), tmp_path / "gone")
    good = save(add_scaled(scale=7.0), tmp_path / "good")
    config = write_config(tmp_path / "config.json", {"m": str(m), "gone": str(gone), "good": str(good)})
    args = ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"]
    server = ServerProcess(args, tmp_path / "log", env=gates.env).start()
    try:
        # version 2's directory goes while a request (held at the gate) is running on it
        gates.close("infer", "m")
        answers: list[tuple[str, np.ndarray]] = []
        held = threading.Thread(target=lambda: answers.append(infer(server, "m")))
        held.start()
        gates.wait_held("infer", "m")
        shutil.rmtree(m / "2")
        wait_for(
            lambda: {s["version"]: s["state"] for s in version_status(server, "m")}.get("2") == "UNLOADING",
            "version 2 retiring while the request holds it",
        )
        gates.open("infer", "m")
        held.join(60)
        assert answers[0][0] == "2"
        np.testing.assert_allclose(answers[0][1], X * 2 + 1, rtol=1e-6)  # answered by the version it pinned
        wait_for(lambda: infer(server, "m")[0] == "1", "version 1 serving")
        # a whole model directory goes: the model is unloaded and says why
        shutil.rmtree(gone)
        wait_for(
            lambda: "The provided base path is invalid" in model_error(server, "gone"), "the reason shown"
        )
        assert http_json(f"{server.rest_url}/v2/models/gone/ready")[0] != 200
        assert_serves(server, "good", good)
        assert_serves(server, "m", m)
    finally:
        assert server.stop() == 0, server.log()


# -- remote storage ------------------------------------------------------------------------
@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoS3]:
    store = MotoS3(tmp_path / "moto")
    store.start()
    store.create_bucket("models")
    yield store
    store.stop()


def upload(store: MotoS3, base: Path, prefix: str) -> None:
    store.upload_tree(base, "models", prefix)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None] | None]]:
    """A 256 KiB disk for the server's copies: a tmpfs where root may mount one (ENOSPC).

    Where mounting is refused (a container without CAP_SYS_ADMIN), the server process gets
    a 256 KiB file-size limit instead (RLIMIT_FSIZE: the write fails with EFBIG, "File too
    large"): the same failure path, a different errno.
    """
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        command = ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)]
        mounted = subprocess.run(command, check=False, capture_output=True).returncode == 0
    except OSError:
        mounted = False
    if mounted:
        yield mount, None
        subprocess.run(["umount", "-l", str(mount)], check=False)
        return

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    yield mount, limit


def test_the_remote_cache_disk_full(
    tmp_path: Path, moto: MotoS3, tiny_disk: tuple[Path, Callable[[], None] | None]
) -> None:
    disk, limit = tiny_disk
    big = save(slow(256, 4), tmp_path / "repo" / "big")  # 1 MiB of weights: does not fit
    small = save(add_scaled(scale=3.0), tmp_path / "repo" / "small")
    local = save(add_scaled(scale=4.0), tmp_path / "repo" / "local")
    upload(moto, big, "big")
    upload(moto, small, "small")
    config = write_config(
        tmp_path / "config.json",
        {"big": "s3://models/big", "small": "s3://models/small", "local": str(local)},
    )
    env = {**moto.env(), "TMPDIR": str(disk)}  # where the server keeps its copies
    server = ServerProcess(["--config_path", str(config)], tmp_path / "log", env=env, preexec=limit).start()
    try:
        error = model_error(server, "big")
        assert "Copying version 1 from s3://models/big" in error, error
        assert ("No space left on device" if limit is None else "File too large") in error, error
        assert_serves(server, "small", small)
        assert_serves(server, "local", local)
        assert not [p for p in disk.rglob("*") if ".staging-" in p.name]  # the half copy is gone
    finally:
        assert server.stop() == 0, server.log()


def test_s3_killed_in_the_middle_of_a_download(tmp_path: Path, moto: MotoS3) -> None:
    big = save(slow(256, 4), tmp_path / "repo" / "big")
    local = save(add_scaled(scale=4.0), tmp_path / "repo" / "local")
    upload(moto, big, "big")
    proxy = PausingProxy(moto.port, limit=256 * 1024)
    proxy.arm()  # the .bin download (1 MiB) stops after 256 KiB
    config = write_config(tmp_path / "config.json", {"big": "s3://models/big", "local": str(local)})
    env = {**moto.env(), "S3_ENDPOINT": proxy.url, "OVSERVE_STORAGE_TIMEOUT_SECONDS": "3"}
    args = ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"]
    server = ServerProcess(args, tmp_path / "log", env=env)
    starting = start_in_background(server)
    try:
        wait_for(proxy.paused.is_set, "the download held half way")
        moto.stop()  # SIGKILL, by its process group
        proxy.cut()
        starting.join(120)
        assert server.alive(), server.log()
        wait_for(
            lambda: "Copying version 1 from s3://models/big" in model_error(server, "big"), "the reason shown"
        )
        assert_serves(server, "local", local)
        moto.start()  # back (empty: moto keeps its data in memory), the model uploaded again
        moto.create_bucket("models")
        upload(moto, big, "big")
        wait_for(
            lambda: http_json(f"{server.rest_url}/v2/models/big/ready")[0] == 200,
            "big loaded after the outage",
        )
        assert_serves(server, "big", big, BIG)
    finally:
        proxy.close()
        assert server.stop() == 0, server.log()
