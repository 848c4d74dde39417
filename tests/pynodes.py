"""Helpers of the Python node tests: handler files written in a temporary directory, nodes closed after."""

from __future__ import annotations

import asyncio
import shutil
import textwrap
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ovserve.pipelines.python_node import PythonNode

T = TypeVar("T")
DATA = Path(__file__).resolve().parent / "data" / "python_nodes"
#: how long a test waits for a node's threads (never reached unless something is broken)
WAIT = 30.0


def write_handler(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def copy_handler(directory: Path, name: str) -> Path:
    """One of tests/data/python_nodes, copied (as a user would deploy it) into ``directory``."""
    return Path(shutil.copy(DATA / name, directory / name))


class Nodes:
    """Makes nodes and closes every one at the end of the test, waiting for its finalize."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.made: list[PythonNode] = []

    def __call__(self, source: str, inputs: Sequence[str], outputs: Sequence[str], **kw: Any) -> PythonNode:
        path = write_handler(self.directory, kw.pop("file", "model.py"), source)
        return self.load(str(path), inputs, outputs, **kw)

    def load(self, path: str, inputs: Sequence[str], outputs: Sequence[str], **kw: Any) -> PythonNode:
        node = PythonNode(kw.pop("name", "py"), path, inputs, outputs, **kw)
        self.made.append(node)
        return node

    def close_all(self) -> None:
        for node in self.made:
            node.close()
        for node in self.made:
            assert node.finalized.wait(WAIT)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def collect(stream: AsyncIterator[T]) -> list[T]:
    return [item async for item in stream]
