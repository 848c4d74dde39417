"""Spans of inferences with the OpenTelemetry SDK's in-memory exporter: names, parent from a W3C
traceparent (REST header), attributes, the queue/inference split from the backend's timing hook,
errors, and the sampler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode

from ovserve.api import backend_timing, request_path, tracing
from ovserve.api.context import ServingContext
from ovserve.api.http import RestApp, Router
from ovserve.api.kserve import triton
from ovserve.api.kserve.rest import add_routes
from ovserve.api.tfs.wording import tfs_wording
from ovserve.config.types import BatchingConfig
from ovserve.core.servable import Servable
from ovserve.errors import EmptyBinaryItem
from ovserve.metrics import calls
from ovserve.preprocess import ConvertingServable, StringConversion
from ovserve.scheduling import BatchingServable
from ovserve.tensors import InferRequest

from .kserve.fakes import EchoServable, make_context, spec

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class TimedEcho(EchoServable):
    """An echo servable with the OpenVINO backend's timing hook (reports fixed wait/run times)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, [spec("x", "FP32", -1, 2)])
        self.timing_observer: Callable[[int, int], None] | None = None

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        await asyncio.sleep(0.002)  # the run must be longer than the reported wait + infer
        if self.timing_observer is not None:
            self.timing_observer(1_000, 2_000)
        return await super().run(inputs)


def traced(ctx: ServingContext, sampler: Any = None) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ctx.tracer = tracing.RequestTracer(provider.get_tracer("test"))
    backend_timing.attach(ctx.manager)
    return exporter


async def post(ctx: ServingContext, path: str, body: Any, headers: Mapping[str, str]) -> int:
    router = Router()
    add_routes(router, ctx)
    app = RestApp(router, max_body=1 << 20, trace=True)
    raw = orjson.dumps(body)
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "query_string": b"",
    }
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


BODY = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}


def test_spans_of_an_inference_follow_the_callers_traceparent() -> None:
    async def scenario() -> InMemorySpanExporter:
        servable = TimedEcho("m")
        ctx = await make_context()
        exporter = traced(ctx)
        await ctx.manager.apply(_aspired(servable))  # loaded after attach: its hook is wrapped
        headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        assert await post(ctx, "/v2/models/m/infer", BODY, headers) == 200
        return exporter

    spans = {s.name: s for s in asyncio.run(scenario()).get_finished_spans()}
    assert set(spans) == {"infer m", "decode", "queue", "inference", "encode"}
    root = spans["infer m"]
    assert root.kind == SpanKind.SERVER
    assert format(root.context.trace_id, "032x") == TRACE_ID
    assert root.parent is not None and format(root.parent.span_id, "016x") == PARENT_ID
    assert dict(root.attributes or {}) == {
        "ovserve.model.name": "m",
        "ovserve.model.version": 1,
        "ovserve.api": "KServe",
        "ovserve.interface": "REST",
    }
    for name in ("decode", "queue", "inference", "encode"):
        span = spans[name]
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert root.start_time <= span.start_time <= span.end_time <= root.end_time  # type: ignore[operator]
    assert spans["queue"].end_time - spans["queue"].start_time == 1_000  # type: ignore[operator]
    assert spans["queue"].end_time == spans["inference"].start_time
    assert spans["decode"].end_time == spans["queue"].start_time


def _aspired(servable: EchoServable) -> Any:
    from ovserve.core.manager import AspiredStream, AspiredVersion

    from .kserve.fakes import FixedLoader

    return {servable.name: AspiredStream((AspiredVersion(servable.version, FixedLoader(servable)),))}


def test_failed_inference_is_an_error_span_and_no_traceparent_starts_a_trace() -> None:
    async def scenario() -> InMemorySpanExporter:
        ctx = await make_context(EchoServable("m", [spec("x", "FP32", -1, 2)]))
        exporter = traced(ctx)
        bad = {"inputs": [{"name": "nope", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}
        assert await post(ctx, "/v2/models/m/infer", bad, {}) == 400
        assert await post(ctx, "/v2/models/m/infer", BODY, {"traceparent": "garbage"}) == 200
        return exporter

    spans = asyncio.run(scenario()).get_finished_spans()
    failed = next(s for s in spans if s.status.status_code == StatusCode.ERROR)
    assert failed.name == "infer m" and failed.parent is None
    assert "nope" in str((failed.attributes or {})["ovserve.error"])
    ok = [s for s in spans if s.name == "infer m" and s is not failed]
    assert len(ok) == 1 and ok[0].parent is None  # a bad traceparent starts a new trace
    names = {s.name for s in spans}
    assert "queue" not in names and "inference" in names  # no timing hook: no queue span


@pytest.mark.parametrize(("ratio", "expected"), [(0.0, 0), (1.0, 5)])
def test_sample_ratio(ratio: float, expected: int) -> None:
    async def scenario() -> InMemorySpanExporter:
        ctx = await make_context(EchoServable("m", [spec("x", "FP32", -1, 2)]))
        exporter = traced(ctx, ParentBased(TraceIdRatioBased(ratio)))
        for _ in range(5):
            assert await post(ctx, "/v2/models/m/infer", BODY, {}) == 200
        return exporter

    roots = [s for s in asyncio.run(scenario()).get_finished_spans() if s.name == "infer m"]
    assert len(roots) == expected


def test_a_sampled_parent_is_followed_at_ratio_zero() -> None:
    async def scenario() -> InMemorySpanExporter:
        ctx = await make_context(EchoServable("m", [spec("x", "FP32", -1, 2)]))
        exporter = traced(ctx, ParentBased(TraceIdRatioBased(0.0)))
        headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        assert await post(ctx, "/v2/models/m/infer", BODY, headers) == 200
        return exporter

    assert [s.name for s in asyncio.run(scenario()).get_finished_spans()][-1] == "infer m"


def test_statistics_split_queue_from_the_backend_hook_with_tracing_off() -> None:
    async def scenario() -> dict[str, Any]:
        servable = TimedEcho("m")
        ctx = await make_context()
        backend_timing.attach(ctx.manager)
        await ctx.manager.apply(_aspired(servable))
        assert ctx.tracer is None
        for _ in range(2):
            assert await post(ctx, "/v2/models/m/infer", BODY, {}) == 200
        return triton.statistics(ctx, "m", None)["model_stats"][0]["inference_stats"]

    stats = asyncio.run(scenario())
    assert stats["queue"] == {"count": 2, "ns": 2_000}  # 1 µs reported wait per request
    assert stats["compute_infer"]["count"] == 2 and stats["compute_infer"]["ns"] > 0


def converting(servable: Servable) -> Servable:
    return ConvertingServable(servable, StringConversion(servable.inputs, servable.outputs))


def batched(servable: Servable) -> Servable:
    return BatchingServable(servable, BatchingConfig(4))


@pytest.mark.parametrize(("wrap", "queue_ns"), [(converting, 2_000), (batched, 0)])
def test_the_backend_hook_is_found_through_wrappers_that_run_it_on_the_request_task(
    wrap: Callable[[Servable], Servable], queue_ns: int
) -> None:
    """Conversion runs the backend on the request's task: its wait is the request's; a batch
    runs in a task of its own, so its wait is no single request's (left in compute_infer)."""

    async def scenario() -> dict[str, Any]:
        ctx = await make_context()
        backend_timing.attach(ctx.manager)
        servable = wrap(TimedEcho("m"))
        await ctx.manager.apply(_aspired(servable))
        for _ in range(2):
            assert await post(ctx, "/v2/models/m/infer", BODY, {}) == 200
        return triton.statistics(ctx, "m", None)["model_stats"][0]["inference_stats"]

    assert asyncio.run(scenario())["queue"] == {"count": 2, "ns": queue_ns}


class EmptyImage(EchoServable):
    """Refuses every call as the image conversion refuses an empty item."""

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise EmptyBinaryItem("item 0 of input x has no bytes")


@pytest.mark.parametrize(
    ("wording", "text"), [(None, "Bytes contents is empty"), (tfs_wording, "String val is empty")]
)
def test_the_front_ends_wording_is_what_the_client_gets_and_the_trace_shows(
    wording: request_path.Wording | None, text: str
) -> None:
    async def scenario() -> tuple[str, InMemorySpanExporter]:
        ctx = await make_context(EmptyImage("m", [spec("x", "FP32", -1, 2)]))
        exporter = traced(ctx)
        inputs = {"x": np.ones((1, 2), np.float32)}
        with pytest.raises(EmptyBinaryItem) as caught:
            await request_path.infer(
                ctx, calls.TFS_REST_PREDICT, "m", None, lambda _: InferRequest(inputs), _never, wording
            )
        return caught.value.message, exporter

    message, exporter = asyncio.run(scenario())
    assert message == f"{text} - item 0 of input x has no bytes"
    (root,) = [s for s in exporter.get_finished_spans() if s.name == "infer m"]
    assert root.status.description == message


def _never(*_: object) -> None:
    raise AssertionError("a failed call is not encoded")
