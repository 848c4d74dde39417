"""The executor against a plain recursive evaluation, on random pipelines of fake nodes.

Each pipeline is a random program of segments (a step adding a constant; two branches added
up; a demultiplexed region whose items are gathered by a node, nested at will; optionally a
last region gathered by ``response``). The same program is evaluated directly with numpy,
and the pipeline's answer must be the same. Seeds are fixed: the test is deterministic.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from pipeline_fakes import FakeNode, factory, node, pipeline, spec

from ovserve.config.pipelines import NodeConfig
from ovserve.core.manager import ServableManager
from ovserve.pipelines.build import build_pipeline
from ovserve.pipelines.nodes import Node

Value = np.ndarray
Fn = Callable[[Value], Value]


@dataclass
class Program:
    """Nodes built so far; each segment maps one tensor (``node:item``) to another."""

    rng: random.Random
    configs: list[NodeConfig] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)

    def add(self, config: NodeConfig, fake: Node) -> str:
        self.configs.append(config)
        self.nodes[config.name] = fake
        return f"{config.name}:y"

    def name(self, kind: str) -> str:
        return f"{kind}{len(self.configs)}"

    def chain(self, source: str, depth: int, length: int) -> tuple[str, Fn]:
        """``length`` segments one after another."""
        fns = []
        for _ in range(length):
            source, f = self.segment(source, depth)
            fns.append(f)

        def run(v: Value) -> Value:
            for f in fns:
                v = f(v)
            return v

        return source, run

    def segment(self, source: str, depth: int) -> tuple[str, Fn]:
        kinds = ["plus", "branches", "region", "region"] if depth < 3 else ["plus", "plus", "branches"]
        choice = self.rng.choice(kinds if depth < 5 else ["plus"])
        if choice == "plus":
            c = float(self.rng.randint(-3, 3))
            out = self.add(node(self.name("plus"), {"x": source}, ["y"]), plus(c))
            return out, lambda v: v + c
        if choice == "branches":
            left, f = self.segment(source, depth + 1)
            right, g = self.segment(source, depth + 1)
            out = self.add(node(self.name("add"), {"x": left, "z": right}, ["y"]), add2())
            return out, lambda v: f(v) + g(v)
        return self.region(source, depth, gathered_by_node=True)

    def region(self, source: str, depth: int, gathered_by_node: bool) -> tuple[str, Fn]:
        count, scale = self.rng.randint(1, 3), float(self.rng.choice([-1, 2, 3]))
        split_name = self.name("split")
        items = self.add(node(split_name, {"x": source}, ["y"], demultiply_count=count), split(count, scale))
        inner, f = self.chain(items, depth + 1, self.rng.randint(1, 2))
        if not gathered_by_node:
            return inner, lambda v: np.stack([f(v * scale**k) for k in range(count)])
        if self.rng.random() < 0.5:  # one gathered input
            wiring, fake, each = {"x": inner}, gather_sum(count), f
        else:  # two, from two chains over the same items
            other, g = self.chain(items, depth + 1, 1)
            wiring, fake = {"x": inner, "z": other}, gather_sum(count, inputs=("x", "z"))
            each = (lambda f, g: lambda v: f(v) + g(v))(f, g)
        out = self.add(node(self.name("sum"), wiring, ["y"], gather_from_node=split_name), fake)
        return out, lambda v: sum((each(v * scale**k) for k in range(count)), np.zeros_like(v))


def plus(c: float) -> FakeNode:
    return FakeNode([spec("x", 1, 4)], [spec("y", 1, 4)], lambda i: {"y": i["x"] + np.float32(c)})


def add2() -> FakeNode:
    return FakeNode([spec("x", 1, 4), spec("z", 1, 4)], [spec("y", 1, 4)], lambda i: {"y": i["x"] + i["z"]})


def split(count: int, scale: float) -> FakeNode:
    return FakeNode(
        [spec("x", 1, 4)],
        [spec("y", count, 1, 4)],
        lambda i: {"y": np.stack([i["x"] * np.float32(scale**k) for k in range(count)])},
    )


def gather_sum(count: int, inputs: tuple[str, ...] = ("x",)) -> FakeNode:
    """Gathers each input's ``count`` items and adds all of them up."""
    return FakeNode(
        [spec(name, count, 1, 4) for name in inputs],
        [spec("y", 1, 4)],
        lambda i: {"y": sum(i[name].sum(axis=0) for name in inputs)},
    )


@pytest.mark.parametrize("seed", range(40))
def test_random_pipeline_matches_the_direct_evaluation(seed: int) -> None:
    rng = random.Random(seed)
    program = Program(rng)
    out, f = program.chain("request:x", 0, rng.randint(2, 4))
    if rng.random() < 0.3:  # a last region left for response to gather
        out, g = program.region(out, 0, gathered_by_node=False)
        f = (lambda f, g: lambda v: g(f(v)))(f, g)
    config = pipeline(program.configs, {"out": out})
    pipe = build_pipeline(config, ServableManager().acquire, factory(**program.nodes))
    data = np.arange(4, dtype=np.float32).reshape(1, 4) - 1.5
    expected = f(data)
    assert pipe.outputs["out"].shape == expected.shape
    result = asyncio.run(pipe.infer({"x": data}))["out"]
    np.testing.assert_allclose(result, expected, rtol=1e-5)
