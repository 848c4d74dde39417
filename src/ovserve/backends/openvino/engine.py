"""The process's one ``ov.Core`` and the loaders built on it."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

from ovserve.backends.openvino.loader import OpenVINOLoader, passthrough_outputs
from ovserve.backends.openvino.types import spec_of
from ovserve.config.types import ModelConfig

log = logging.getLogger(__name__)


class OpenVINOEngine:
    """Owns the ``ov.Core`` (one per process) and makes a loader per model version.

    ``shared_cores``: this process is one of several serving processes on the same cores.
    OpenVINO's CPU plugin then must not pin its threads: every process would pin its
    streams to the same first cores (and re-pin the calling thread around each
    synchronous inference), so the processes would queue on one core while another
    idles. Measured: two workers serving the tiny model went from 3,700 to 4,300-5,700
    req/s with pinning off. A model's own ``ENABLE_CPU_PINNING`` still wins.
    """

    def __init__(
        self,
        cache_dir: str | None = None,
        cpu_extension: str | None = None,
        inline_inference_us: int = 0,
        shared_cores: bool = False,
    ) -> None:
        self.core = ov.Core()
        # Weights are read into memory, not mapped: a .bin truncated (or rewritten in place)
        # after read_model mapped it made the compile touch pages past the end of the file,
        # and SIGBUS killed the whole server (OpenVINO 2026.4, tests/integration/test_faults.py).
        self.core.set_property({"ENABLE_MMAP": False})
        self.inline_inference_us = inline_inference_us
        if shared_cores and "CPU" in self.core.available_devices:
            self.core.set_property("CPU", {"ENABLE_CPU_PINNING": False})
        if cache_dir:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            self.core.set_property({"CACHE_DIR": cache_dir})
        if cpu_extension:
            self.core.add_extension(cpu_extension)
        prime_bindings(self.core)

    def loader(self, config: ModelConfig, version: int, version_dir: Path) -> OpenVINOLoader:
        return OpenVINOLoader(self.core, config, version, version_dir, self.inline_inference_us)


def prime_bindings(core: ov.Core) -> None:
    """Make, on this one thread, the first calls that loaders later make on several at once.

    OpenVINO's Python bindings initialise some C++ function-local statics on first use
    (pybind11's NumPy API table, the element-type -> dtype map), and those initialisers run
    Python code. Two loader threads making the first such call at once deadlock: one holds
    the static's guard and waits for the GIL, the other holds the GIL and waits on the
    guard (OpenVINO 2026.4, pybind11). Seen as a start-up that stayed LOADING for ever on
    two versions of one model; caught with py-spy by scripts/start_loop.py under stress.
    So the engine makes those calls once, before any load: every element type's dtype, a
    tiny model compiled, run, and its tensors and properties read.
    """
    for name in dir(ov.Type):
        element = getattr(ov.Type, name)
        if isinstance(element, ov.Type):
            with contextlib.suppress(Exception):  # no NumPy equivalent (e.g. dynamic)
                element.to_dtype()
    x = ops.parameter([1, 2], ov.Type.f32, name="x")
    model = ov.Model([ops.relu(x)], [x], "prime")
    compiled = core.compile_model(model, "CPU" if "CPU" in core.available_devices else "AUTO")
    spec_of(model.inputs[0], "x")
    spec_of(model.outputs[0], "y")
    passthrough_outputs(compiled)
    for key in ("OPTIMAL_NUMBER_OF_INFER_REQUESTS", "NUM_STREAMS"):
        with contextlib.suppress(Exception):
            compiled.get_property(key)
    request = compiled.create_infer_request()
    tensor = request.get_input_tensor(0)
    tensor.shape = [1, 2]
    np.copyto(tensor.data, np.ones((1, 2), np.float32))
    request.infer()
    np.array(request.get_output_tensor(0).data, copy=True)
    ov.Type(np.dtype(np.float32))
