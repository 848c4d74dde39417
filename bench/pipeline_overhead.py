"""What the DAG engine costs: a pipeline against calling the same models one after another, in-process.

Usage (from the repository root; about 2 minutes with the defaults)::

    .venv/bin/python bench/pipeline_overhead.py [--requests 10] [--rounds 5] [--items 4] [--out PATH]

Models (``bench/models.py``, built under ``bench/work/pipelines``): ``resnet50`` (ResNet-50's
structure, ~4 GFLOPs an image) and ``head`` (``[1,1000]`` -> ``[1,10]``, a matmul). Both are
served as the server serves them: OpenVINO servables owned by a :class:`ServableManager`,
which the pipeline's model nodes pin per request. Cases, each at concurrency 1:

- ``chain``: ``image -> resnet50 -> head``: the pipeline against ``resnet50.infer`` then
  ``head.infer`` on the same servables (the "one after another" floor).
- ``demultiplexed``: ``--items`` images in one request (pipeline ``demultiply_count: -1``),
  each through ``resnet50``, gathered: against ``asyncio.gather`` of the same infers and
  ``np.stack``.
- ``engine only``: a chain of two nodes that return at once: the engine's own cost per
  request (µs), with no inference to hide it.

The two sides alternate request by request (the order flipped each round) so that drift of
the machine's load hits both members of a pair; the overhead is the median of the paired
differences (and its share of the direct median), besides each side's median latency. Prints a markdown
table and writes it to ``bench/results/<date>-<cpu>-pipelines.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work" / "pipelines"
sys.path.append(str(ROOT / "tests"))

import models as bench_models  # noqa: E402  (bench/models.py)
from lifecycle_common import cpu_name, cpu_slug  # noqa: E402

from ovserve.backends.openvino import OpenVINOEngine  # noqa: E402
from ovserve.config.pipelines import NodeConfig, NodeOutput, PipelineConfig, TensorSource  # noqa: E402
from ovserve.config.types import ModelConfig  # noqa: E402
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager  # noqa: E402
from ovserve.pipelines.build import build_pipeline  # noqa: E402
from ovserve.pipelines.nodes import Node  # noqa: E402
from ovserve.tensors import Dim, TensorSpec  # noqa: E402

Call = Callable[[], Awaitable[object]]
#: case, pipeline median, direct median, median paired difference, unit
Row = tuple[str, float, float, float, str]


def head() -> ov.Model:
    x = ops.parameter([1, 1000], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    w = np.random.default_rng(3).standard_normal((1000, 10)).astype(np.float32)
    y = ops.matmul(x, ops.constant(w), False, False)
    y.output(0).get_tensor().set_names({"y"})
    return ov.Model([y], [x], "head")


def save(model: ov.Model, name: str) -> Path:
    base = WORK / name
    (base / "1").mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(base / "1" / "model.xml"), compress_to_fp16=False)
    return base


def dl(name: str, model: str, inputs: Mapping[str, str], output: str, alias: str) -> NodeConfig:
    sources = {k: TensorSource(*v.split(":")) for k, v in inputs.items()}
    return NodeConfig(name, "DL model", sources, (NodeOutput(output, alias),), model_name=model)


class Instant:
    """A node that answers at once (its input as its output)."""

    def __init__(self) -> None:
        self.inputs = {"x": TensorSpec("x", np.dtype(np.float32), (Dim.static(1), Dim.static(4)))}
        self.outputs = {"y": TensorSpec("y", np.dtype(np.float32), (Dim.static(1), Dim.static(4)))}

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": inputs["x"]}

    def close(self) -> None:
        pass


async def timed(call: Call) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def compare(pipe: Call, direct: Call, requests: int, rounds: int) -> tuple[float, float, float]:
    """Median latency of each side, and the median of the paired differences.

    The two sides alternate request by request (which goes first flips each round), so a
    change in the machine's load hits both members of a pair alike.
    """
    await pipe()
    await direct()
    ours, floor, diffs = [], [], []
    for r in range(rounds):
        for _ in range(requests):
            if r % 2 == 0:
                a, b = await timed(pipe), await timed(direct)
            else:
                b, a = await timed(direct), await timed(pipe)
            ours.append(a)
            floor.append(b)
            diffs.append(a - b)
    return statistics.median(ours), statistics.median(floor), statistics.median(diffs)


async def serve(manager: ServableManager, engine: OpenVINOEngine, name: str, base: Path, nireq: int) -> None:
    config = ModelConfig(name=name, base_path=str(base), nireq=nireq)
    loader = engine.loader(config, 1, base / "1")
    await manager.apply({name: AspiredStream((AspiredVersion(1, loader),))}, complete=False)


def no_nodes(config: NodeConfig) -> Node:
    raise AssertionError(config.name)


async def measure(args: argparse.Namespace) -> list[Row]:
    manager, engine = ServableManager(), OpenVINOEngine()
    await serve(manager, engine, "resnet50", save(bench_models.resnet50(), "resnet50"), nireq=args.items)
    await serve(manager, engine, "head", save(head(), "head"), nireq=1)
    image = bench_models.sample_input(bench_models.RESNET)
    rows = []
    chain = PipelineConfig(
        "chain",
        ("image",),
        (
            dl("classify", "resnet50", {"image": "request:image"}, "probs", "probs"),
            dl("head", "head", {"x": "classify:probs"}, "y", "y"),
        ),
        {"y": TensorSource("head", "y")},
    )
    pipe = build_pipeline(chain, manager.acquire, no_nodes)
    with manager.acquire("resnet50") as resnet, manager.acquire("head") as top:

        async def direct_chain() -> object:
            probs = (await resnet.infer({"image": image}))["probs"]
            return await top.infer({"x": probs})

        measured = await compare(
            lambda: pipe.infer({"image": image}), direct_chain, args.requests, args.rounds
        )
        rows.append(("chain: resnet50 -> head", *measured, "ms"))
        demux = PipelineConfig(
            "demux",
            ("image",),
            (dl("classify", "resnet50", {"image": "request:image"}, "probs", "probs"),),
            {"probs": TensorSource("classify", "probs")},
            demultiply_count=-1,
        )
        many = build_pipeline(demux, manager.acquire, no_nodes)
        images = np.stack([image] * args.items)

        async def direct_many() -> object:
            outs = await asyncio.gather(*(resnet.infer({"image": i}) for i in images))
            return np.stack([o["probs"] for o in outs])

        measured = await compare(
            lambda: many.infer({"image": images}), direct_many, args.requests, args.rounds
        )
        rows.append((f"demultiplexed: {args.items} images through resnet50, gathered", *measured, "ms"))
    rows.append(await engine_only(args))
    await manager.close()
    return rows


async def engine_only(args: argparse.Namespace) -> Row:
    nodes: dict[str, Node] = {"a": Instant(), "b": Instant()}
    config = PipelineConfig(
        "instant",
        ("x",),
        (
            NodeConfig(
                "a", "custom", {"x": TensorSource("request", "x")}, (NodeOutput("y", "y"),), library_name="a"
            ),
            NodeConfig(
                "b", "custom", {"x": TensorSource("a", "y")}, (NodeOutput("y", "y"),), library_name="b"
            ),
        ),
        {"y": TensorSource("b", "y")},
    )
    pipe = build_pipeline(config, ServableManager().acquire, lambda c: nodes[c.name])
    x = np.zeros((1, 4), np.float32)
    a, b = nodes["a"], nodes["b"]

    async def direct() -> object:
        return await b.run({"x": (await a.run({"x": x}))["y"]})

    measured = await compare(lambda: pipe.infer({"x": x}), direct, args.requests * 200, args.rounds)
    return ("engine only: two instant nodes", *measured, "us")


def report(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        f"# Pipeline overhead, {datetime.date.today()}: {cpu_name()}, {os.cpu_count()} CPUs",
        "",
        f"In-process, concurrency 1, {args.rounds} rounds x {args.requests} request pairs, the two sides "
        "alternating request by request (bench/pipeline_overhead.py). Overhead: the median of the "
        "paired differences, and that as a share of the direct median.",
        "",
        "| case | pipeline (median) | one after another (median) | overhead |",
        "|---|---|---|---|",
    ]
    for name, ours, floor, diff, unit in rows:
        scale = 1e3 if unit == "ms" else 1e6
        lines.append(
            f"| {name} | {ours * scale:.3f} {unit} | {floor * scale:.3f} {unit} | "
            f"{diff * 1e6:+.1f} µs ({diff / floor * 100:+.2f}%) |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = report(asyncio.run(measure(args)), args)
    print(text)
    out = args.out or BENCH / "results" / f"{datetime.date.today()}-{cpu_slug()}-pipelines.md"
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
