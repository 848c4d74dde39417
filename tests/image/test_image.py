"""Smoke test of ovserve's container image (`make image-test`), run the way users run it.

OVMS's own command line (`--model_name m --model_path /models/m --port ... --rest_port ...`), a
model repository mounted read-only, `--read-only --tmpfs /tmp`, memory and CPU limits, the
image's non-root user. Every inference is compared with in-process OpenVINO.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import ovmsclient
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from containers import IMAGE, Container, docker
from models import F32, add_scaled, model_file, reference, save, slow
from prometheus_client.parser import text_string_to_metric_families
from storage_emulators import MotoS3

REPORT = Path(os.environ.get("OVSERVE_IMAGE_REPORT", "build/image-report.json"))
PLUGIN_CONFIG = ["--plugin_config", json.dumps(F32)]


@pytest.fixture(scope="module")
def repository() -> Iterator[Path]:
    """Models on the host, readable by the image's user (uid 5000): ``m`` and ``slow``."""
    root = Path(tempfile.mkdtemp(prefix="ovserve-image-models-"))
    save(add_scaled(), root / "m")
    save(slow(size=512, layers=64), root / "slow")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def served(repository: Path) -> Iterator[Container]:
    container = Container(repository, ["--model_name", "m", "--model_path", "/models/m", *PLUGIN_CONFIG])
    try:
        yield container.start()
    finally:
        container.remove()
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE).stdout)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"image": IMAGE, "size_bytes": size, "ready_after_s": container.started_s}))


def test_kserve_inference_rest_and_grpc(served: Container, repository: Path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    expected = reference(model_file(repository / "m"), {"x": x})["y"]
    for module, address in ((httpclient, f"127.0.0.1:{served.rest_port}"), (grpcclient, served.grpc_address)):
        client = module.InferenceServerClient(address)
        tensor = module.InferInput("x", [3, 4], "FP32")
        tensor.set_data_from_numpy(x)
        np.testing.assert_allclose(client.infer("m", [tensor]).as_numpy("y"), expected, rtol=1e-6)


def test_tfs_inference_grpc_and_rest(served: Container, repository: Path) -> None:
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    expected = reference(model_file(repository / "m"), {"x": x})["y"]
    client = ovmsclient.make_grpc_client(served.grpc_address)
    np.testing.assert_allclose(client.predict({"x": x}, "m"), expected, rtol=1e-6)
    answer = requests.post(
        f"{served.rest_url}/v1/models/m:predict", json={"instances": x.tolist()}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(np.array(answer.json()["predictions"], dtype=np.float32), expected, rtol=1e-6)


def test_health_endpoints_and_docker_healthcheck(served: Container) -> None:
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/m/ready", "/v1/models/m"):
        assert served.http_status(path) == 200, path
    status = requests.get(f"{served.rest_url}/v1/models/m", timeout=5).json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    assert served.wait_health("healthy") == "healthy", served.inspect()["State"]["Health"]


def test_bad_request_gets_a_clear_error(served: Container) -> None:
    answer = requests.post(f"{served.rest_url}/v2/models/nope/infer", json={"inputs": []}, timeout=10)
    assert answer.status_code == 404
    assert "nope" in answer.text or "not found" in answer.text.lower()
    assert served.http_status("/v2/health/ready") == 200


def test_runs_as_non_root_on_a_read_only_root(served: Container) -> None:
    assert all(uid == 5000 for uid in served.process_uids())
    config = served.inspect()
    assert config["Config"]["User"] == "5000:5000"
    assert config["HostConfig"]["ReadonlyRootfs"] is True
    probe = docker("exec", served.name, "python3", "-c", "open('/opt/ovserve/x', 'w')", check=False)
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr


def test_runs_as_an_arbitrary_user(repository: Path) -> None:
    """`docker run --user` with any uid (as OVMS documents, and as OpenShift assigns them) works."""
    args = ["--model_name", "m", "--model_path", "/models/m", *PLUGIN_CONFIG]
    container = Container(repository, args, run_args=["--user", "12345:0"])
    try:
        container.start()
        assert all(uid == 12345 for uid in container.process_uids())
        x = np.ones((1, 4), dtype=np.float32)
        answer = ovmsclient.make_grpc_client(container.grpc_address).predict({"x": x}, "m")
        np.testing.assert_allclose(answer, reference(model_file(repository / "m"), {"x": x})["y"], rtol=1e-6)
    finally:
        container.remove()


def _arrived_and_running(container: Container, model: str) -> tuple[float, float]:
    """(calls received, calls in progress) for ``model`` from the server's /metrics."""
    text = requests.get(f"{container.rest_url}/metrics", timeout=5).text
    done = running = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("name") != model:
                continue
            if family.name == "ovms_current_requests":
                running += sample.value
            elif family.name == "ovms_requests_success" and sample.name.endswith("_total"):
                done += sample.value
    return done + running, running


def test_sigterm_drains_requests_in_flight(repository: Path) -> None:
    args = ["--model_name", "slow", "--model_path", "/models/slow", "--metrics_enable", "--nireq", "1"]
    container = Container(repository, [*args, "--plugin_config", json.dumps({**F32, "NUM_STREAMS": "1"})])
    try:
        container.start()
        x = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
        expected = reference(model_file(repository / "slow"), {"x": x})["y"]
        results: list[np.ndarray] = []
        errors: list[str] = []

        def call() -> None:
            client = httpclient.InferenceServerClient(f"127.0.0.1:{container.rest_port}", network_timeout=120)
            tensor = httpclient.InferInput("x", [512, 512], "FP32")
            tensor.set_data_from_numpy(x)
            try:
                results.append(client.infer("slow", [tensor]).as_numpy("y"))
            except Exception as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while _arrived_and_running(container, "slow") < (4, 1) and time.monotonic() < deadline:
            time.sleep(0.02)
        arrived, running = _arrived_and_running(container, "slow")
        assert arrived == 4 and running >= 1, "the calls never were all in the server at once"
        container.signal("TERM")
        assert container.wait_exit(120) == 0, container.logs()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert len(results) == 4
        for result in results:
            np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)
    finally:
        container.remove()


def test_remote_repository_cache_goes_to_tmp(tmp_path: Path, repository: Path) -> None:
    """An s3:// model path: the local copy lands under the tmpfs /tmp of a read-only container."""
    s3 = MotoS3(tmp_path).start()
    try:
        s3.create_bucket("models")
        s3.upload_tree(repository / "m", "models", "m")
        container = Container(
            repository, ["--model_name", "m", "--model_path", s3.url_for("models", "m")], s3.env()
        )
        try:
            container.start()
            x = np.ones((1, 4), dtype=np.float32)
            answer = ovmsclient.make_grpc_client(container.grpc_address).predict({"x": x}, "m")
            np.testing.assert_allclose(
                answer, reference(model_file(repository / "m"), {"x": x})["y"], rtol=1e-6
            )
            listing = docker("exec", container.name, "sh", "-c", "ls -d /tmp/ovserve-models-*").stdout
            assert listing.strip().startswith("/tmp/ovserve-models-")
        finally:
            container.remove()
    finally:
        s3.stop()
