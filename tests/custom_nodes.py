"""Build the C custom nodes of tests/data/custom_nodes with the system C compiler.

``build(name, out_dir)`` compiles ``tests/data/custom_nodes/<name>.c`` against ovserve's
``custom_node_interface.h`` into ``out_dir/libcustom_node_<name>.so`` and returns its path.
The nodes: ``add_one`` (FP32 + a parameter), ``crop`` (detected boxes cut out of an image, for
dynamic demultiplexing), ``faulty`` (breaks the interface as its "mode" parameter says) and
``rendezvous`` (completes only when N calls run at once; test controls), ``no_release`` (lacks
a function), ``unresolved`` (calls a symbol nothing defines, from a function never called),
``pooled`` (outputs from a pool in the node's state, given back by release).
Each node but no_release exports
``outstanding_allocations()``: the buffers it handed out that the server has not released.

From a shell (the demo uses it): ``python tests/custom_nodes.py OUT_DIR [NAME ...]``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from ovserve.pipelines.custom_node import include_dir

SOURCES = Path(__file__).parent / "data" / "custom_nodes"
NODES = ("add_one", "crop", "faulty", "rendezvous", "no_release", "unresolved", "pooled")


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


# -- what the nodes compute, in numpy ----------------------------------------------------------


def crop_reference(
    image: np.ndarray, detection: np.ndarray, width: int, height: int, threshold: float
) -> list[np.ndarray]:
    """What crop.c computes, in numpy (float32 arithmetic for the box edges, as the C code)."""
    _, channels, h, w = image.shape
    kept = [row for row in detection.reshape(-1, 7) if row[2] >= np.float32(threshold)]
    crops = []
    for row in kept:
        x0 = int(np.clip(np.floor(row[3] * np.float32(w)), 0, w - 1))
        y0 = int(np.clip(np.floor(row[4] * np.float32(h)), 0, h - 1))
        x1 = int(np.clip(np.ceil(row[5] * np.float32(w)), x0 + 1, w))
        y1 = int(np.clip(np.ceil(row[6] * np.float32(h)), y0 + 1, h))
        ys = y0 + np.arange(height) * (y1 - y0) // height
        xs = x0 + np.arange(width) * (x1 - x0) // width
        crops.append(image[0][np.ix_(range(channels), ys, xs)][np.newaxis])
    images = np.stack(crops) if crops else np.zeros((0, 1, channels, height, width), np.float32)
    coordinates = np.array([row[3:] for row in kept], np.float32).reshape(-1, 1, 4)
    confidences = np.array([row[2] for row in kept], np.float32).reshape(-1, 1, 1)
    return [images, coordinates, confidences]


def detections(confidences: list[float], rng: np.random.Generator) -> np.ndarray:
    """A detection tensor [1,1,D,7] with these confidences and random boxes, some beyond the image."""
    boxes = rng.uniform(-0.1, 1.1, (len(confidences), 2, 2)).astype(np.float32)
    boxes.sort(axis=1)  # (x_min, y_min) <= (x_max, y_max), some outside the image
    rows = [[0, 1, c, *box[0], *box[1]] for c, box in zip(confidences, boxes, strict=True)]
    return np.array(rows, np.float32).reshape(1, 1, len(confidences), 7)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for node in sys.argv[2:] or NODES:
        print(build(node, target))
