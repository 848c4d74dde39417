"""Graceful shutdown: SIGTERM during a burst of slow requests drops none of them."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from bursts import start_burst
from models import model_file, reference, save, slow
from serverproc import ServerProcess


def test_sigterm_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    base = save(slow(layers=96), tmp_path / "slow")
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
    ).start()
    x = np.random.default_rng(0).standard_normal((384, 384)).astype(np.float32)
    expected = reference(model_file(base), {"x": x})["y"]
    burst = start_burst(server, "slow", x, 8)
    time.sleep(0.3)  # the burst is queued behind two infer requests: about a second of work
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    try:  # readiness turns false at once (or the port is already closed)
        urllib.request.urlopen(f"{server.rest_url}/v2/health/ready", timeout=2)
        ready_after_signal = True
    except (urllib.error.URLError, ConnectionError):
        ready_after_signal = False
    burst.join()
    assert server.process.wait(60) == 0, server.log()
    assert burst.errors == []
    assert len(burst.results) == 8
    for result in burst.results:
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)
    assert not ready_after_signal
