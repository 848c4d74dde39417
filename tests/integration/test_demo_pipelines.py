"""The demo repository's pipelines (scripts/make_demo.py, what ``make demo`` serves) answer as documented.

``tiny`` run in-process (OpenVINO, f32) then the documented step in NumPy is the reference:
``tiny_chain`` = tiny twice, ``tiny_negated`` = -tiny (a Python node), ``tiny_plus_half`` =
tiny + 0.5 (the C custom node add_one); the MediaPipe graph ``tiny_graph`` = tiny(-x) (a Python
node, then OVMS's session + inference calculators). ``scripts/demo_client.py`` is run as a user
runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from models import model_file, reference
from serverproc import HOST, ServerProcess

ROOT = Path(__file__).resolve().parents[2]
X = np.arange(10, dtype=np.float32).reshape(1, 10)


def test_demo_pipelines(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_demo.py"), str(tmp_path)], check=True, timeout=300
    )
    tiny = reference(model_file(tmp_path / "models" / "tiny"), {"x": X})["y"]
    expected = {
        "tiny_chain": reference(model_file(tmp_path / "models" / "tiny"), {"x": tiny})["y"],
        "tiny_negated": -tiny,
        "tiny_plus_half": tiny + np.float32(0.5),
        "tiny_graph": reference(model_file(tmp_path / "models" / "tiny"), {"x": -X})["y"],
    }
    server = ServerProcess(["--config_path", str(tmp_path / "config.json")], tmp_path / "ovserve.log").start()
    try:
        client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        tensor = httpclient.InferInput("x", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X)
        for name, want in expected.items():
            np.testing.assert_allclose(
                client.infer(name, [tensor]).as_numpy("y"), want, rtol=1e-6, err_msg=name
            )
        ports = ["--rest", str(server.rest_port), "--grpc", str(server.grpc_port)]
        client_script = [sys.executable, str(ROOT / "scripts" / "demo_client.py"), *ports]
        shown = subprocess.run(client_script, check=True, capture_output=True, text=True, timeout=120)
        assert "pipeline tiny_plus_half (C node)" in shown.stdout
        assert "graph tiny_graph (MediaPipe)" in shown.stdout
    finally:
        code = server.stop()
    assert code == 0, server.log()
