"""The process's one ``ov.Core`` and the loaders built on it."""

from __future__ import annotations

import logging
from pathlib import Path

import openvino as ov

from ovserve.backends.openvino.loader import OpenVINOLoader
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

    @property
    def version(self) -> str:
        return str(ov.get_version())

    def loader(self, config: ModelConfig, version: int, version_dir: Path) -> OpenVINOLoader:
        return OpenVINOLoader(self.core, config, version, version_dir, self.inline_inference_us)
