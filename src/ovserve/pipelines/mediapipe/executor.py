"""One request through a MediaPipe graph: packets flow from the inputs as MediaPipe's would.

Each packet has a timestamp: the request's inputs have the request's; a node's outputs
have its inputs' timestamp, and a generative Python node's later outputs the next ones.
A node runs once per timestamp at which all its input streams have a packet (MediaPipe's
default input policy), as a task of its own, so independent nodes run at once; one node
handles one timestamp at a time, in order, so every stream's packets stay in timestamp
order (MediaPipe's guarantee). The run
yields every packet that reaches a graph output stream, as it arrives; a node's failure
ends the run with an error naming the node, and leaving the run early (or cancelling it)
cancels every node still running. Nothing is kept between requests.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

import numpy as np

from ovserve.errors import GraphExecutionFailed, InternalError, ServingError
from ovserve.pipelines.mediapipe.build import GraphDefinition


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet on a graph output stream."""

    stream: str
    timestamp: int
    data: np.ndarray


_END = object()


class _Run:
    """The state of one request: packets by timestamp, the nodes started, the output queue."""

    def __init__(self, graph: GraphDefinition) -> None:
        self.graph = graph
        self.packets: defaultdict[int, dict[str, np.ndarray]] = defaultdict(dict)
        self.started: set[tuple[int, int]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        #: a node processes one timestamp at a time, in order (MediaPipe): its outputs stay in order
        self.turns = [asyncio.Lock() for _ in graph.calculators]

    def feed(self, timestamp: int, stream: str, data: np.ndarray) -> None:
        have = self.packets[timestamp]
        have[stream] = data
        if stream in self.graph.outputs:
            self.queue.put_nowait(Packet(stream, timestamp, data))
        for index in self.graph.consumers.get(stream, ()):
            calculator = self.graph.calculators[index]
            if (index, timestamp) in self.started or not all(s.name in have for s in calculator.inputs):
                continue
            self.started.add((index, timestamp))
            inputs = {s.name: have[s.name] for s in calculator.inputs}
            task = asyncio.create_task(self._node(index, timestamp, inputs))
            self.tasks.add(task)
            task.add_done_callback(self._done)

    async def _node(self, index: int, timestamp: int, inputs: Mapping[str, np.ndarray]) -> None:
        calculator = self.graph.calculators[index]
        step = 0
        try:
            async with self.turns[index]:  # FIFO: the tasks of a node were made in timestamp order
                async for outputs in calculator.process(inputs):
                    for stream, data in outputs.items():
                        self.feed(timestamp + step, stream, data)
                    step += 1
        except ServingError as error:
            raise GraphExecutionFailed(calculator.name, error) from None
        except Exception as exc:
            raise GraphExecutionFailed(
                calculator.name, InternalError(f"{type(exc).__name__}: {exc}")
            ) from None

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.queue.put_nowait(error)
        elif not self.tasks:
            self.queue.put_nowait(_END)

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()


async def run_graph(
    graph: GraphDefinition, inputs: Mapping[str, np.ndarray], timestamp: int = 0
) -> AsyncGenerator[Packet, None]:
    """Every packet on ``graph``'s output streams for ``inputs`` (at ``timestamp``), as it comes."""
    run = _Run(graph)
    try:
        for stream, data in inputs.items():
            run.feed(timestamp, stream, data)
        if not run.tasks:
            run.queue.put_nowait(_END)
        while (item := await run.queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Packet)
            yield item
    finally:
        run.cancel()
