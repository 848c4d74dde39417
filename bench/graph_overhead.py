"""What a MediaPipe graph costs: a graph of two inference nodes against calling the model twice, in-process.

Usage (from the repository root; about 10 seconds)::

    .venv/bin/python bench/graph_overhead.py [--requests 2000] [--rounds 5]

The model is ``add_scaled`` (``tests/models.py``: ``y = 2x + 1`` on ``[1,4]``, so inference costs
little and the graph's own work shows); the graph is OVMS's session + two
``OpenVINOInferenceCalculator`` nodes (``x -> add -> add``), built as the server builds it
(``pipelines/mediapipe``), its model pinned per request through a ``ServableManager``. The two
sides alternate request by request, so drift of the machine's load hits both members of a pair;
the overhead is the median of the paired differences. Prints one markdown table row.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # before bench/: tests/models.py, not bench/models.py

import models  # noqa: E402  (tests/models.py)
from mediapipe_graphs import inference, session  # noqa: E402

from ovserve.backends.openvino import OpenVINOEngine  # noqa: E402
from ovserve.config.types import ModelConfig  # noqa: E402
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager  # noqa: E402
from ovserve.pipelines.mediapipe.build import GraphContext, build_graph  # noqa: E402
from ovserve.pipelines.mediapipe.calculators import PythonNodeSpec, TensorNode  # noqa: E402
from ovserve.pipelines.mediapipe.servable import GraphServable  # noqa: E402

GRAPH = (
    'input_stream: "in"\noutput_stream: "out"\n'
    + session("s", "add")
    + inference("first", "s", "in", "mid", "x", "y")
    + inference("second", "s", "mid", "out", "x", "y")
)


def no_python(spec: PythonNodeSpec) -> TensorNode:
    raise AssertionError("the graph has no Python node")


async def measure(args: argparse.Namespace, work: Path) -> tuple[float, float, float]:
    base = models.save(models.add_scaled(), work / "add")
    config = ModelConfig(name="add", base_path=str(base), plugin_config=models.F32)
    manager = ServableManager()
    loader = OpenVINOEngine().loader(config, 1, base / "1")
    await manager.apply({"add": AspiredStream((AspiredVersion(1, loader),))})
    context = GraphContext(work / "graph.pbtxt", str(work), manager.acquire, no_python)
    graph = GraphServable("g", build_graph(GRAPH, context))
    x = np.ones((1, 4), dtype=np.float32)

    async def direct() -> None:
        with manager.acquire("add") as model:
            await model.infer({"x": (await model.infer({"x": x}))["y"]})

    pairs: list[tuple[float, float]] = []
    for round_ in range(args.rounds):
        for _ in range(args.requests):
            times = []
            calls = (direct, lambda: graph.infer({"in": x}))
            for call in calls if round_ % 2 == 0 else calls[::-1]:
                start = time.perf_counter()
                await call()
                times.append((time.perf_counter() - start) * 1e6)
            pairs.append((times[0], times[1]) if round_ % 2 == 0 else (times[1], times[0]))
    graph.close()
    direct_us = statistics.median(d for d, _ in pairs)
    graph_us = statistics.median(g for _, g in pairs)
    return graph_us, direct_us, statistics.median(g - d for d, g in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        graph_us, direct_us, overhead = asyncio.run(measure(args, Path(work)))
    print("| case | graph median (µs) | two direct calls median (µs) | overhead (median of pairs, µs) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| x -> add -> add | {graph_us:.1f} | {direct_us:.1f} | {overhead:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
