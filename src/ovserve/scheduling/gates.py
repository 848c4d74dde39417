"""Test-only gates: hold a model's loads or inferences until a test releases them.

**For tests only.** Enabled by the environment variable ``OVSERVE_TEST_GATES`` naming a
directory (the composition root wraps its loader factory with :func:`with_test_gates`);
without it nothing here runs. A test that must see a model *while* it loads, or a
version *while* a request holds it, cannot rely on the model being slow: a faster
machine finishes first. A gate makes the slow part wait for the test instead.

The protocol is files in the gate directory, for a model ``m``:

- ``load-m`` exists when a version of ``m`` starts loading: the loader adds a line to
  ``load-m.held`` and waits (on its loader thread) until ``load-m`` is removed;
- ``infer-m`` exists when a call reaches ``m``'s backend (the version is pinned, inputs
  validated, past the dynamic batcher's queue: a held batch keeps the batcher busy): the
  call adds a line to ``infer-m.held`` and waits (on the event loop, without blocking it)
  until ``infer-m`` is removed;
- ``stream-m`` exists when a streamed text generation of ``m`` starts being read: the reader
  adds a line to ``stream-m.held`` and waits (on the event loop) until the generation has
  ended, so that every step's output waits for it at once (ovserve.genai.source wires it; the
  gate is not opened by the test: the generation's end opens it).

The ``.held`` files count the arrivals (one line each, from every worker process), so a
test can wait until all of its requests are held.

A gate is checked every :data:`POLL_SECONDS`; a hold ends by itself after
:data:`MAX_HOLD_SECONDS` so that a test that died cannot wedge the server for ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ovserve.config.types import ModelConfig
from ovserve.core.manager import Loader
from ovserve.core.servable import Servable, WrapperServable
from ovserve.scheduling.loader import LoaderFactory

log = logging.getLogger(__name__)

#: the environment variable that enables the gates (a directory)
ENV = "OVSERVE_TEST_GATES"
POLL_SECONDS = 0.01
MAX_HOLD_SECONDS = 300.0


def gate_file(directory: Path, kind: str, model: str) -> Path:
    return directory / f"{kind}-{model}"


def arrive(gate: Path) -> bool:
    """Whether ``gate`` is closed; if so, say that something waits at it."""
    if not gate.exists():
        return False
    log.warning("test gate %s: holding until the test removes it", gate)
    with gate.with_name(gate.name + ".held").open("a") as held:
        held.write("held\n")
    return True


class GatedLoader:
    """Waits at ``load-<model>`` (blocking: loads run on a loader thread), then loads."""

    def __init__(self, inner: Loader, directory: Path, model: str) -> None:
        self.inner = inner
        self.directory = directory
        self.model = model

    def load(self) -> Servable:
        gate = gate_file(self.directory, "load", self.model)
        if arrive(gate):
            deadline = time.monotonic() + MAX_HOLD_SECONDS
            while gate.exists() and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
        return GatedServable(self.inner.load(), self.directory)


class GatedServable(WrapperServable):
    """``inner``, with each call waiting at ``infer-<model>`` first; anything else is ``inner``'s."""

    def __init__(self, inner: Servable, directory: Path) -> None:
        super().__init__(inner)
        self._gate = gate_file(directory, "infer", inner.name)

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        gate = self._gate
        if arrive(gate):
            deadline = time.monotonic() + MAX_HOLD_SECONDS
            while gate.exists() and time.monotonic() < deadline:
                await asyncio.sleep(POLL_SECONDS)
        return await self.inner.run(inputs)


def with_test_gates(factory: LoaderFactory, directory: str | None) -> LoaderFactory:
    """``factory`` with gates, when ``directory`` is set (from :data:`ENV`); else ``factory`` itself.

    Wraps the backend's loader factory, inside :func:`~ovserve.scheduling.with_batching`.
    """
    if not directory:
        return factory
    root = Path(directory)
    log.warning("test gates enabled in %s (%s): for tests only", root, ENV)

    def make(config: ModelConfig, version: int, path: Path) -> Loader:
        return GatedLoader(factory(config, version, path), root, config.name)

    return make
