"""Build the C custom nodes of tests/data/custom_nodes with the system C compiler.

``build(name, out_dir)`` compiles ``tests/data/custom_nodes/<name>.c`` against ovserve's
``custom_node_interface.h`` into ``out_dir/libcustom_node_<name>.so`` and returns its path.
The nodes: ``add_one`` (FP32 + a parameter), ``crop`` (detected boxes cut out of an image, for
dynamic demultiplexing), ``faulty`` (breaks the interface as its "mode" parameter says) and
``rendezvous`` (completes only when N calls run at once; test controls), ``no_release`` (lacks
a function). Each node but no_release exports
``outstanding_allocations()``: the buffers it handed out that the server has not released.

From a shell (the demo uses it): ``python tests/custom_nodes.py OUT_DIR [NAME ...]``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ovserve.pipelines.custom_node import include_dir

SOURCES = Path(__file__).parent / "data" / "custom_nodes"
NODES = ("add_one", "crop", "faulty", "rendezvous", "no_release")


def compiler() -> str:
    """The system C compiler (``cc``, else ``gcc``); .ci/run installs one where it is missing."""
    found = shutil.which("cc") or shutil.which("gcc")
    if found is None:
        raise RuntimeError("no C compiler (cc or gcc) on PATH: install gcc to build the custom node tests")
    return found


def build(name: str, out_dir: Path) -> Path:
    """Compile node ``name`` into ``out_dir``; the compiler's messages on failure."""
    return _compile(name, out_dir / f"libcustom_node_{name}.so", ["-shared", "-fPIC"])


def build_program(name: str, out_dir: Path) -> Path:
    """Compile ``name``.c (a program, e.g. ``abi_layout``) into ``out_dir``."""
    return _compile(name, out_dir / name, [])


def _compile(name: str, output: Path, mode: list[str]) -> Path:
    command = [
        compiler(), *mode, "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Werror",
        "-I", str(include_dir()), "-I", str(SOURCES), str(SOURCES / f"{name}.c"), "-o", str(output), "-lm", "-pthread",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building {name} failed:\n{done.stderr}")
    return output


def build_all(out_dir: Path) -> dict[str, Path]:
    return {name: build(name, out_dir) for name in NODES}


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for node in sys.argv[2:] or NODES:
        print(build(node, target))
