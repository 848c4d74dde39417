"""KServe's own Python SDK (``kserve`` 0.21: InferenceRESTClient and InferenceGRPCClient) against ovserve.

The SDK reads the Open Inference Protocol's health bodies (``{"live": true}``, ``{"ready": true}``);
it cannot share a process with tritonclient (both register ``inference.*`` protobuf names), so it
runs in a subprocess (tests/clients/kserve_sdk.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from models import model_file, reference
from serverproc import ServerProcess

SCRIPT = Path(__file__).resolve().parent.parent / "clients" / "kserve_sdk.py"


def test_kserve_sdk_probes_and_infers(server: ServerProcess, repo: dict[str, Path], tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
    np.save(tmp_path / "x.npy", x)
    args = [server.rest_url, server.grpc_address, "dynamic", "x", str(tmp_path / "x.npy")]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = reference(model_file(repo["dynamic"]), {"x": x})["y"]
    rest, grpc = result["rest"], result["grpc"]
    assert (rest["live"], rest["ready"], rest["model_ready"], rest["missing_model_ready"]) == (
        True,
        True,
        True,
        False,
    )
    assert (grpc["live"], grpc["ready"], grpc["model_ready"]) == (True, True, True)
    for answer in (rest, grpc):
        np.testing.assert_array_equal(np.array(answer["outputs"]["y"], dtype=np.float32), expected)
