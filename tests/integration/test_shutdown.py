"""Graceful shutdown: SIGTERM during a burst of requests in flight drops none of them.

The requests are held at a test gate (``tests/gates.py``) until after the signal, so they
are in flight on any machine, however fast.
"""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from bursts import start_burst
from gates import Gates
from models import add_scaled, model_file, reference, save
from serverproc import ServerProcess


def test_sigterm_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    base = save(add_scaled(), tmp_path / "slow")
    gates = Gates(tmp_path / "gates")
    server = ServerProcess(
        [
            "--model_name",
            "slow",
            "--model_path",
            str(base),
            "--nireq",
            "2",
            "--plugin_config",
            '{"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "1"}',
        ],
        tmp_path / "log.txt",
        env=gates.env,
    ).start()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    expected = reference(model_file(base), {"x": x})["y"]
    gates.close("infer", "slow")
    burst = start_burst(server, "slow", x, 8)
    gates.wait_held("infer", "slow", 8)  # every call is in flight
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    while "SIGTERM received" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:  # readiness turns false at once (or the port is already closed)
        urllib.request.urlopen(f"{server.rest_url}/v2/health/ready", timeout=2)
        ready_after_signal = True
    except (urllib.error.URLError, ConnectionError):
        ready_after_signal = False
    gates.open("infer", "slow")
    burst.join()
    assert server.process.wait(60) == 0, server.log()
    assert burst.errors == []
    assert len(burst.results) == 8
    for result in burst.results:
        np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert not ready_after_signal
