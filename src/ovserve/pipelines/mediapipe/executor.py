"""One request through a MediaPipe graph: packets flow from the inputs as MediaPipe's would.

Each packet has a timestamp: the request's inputs have the request's; a node's outputs
have its inputs' timestamp, and a generative Python node's later outputs the next ones.
A node runs once per timestamp at which all its input streams have a packet (MediaPipe's
default input policy), as a task of its own, so independent nodes run at once; one node
handles one timestamp at a time, in order, so every stream's packets stay in timestamp
order (MediaPipe's guarantee). The run
yields every packet that reaches a graph output stream, as it arrives; a node's failure
ends the run with an error naming the node, and leaving the run early (or cancelling it)
cancels every node still running and returns once they stopped. Nothing is kept between requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass

import numpy as np

from ovserve.errors import GraphExecutionFailed, InternalError, ServingError
from ovserve.pipelines.mediapipe.build import GraphDefinition

log = logging.getLogger(__name__)

#: what a node's unexpected failure (not a ServingError: a bug) tells the client, after the node's
#: name; the cause goes to the log. OVMS's calculators answer this text for an internal failure.
NODE_FAILED = "Error occurred during graph execution"


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet on a graph output stream."""

    stream: str
    timestamp: int
    data: np.ndarray


_END = object()
#: output packets a run holds for a reader that is not reading (a slow gRPC stream client): the
#: nodes wait beyond it, down to a Python node's generator, so memory stays bounded
QUEUED_PACKETS = 16


class _Run:
    """The state of one request: packets by timestamp, the nodes running, the output queue."""

    def __init__(self, graph: GraphDefinition, inputs: int) -> None:
        self.graph = graph
        self.packets: defaultdict[int, dict[str, np.ndarray]] = defaultdict(dict)
        self.started: set[tuple[int, int]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.running = 0
        # room for every input fed straight to an output by the reader itself, which must not wait
        self.queue: asyncio.Queue[object] = asyncio.Queue(QUEUED_PACKETS + inputs)
        #: a node processes one timestamp at a time, in order (MediaPipe): its outputs stay in order
        self.turns = [asyncio.Lock() for _ in graph.calculators]

    async def feed(self, timestamp: int, stream: str, data: np.ndarray) -> None:
        """A packet on ``stream``: to the reader if a graph output; starts every node it completes."""
        if stream in self.graph.outputs:
            await self.queue.put(Packet(stream, timestamp, data))
        have = self.packets[timestamp]
        have[stream] = data
        waiting = False
        for index in self.graph.consumers.get(stream, ()):
            calculator = self.graph.calculators[index]
            if not all(s.name in have for s in calculator.inputs):
                waiting = True  # another input of the node is still to come at this timestamp
                continue
            if (index, timestamp) not in self.started:
                self.started.add((index, timestamp))
                self._start(index, timestamp, {s.name: have[s.name] for s in calculator.inputs})
        if not waiting:  # no node will want the packet again: let it go
            del have[stream]
            if not have:
                del self.packets[timestamp]

    def _start(self, index: int, timestamp: int, inputs: Mapping[str, np.ndarray]) -> None:
        self.running += 1
        task = asyncio.create_task(self._node(index, timestamp, inputs))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _node(self, index: int, timestamp: int, inputs: Mapping[str, np.ndarray]) -> None:
        """Run one node on one timestamp's inputs; tell the reader of a failure or of the run's end."""
        calculator = self.graph.calculators[index]
        step = 0
        try:
            # the turn: FIFO, the tasks of a node were made in timestamp order; the node's generator
            # is closed at once when the task is cancelled while it feeds a packet on (not by the GC)
            async with self.turns[index], aclosing(calculator.process(inputs)) as steps:
                async for outputs in steps:
                    for stream, data in outputs.items():
                        await self.feed(timestamp + step, stream, data)
                    step += 1
        except ServingError as error:
            await self.queue.put(GraphExecutionFailed(calculator.name, error))
            return
        except Exception as exc:  # a node's bug: the client reads OVMS's text, the log the cause
            log.error("graph node %s failed", calculator.name, exc_info=exc)
            await self.queue.put(GraphExecutionFailed(calculator.name, InternalError(NODE_FAILED)))
            return
        self.running -= 1
        if self.running == 0:
            await self.queue.put(_END)

    async def stop(self) -> None:
        """Cancel every node still running and wait until each has stopped."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_graph(
    graph: GraphDefinition, inputs: Mapping[str, np.ndarray], timestamp: int = 0
) -> AsyncGenerator[Packet, None]:
    """Every packet on ``graph``'s output streams for ``inputs`` (at ``timestamp``), as it comes."""
    run = _Run(graph, len(inputs))
    try:
        for stream, data in inputs.items():
            await run.feed(timestamp, stream, data)
        if run.running == 0:
            run.queue.put_nowait(_END)
        while (item := await run.queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Packet)
            yield item
    finally:
        await run.stop()
