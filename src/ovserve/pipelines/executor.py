"""Runs one pipeline request over a precomputed :class:`~.graph.Graph`.

A step runs once per *instance*: the step and a key, the item indices of the
demultiplexers it runs within (``()`` outside any). An instance starts as soon as all its
inputs arrived: one arrival per source per gathered item. How many items a gathering
instance waits for grows as the demultiplexers it gathers report their counts; every
demultiplexer reports before any of its items can arrive, so a count is never reached
early. Independent instances run concurrently as asyncio tasks; when only one instance
can run, it is awaited inline (a chain of models creates no task at all).

Per request the executor only indexes dicts: the schedule, the bindings and the
demultiplexer levels were worked out when the pipeline was built. Demultiplexed items
are numpy views of the demultiplexer's outputs; gathering stacks them (one copy).

Failures: the first failing instance ends the request with its error, naming the node;
every other running instance is cancelled and awaited before the request returns, as on
cancellation of the request itself. A dynamic demultiplexer giving no items ends the
request with :class:`~ovserve.errors.DemultiplexerNoResults` (OVMS's ABORTED).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack

import numpy as np

from ovserve.errors import (
    DemultiplexerNoResults,
    InternalError,
    NodeFailed,
    PipelineExecutionFailed,
    ServingError,
)
from ovserve.pipelines.graph import DEMULTIPLY_LIMIT, REQUEST_INDEX, Graph, Step
from ovserve.pipelines.model_node import RunFn
from ovserve.pipelines.nodes import Node
from ovserve.tensors import BYTES_DTYPE, format_dims

log = logging.getLogger(__name__)

# OVMS's status texts of pipeline execution (src/status.cpp)
WRONG_RANK = "Wrong number of dimensions in a tensor to be sharded"
WRONG_COUNT = "Wrong dimension size. Should match demultiply count"
TOO_MANY = "Too large dynamic demultiplication requested."
STRING_DEMULTIPLY = "Demultiplication is not supported for string precision"
INCONSISTENT_SHARDS = "Gathered tensor shards dimensions are different"
MISSING_OUTPUT = "Node output is missing"
#: the fewest dimensions a demultiplexed tensor may have
MIN_RANK = 3

Key = tuple[int, ...]
Instance = tuple[int, Key]
Tensors = Mapping[str, np.ndarray]


class Executor:
    """Runs requests over one graph; holds nothing of a request (each gets a :class:`_Run`)."""

    def __init__(self, graph: Graph, nodes: Sequence[Node | None]) -> None:
        self.steps = graph.steps
        self.gatherers = graph.gatherers
        self.response = len(graph.steps) - 1
        #: arrivals one instance waits for before any demultiplexer reported: one per source
        self.base = tuple(len(step.sources) for step in graph.steps)
        #: steps that read nothing from another node: ready as the request starts
        self.roots = tuple(s.index for s in graph.steps[1:-1] if not s.sources)
        self._pins: list[Callable[[ExitStack], RunFn] | None] = [getattr(n, "pin", None) for n in nodes]
        self._runs: list[RunFn | None] = [n.run if n is not None else None for n in nodes]

    async def run(self, inputs: Tensors) -> dict[str, np.ndarray]:
        """The pipeline's outputs for validated ``inputs``."""
        with ExitStack() as stack:
            runners = list(self._runs)
            for index, pin in enumerate(self._pins):
                if pin is not None:
                    try:
                        runners[index] = pin(stack)
                    except ServingError as error:
                        raise NodeFailed(self.steps[index].name, error) from error
            return await _Run(self, runners).execute(inputs)


class _Run:
    """The state of one request: results per instance, demultiplexer counts, arrivals."""

    __slots__ = ("answer", "arrived", "counts", "ex", "expected", "ready", "results", "runners", "running")

    def __init__(self, ex: Executor, runners: list[RunFn | None]) -> None:
        self.ex = ex
        self.runners = runners
        self.results: dict[Instance, Tensors] = {}
        self.counts: dict[Instance, int] = {}
        self.arrived: dict[Instance, int] = {}
        self.expected: dict[Instance, int] = {}
        self.ready: list[Instance] = []
        self.running: dict[asyncio.Task[dict[str, np.ndarray]], Instance] = {}
        self.answer: dict[str, np.ndarray] | None = None

    async def execute(self, inputs: Tensors) -> dict[str, np.ndarray]:
        self.ready.extend((root, ()) for root in self.ex.roots)
        self.finish(REQUEST_INDEX, (), inputs)
        try:
            while self.answer is None:
                if len(self.ready) == 1 and not self.running:
                    index, key = self.ready.pop()
                    self.finish(index, key, await self.call(index, key))
                    continue
                for instance in self.ready:
                    self.running[asyncio.ensure_future(self.call(*instance))] = instance
                self.ready.clear()
                if not self.running:  # cannot happen in a validated graph
                    raise InternalError("pipeline stalled: no node can run and no answer")
                done, _ = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    index, key = self.running.pop(task)
                    self.finish(index, key, task.result())
            return self.answer
        finally:
            if self.running:
                await _cancel(self.running)

    async def call(self, index: int, key: Key) -> dict[str, np.ndarray]:
        step = self.ex.steps[index]
        inputs = self.inputs(step, key)
        runner = self.runners[index]
        assert runner is not None
        try:
            outputs = await runner(inputs)
        except ServingError as error:
            raise NodeFailed(step.name, error) from error
        except Exception as error:  # a node's bug: the client reads a generic text, the log the cause
            log.error("pipeline node %s failed", step.name, exc_info=error)
            raise NodeFailed(step.name, InternalError("Internal server error")) from error
        for name in step.kept:
            if name not in outputs:
                raise PipelineExecutionFailed(MISSING_OUTPUT, f"node: {step.name}; output: {name}")
        return outputs

    def inputs(self, step: Step, key: Key) -> dict[str, np.ndarray]:
        if not step.gathered:
            results = self.results
            return {b.name: results[(b.source, key)][b.item] for b in step.bindings}
        keys, sizes = self.leaves(step, key)
        return {b.name: self.gather(step, b.source, b.item, keys, sizes) for b in step.bindings}

    def leaves(self, step: Step, key: Key) -> tuple[list[Key], list[int]]:
        """The keys of every gathered item under ``key``, in order, and the counts per level."""
        keys, sizes = [key], []
        for demultiplexer in step.gathered:
            counts = {self.counts[(demultiplexer, k)] for k in keys}
            if len(counts) != 1:
                name = self.ex.steps[demultiplexer].name
                raise PipelineExecutionFailed(
                    INCONSISTENT_SHARDS,
                    f"node: {step.name} gathers from {name}, whose runs gave {sorted(counts)} items",
                )
            size = counts.pop()
            sizes.append(size)
            keys = [(*k, i) for k in keys for i in range(size)]
        return keys, sizes

    def gather(self, step: Step, source: int, item: str, keys: list[Key], sizes: list[int]) -> np.ndarray:
        shards = [self.results[(source, k)][item] for k in keys]
        first = shards[0]
        for shard in shards:
            if shard.shape != first.shape or shard.dtype != first.dtype:
                raise PipelineExecutionFailed(
                    INCONSISTENT_SHARDS,
                    f"node: {step.name}; tensor: {item} of {self.ex.steps[source].name}; "
                    f"shapes {format_dims(first.shape)} and {format_dims(shard.shape)}",
                )
        return np.stack(shards).reshape((*sizes, *first.shape))

    def finish(self, index: int, key: Key, outputs: Tensors) -> None:
        """Store an instance's outputs (split into items by a demultiplexer) and pass them on."""
        ex = self.ex
        step = ex.steps[index]
        if step.demultiply is None:
            self.results[(index, key)] = outputs
            self.deliver(step, (key,))
            return
        items = split(step, outputs)
        count = len(items)
        self.counts[(index, key)] = count
        for gatherer in ex.gatherers.get(index, ()):
            instance = (gatherer, key[: len(ex.steps[gatherer].level)])
            base = ex.base[gatherer]
            self.expected[instance] = self.expected.get(instance, base) + (count - 1) * base
        keys = [(*key, i) for i in range(count)]
        for item_key, item in zip(keys, items, strict=True):
            self.results[(index, item_key)] = item
        self.deliver(step, keys)

    def deliver(self, step: Step, keys: Sequence[Key]) -> None:
        ex = self.ex
        for dependent in step.dependents:
            depth = len(ex.steps[dependent].level)
            for key in keys:
                instance = (dependent, key[:depth])
                arrived = self.arrived.get(instance, 0) + 1
                if arrived < self.expected.get(instance, ex.base[dependent]):
                    self.arrived[instance] = arrived
                elif dependent == ex.response:
                    self.answer = self.inputs(ex.steps[dependent], instance[1])
                else:
                    self.ready.append(instance)


def split(step: Step, outputs: Tensors) -> list[dict[str, np.ndarray]]:
    """A demultiplexer's outputs as items: views along the first dimension (OVMS's rules)."""
    kept = [(name, outputs[name]) for name in step.kept]
    count = kept[0][1].shape[0] if kept[0][1].ndim else 0
    for name, array in kept:
        where = f"node: {step.name}; output: {name}; shape: {format_dims(array.shape)}"
        if array.dtype == BYTES_DTYPE:
            raise PipelineExecutionFailed(STRING_DEMULTIPLY, where)
        if array.ndim < MIN_RANK:
            raise PipelineExecutionFailed(WRONG_RANK, f"{where}; at least {MIN_RANK} dimensions are needed")
        expected = count if step.demultiply == -1 else step.demultiply
        if array.shape[0] != expected:
            raise PipelineExecutionFailed(WRONG_COUNT, f"{where}; demultiply_count: {expected}")
    if count > DEMULTIPLY_LIMIT:
        raise PipelineExecutionFailed(
            TOO_MANY, f"node: {step.name} gave {count} items; at most {DEMULTIPLY_LIMIT}"
        )
    if count == 0:
        raise DemultiplexerNoResults(step.name)
    return [{name: array[i] for name, array in kept} for i in range(count)]


async def _cancel(running: Mapping[asyncio.Task[dict[str, np.ndarray]], Instance]) -> None:
    """Cancel every task still running and wait for all of them (their errors are dropped)."""
    tasks = list(running)
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: a second failure is not the request's answer
