"""ModelStreamInfer on a MediaPipe graph, in-process through the gRPC servicer: a client that
cancels a stream mid-way stops every node and is counted once; a node failing mid-stream
answers with an error naming the node, and the stream serves its next request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

import numpy as np

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve.api.kserve.grpc import STREAM_WINDOW, KServeServicer
from ovserve.metrics.graphs import GRAPH_CALLS, GraphMetrics
from ovserve.pipelines.mediapipe.build import GraphDefinition
from ovserve.pipelines.mediapipe.executor import NODE_FAILED, QUEUED_PACKETS
from ovserve.pipelines.mediapipe.servable import GraphServable
from ovserve.pipelines.mediapipe.streams import Stream

from .fakes import make_context

STREAM_CALL = GRAPH_CALLS.index(("gRPC", "ModelInferStream"))


class Counting:
    """A generative node: yields ``in + k`` for k = 1, 2, ... until ``in`` steps (for ever when
    ``in`` is 0); fails with ValueError at step ``-in`` when ``in`` is negative. Records how many
    of its runs ended (closed or done) and every packet it yielded."""

    def __init__(self) -> None:
        self.name = "counter"
        self.generative = True
        self.inputs = (Stream("", 0, "in"),)
        self.outputs = (Stream("", 0, "out"),)
        self.yielded = 0
        self.ended = 0

    async def process(self, packets: Mapping[str, np.ndarray]) -> AsyncGenerator[dict[str, np.ndarray], None]:
        start = int(packets["in"][0])
        try:
            k = 1
            while start == 0 or k <= abs(start):
                if start < 0 and k == -start:
                    raise ValueError(f"broken at step {k}")
                self.yielded += 1
                yield {"out": np.array([start + k], dtype=np.float32)}
                k += 1
        finally:
            self.ended += 1

    def close(self) -> None:
        """Nothing to free."""


def graph() -> tuple[GraphServable, Counting, GraphMetrics]:
    node = Counting()
    definition = GraphDefinition(inputs={"in": node.inputs[0]}, outputs={"out": node.outputs[0]})
    definition.calculators = [node]
    definition.consumers = {"in": [0]}
    metrics = GraphMetrics("g", 'name="g"')
    return GraphServable("g", definition, metrics), node, metrics


def request(value: float, request_id: str) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(name="in", datatype="FP32", shape=[1])
    tensor.contents.fp32_contents.append(value)
    return pb.ModelInferRequest(model_name="g", id=request_id, inputs=[tensor])


def value(reply: pb.ModelStreamInferResponse) -> float:
    return float(np.frombuffer(reply.infer_response.raw_output_contents[0], dtype=np.float32)[0])


async def client(requests: asyncio.Queue[pb.ModelInferRequest | None]) -> AsyncIterator[pb.ModelInferRequest]:
    """The client's side of the stream: what is put on ``requests``, until None (the client closes)."""
    while (item := await requests.get()) is not None:
        yield item


def test_a_client_that_cancels_mid_stream_stops_every_node_and_is_counted_once() -> None:
    async def scenario() -> None:
        servable, node, metrics = graph()
        servicer = KServeServicer(await make_context(servable))
        requests: asyncio.Queue[pb.ModelInferRequest | None] = asyncio.Queue()
        await requests.put(request(0, "endless"))  # the node would yield for ever; the stream stays open
        replies: asyncio.Queue[pb.ModelStreamInferResponse] = asyncio.Queue(1)  # a client reading slowly

        call = servicer.ModelStreamInfer(client(requests), None)

        async def read() -> None:
            async for reply in call:
                await replies.put(reply)

        reader = asyncio.create_task(read())
        got = [value(await replies.get()) for _ in range(3)]
        assert got == [1.0, 2.0, 3.0]
        reader.cancel()  # what grpc does to the call's task when the client cancels it
        await asyncio.gather(reader, return_exceptions=True)
        await call.aclose()  # and the handler is closed (by grpc, or by the loop once it is dropped)
        # the call returned: the node's generator was closed, nothing of the request still runs
        assert node.ended == 1
        # held back by the slow client (the stream's and the graph's queues), then stopped
        # (the client's 3 + 2 in hand, the request's replies, the run's packets, one in each hand-over)
        assert node.yielded <= 3 + 2 + STREAM_WINDOW + QUEUED_PACKETS + 4
        assert metrics.current == 0
        assert metrics.accepted[STREAM_CALL] == 1 and metrics.errors[STREAM_CALL] == 0
        assert metrics.rejected[STREAM_CALL] == 0
        assert metrics.processing[1].count == 1  # the request's time in the graph, observed once
        assert 3 <= metrics.responses[STREAM_CALL] <= node.yielded  # the packets that left the graph
        yielded = node.yielded
        for _ in range(50):  # the loop turns: nothing left running yields again
            await asyncio.sleep(0)
        assert node.yielded == yielded

    asyncio.run(scenario())


def test_a_node_failing_mid_stream_answers_its_error_and_the_stream_goes_on() -> None:
    async def scenario() -> list[pb.ModelStreamInferResponse]:
        servable, node, metrics = graph()
        servicer = KServeServicer(await make_context(servable))
        requests: asyncio.Queue[pb.ModelInferRequest | None] = asyncio.Queue()
        for item in (request(-3, "fails"), request(2, "next"), None):
            await requests.put(item)
        replies = [reply async for reply in servicer.ModelStreamInfer(client(requests), None)]
        assert node.ended == 2 and metrics.current == 0
        assert metrics.accepted[STREAM_CALL] == 2 and metrics.errors[STREAM_CALL] == 1
        assert metrics.responses[STREAM_CALL] == 2 + 2
        return replies

    replies = asyncio.run(scenario())
    assert [(r.infer_response.id, r.error_message == "") for r in replies] == [
        ("fails", True),  # -3 + 1
        ("fails", True),  # -3 + 2
        ("fails", False),  # step 3 raised
        ("next", True),
        ("next", True),
    ]
    assert [value(r) for r in replies if not r.error_message] == [-2.0, -1.0, 3.0, 4.0]
    error = replies[2].error_message
    # a calculator's bug: OVMS's text for the client (the cause is in the log)
    assert error == f"Mediapipe execution failed. MP status - node counter: {NODE_FAILED}", error
