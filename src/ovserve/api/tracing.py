"""OpenTelemetry spans of inference requests (``--tracing_enable``; docs/observability.md).

Each inference becomes one SERVER span ``infer <model>`` (child of the caller's W3C
``traceparent``, from REST headers or gRPC metadata) with four children: ``decode``, ``queue``
(waiting for a free infer request), ``inference`` (OpenVINO running it) and ``encode``. Spans are
made after the request from the request path's timestamps, so tracing adds no await and no
per-stage call to the request path; with tracing off (``ctx.tracer is None``) the request path
does nothing but that check. The queue/inference split comes from the backend's timing hook
(:mod:`ovserve.api.backend_timing`); where a backend reports none (a model behind the dynamic batcher, whose batches
run in their own tasks) ``queue`` is left out and ``inference`` covers the whole run.
"""

from __future__ import annotations

import time
from time import perf_counter_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ovserve.api.trace_context import TRACE_HEADERS
from ovserve.core.servable import Servable
from ovserve.errors import ServingError
from ovserve.metrics.calls import CallInfo


class _HeaderGetter(Getter[Any]):
    """Reads W3C trace headers from REST (bytes names) or gRPC (str keys) carriers."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            value = carrier.get(key.encode())
        if value is None:
            return None
        return [value.decode("latin-1") if isinstance(value, bytes) else str(value)]

    def keys(self, carrier: Any) -> list[str]:
        return [k.decode("latin-1") if isinstance(k, bytes) else str(k) for k in carrier]


_GETTER = _HeaderGetter()


class RequestTracer:
    """Turns one request's timestamps into spans on ``tracer``."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self.propagator = TraceContextTextMapPropagator()

    def _root(self, servable: Servable, call: CallInfo, start_ns: int) -> trace.Span:
        headers = TRACE_HEADERS.get()
        parent = self.propagator.extract(headers, getter=_GETTER) if headers else otel_context.Context()
        return self.tracer.start_span(
            f"infer {servable.name}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            start_time=start_ns,
            attributes={
                "ovserve.model.name": servable.name,
                "ovserve.model.version": servable.version,
                "ovserve.api": call.api,
                "ovserve.interface": call.interface,
            },
        )

    def succeeded(
        self,
        servable: Servable,
        call: CallInfo,
        stamps: tuple[int, int, int, int],
        slot: list[int],
    ) -> None:
        """Spans of a request that succeeded; ``stamps``: perf_counter_ns at start, decoded, inferred, encoded."""
        shift = time.time_ns() - perf_counter_ns()  # perf_counter -> epoch nanoseconds
        start, decoded, inferred, encoded = (stamp + shift for stamp in stamps)
        root = self._root(servable, call, start)
        if not root.is_recording():  # not sampled: no children either (a fifth of the cost)
            root.end(end_time=encoded)
            return
        inside = trace.set_span_in_context(root)
        stages = [("decode", start, decoded)]
        wait, run = slot
        if wait >= 0 and run >= 0 and decoded + wait + run <= inferred:
            stages += [("queue", decoded, decoded + wait), ("inference", decoded + wait, inferred)]
        else:
            stages.append(("inference", decoded, inferred))
        stages.append(("encode", inferred, encoded))
        for name, begin, end in stages:
            self.tracer.start_span(name, context=inside, start_time=begin).end(end_time=end)
        root.end(end_time=encoded)

    def failed(self, servable: Servable, call: CallInfo, start_ns: int, error: BaseException) -> None:
        shift = time.time_ns() - perf_counter_ns()
        root = self._root(servable, call, start_ns + shift)
        message = error.message if isinstance(error, ServingError) else type(error).__name__
        root.set_status(trace.Status(trace.StatusCode.ERROR, message))
        root.set_attribute("ovserve.error", message)
        root.end()
