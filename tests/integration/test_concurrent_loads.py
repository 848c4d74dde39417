"""Many versions loading at once in a fresh process never deadlock (start-up stall, issue 9 defect 5).

OpenVINO's Python bindings initialise some statics on first use with Python code inside;
two loader threads making that first call at once deadlocked (a start-up stayed LOADING
for ever). The engine now makes those calls once before any load. Each run is a fresh
process (the statics are per process) with eight loads started together and the GIL
switched as often as Python allows, which made most runs of this test hang before the fix.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from models import save, small_cnn

SCRIPT = """
import sys, threading
sys.setswitchinterval(1e-6)
from pathlib import Path
import numpy as np
import openvino as ov
from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.types import numpy_dtype
from ovserve.config.types import ModelConfig
engine = OpenVINOEngine()
barrier = threading.Barrier(8)
def load(base):
    barrier.wait()
    # what a loader does right after compiling: the ports' dtypes (the first use of the
    # bindings' dtype table), then the whole load
    for element in (ov.Type.f32, ov.Type.i64, ov.Type.u8):
        numpy_dtype(element, "x")
    engine.loader(ModelConfig(name=base.name, base_path=str(base)), 1, base / "1").load()
bases = [Path(p) for p in sys.argv[1:]]
threads = [threading.Thread(target=load, args=(b,)) for b in bases]
[t.start() for t in threads]
[t.join() for t in threads]
print("all loaded")
"""


@pytest.mark.timeout(300)
def test_eight_loads_at_once_in_fresh_processes_finish(tmp_path: Path) -> None:
    # the same model eight times: the loads reach the same step together, as two versions of
    # one model did in the stalled start-up
    bases = [save(small_cnn(), tmp_path / f"m{i}") for i in range(8)]
    for _ in range(6):
        run = subprocess.run(
            [sys.executable, "-c", SCRIPT, *map(str, bases)], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0 and "all loaded" in run.stdout, run.stderr
