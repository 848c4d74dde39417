"""The test side of ovserve's test gates (``ovserve.scheduling.gates``, on with ``OVSERVE_TEST_GATES``).

A test closes a gate, starts the operation, waits until the server says it is held at
the gate, looks at whatever it wants to see *during* the operation, then opens the gate.
Nothing depends on how fast the machine is: the operation cannot end before the test
opens the gate.
"""

from __future__ import annotations

import time
from pathlib import Path

from ovserve.scheduling.gates import ENV, gate_file


class Gates:
    """A gate directory; :attr:`env` is what the server process needs to use it."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.env = {ENV: str(directory)}

    def close(self, kind: str, model: str) -> None:
        """Hold the next ``kind`` ("load" or "infer") of ``model`` until :meth:`open`."""
        self._held(kind, model).unlink(missing_ok=True)
        gate_file(self.directory, kind, model).write_text("")

    def held(self, kind: str, model: str) -> int:
        """How many arrived at the gate since it was closed."""
        held = self._held(kind, model)
        return len(held.read_text().splitlines()) if held.exists() else 0

    def wait_held(self, kind: str, model: str, count: int = 1, timeout: float = 120.0) -> None:
        """Return once ``count`` arrivals are held at the gate (the deadline only catches a broken server)."""
        deadline = time.monotonic() + timeout
        while self.held(kind, model) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.held(kind, model)} of {count} reached the {kind} gate of {model}")
            time.sleep(0.01)

    def open(self, kind: str, model: str) -> None:
        gate_file(self.directory, kind, model).unlink(missing_ok=True)

    def _held(self, kind: str, model: str) -> Path:
        gate = gate_file(self.directory, kind, model)
        return gate.with_name(gate.name + ".held")
