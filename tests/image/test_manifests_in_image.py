"""The Helm chart's and the KServe runtime's container settings, run in the image with Docker.

The chart renders the container's arguments, user, probes and volumes; they run here as the
kubelet would run them (ConfigMap directory mounted at /config, emptyDirs for /tmp and the
compiled-model cache, the pod's uid/gid), including a live ConfigMap update. The KServe runtime's
arguments run with the model at /mnt/models, where KServe's storage initializer puts it.
Ports are free ones on 127.0.0.1 instead of the manifests' fixed numbers.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from configmapvol import ConfigMapVolume
from containers import Container
from kube import KSERVE_DIR, container, find, load_manifests, render
from models import F32, add_scaled, model_file, reference, save
from serverproc import HOST, free_port

BIND = ["--rest_bind_address", HOST, "--grpc_bind_address", HOST]


@pytest.fixture(scope="module")
def repository() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="ovserve-image-manifests-"))
    save(add_scaled(), root / "m")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield root
    shutil.rmtree(root)


def models_config(*names: str) -> dict[str, Any]:
    return {
        "model_config_list": [
            {"config": {"name": n, "base_path": "/models/m", "plugin_config": F32}} for n in names
        ]
    }


def infer_v2(url: str, model: str, x: np.ndarray) -> np.ndarray:
    body = {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    answer = requests.post(f"{url}/v2/models/{model}/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    out = answer.json()["outputs"][0]
    return np.array(out["data"], dtype=np.float32).reshape(out["shape"])


def test_chart_container_serves_and_follows_a_configmap_update(repository: Path, tmp_path: Path) -> None:
    grpc, rest = free_port(), free_port()
    values = {"ports": {"grpc": grpc, "rest": rest}, "config": {"json": models_config("m")}}
    objects = render({**values, "server": {"extraArgs": BIND}})
    main, pod = container(objects), find(objects, "Deployment")["spec"]["template"]["spec"]
    volume = ConfigMapVolume(Path(tempfile.mkdtemp(prefix="ovserve-image-configmap-")) / "config")
    volume.root.parent.chmod(0o755)
    volume.write({"config.json": find(objects, "ConfigMap")["data"]["config.json"]})
    user = f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    cache = next(m["mountPath"] for m in main["volumeMounts"] if m["name"] == "cache")
    run_args = ["--user", user, "--tmpfs", f"{cache}:uid=5000,gid=5000", "-v", f"{volume.root}:/config:ro"]
    served = Container(repository, main["args"], run_args=run_args, ports=(grpc, rest))
    try:
        served.start()
        for probe in ("startupProbe", "readinessProbe"):
            assert served.http_status(main[probe]["httpGet"]["path"]) == 200, probe
        volume.write({"config.json": json.dumps(models_config("m", "m2"))})
        deadline = time.monotonic() + 30
        while served.http_status("/v2/models/m2/ready") != 200:
            assert time.monotonic() < deadline, f"the ConfigMap update was not applied:\n{served.logs()}"
            time.sleep(0.1)
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        expected = reference(model_file(repository / "m"), {"x": x})["y"]
        np.testing.assert_allclose(infer_v2(served.rest_url, "m2", x), expected, rtol=1e-6)
    finally:
        served.remove()
        shutil.rmtree(volume.root.parent)


def test_kserve_runtime_container_serves_v1_and_v2(repository: Path) -> None:
    runtime = load_manifests(KSERVE_DIR / "cluster-serving-runtime.yaml")[0]
    (main,) = runtime["spec"]["containers"]
    grpc, rest = free_port(), free_port()
    ports = {"--port": f"--port={grpc}", "--rest_port": f"--rest_port={rest}"}
    args = [ports.get(a.split("=")[0], a.replace("{{.Name}}", "resnet")) for a in main["args"]]
    user = f"{main['securityContext']['runAsUser']}:{main['securityContext']['runAsGroup']}"
    served = Container(
        repository / "m",
        [*args, *BIND],
        mounts=["/mnt/models"],
        run_args=["--user", user],
        ports=(grpc, rest),
    )
    try:
        served.start()
        x = np.linspace(0, 1, 4, dtype=np.float32).reshape(1, 4)
        expected = reference(model_file(repository / "m"), {"x": x})["y"]
        np.testing.assert_allclose(infer_v2(served.rest_url, "resnet", x), expected, rtol=1e-6)
        answer = requests.post(
            f"{served.rest_url}/v1/models/resnet:predict", json={"instances": x.tolist()}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(
            np.array(answer.json()["predictions"], dtype=np.float32), expected, rtol=1e-6
        )
        assert served.http_status(runtime["spec"]["annotations"]["prometheus.kserve.io/path"]) == 200
    finally:
        served.remove()
