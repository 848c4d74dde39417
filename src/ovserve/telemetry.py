"""The OpenTelemetry SDK set-up for ``--tracing_enable`` (imported only then; docs/observability.md).

Flags win over the SDK's environment variables; what a flag leaves unset the SDK reads as usual:
``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` / ``_PROTOCOL`` / ``_HEADERS`` / ``_TIMEOUT``,
``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_SERVICE_NAME`` (default here:
``ovserve``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*`` (the batch span processor).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from ovserve import __version__
from ovserve.config.types import TracingConfig


def protocol_of(config: TracingConfig, env: Mapping[str, str]) -> str:
    return (
        config.protocol
        or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )


def exporter(config: TracingConfig, env: Mapping[str, str]) -> SpanExporter:
    """The OTLP span exporter: over gRPC or HTTP (protobuf), to the flag's endpoint or the SDK's."""
    if protocol_of(config, env) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=config.endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=config.endpoint)


def tracer_provider(config: TracingConfig, worker: int | None = None) -> TracerProvider:
    """A provider that batches spans to the OTLP exporter; shut it down to flush at exit."""
    env = os.environ
    attributes: dict[str, str | int] = {
        "service.name": env.get("OTEL_SERVICE_NAME") or "ovserve",
        "service.version": __version__,
    }
    if worker is not None:
        attributes["service.instance.worker"] = worker
    sampler = ParentBased(TraceIdRatioBased(config.sample_ratio)) if config.sample_ratio is not None else None
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(exporter(config, env)))
    return provider
