"""The Prometheus text exposition format (version 0.0.4), written at scrape time.

Only the registry's exposed families are written, each with its ``# HELP`` and
``# TYPE`` lines, and only when it has at least one series (OVMS shows a family once a
model version created series in it). Histograms are written as cumulative
``_bucket{...,le="..."}`` lines ending with ``le="+Inf"``, then ``_sum`` and ``_count``.
"""

from __future__ import annotations

from collections.abc import Iterator

from ovserve.metrics.calls import UNVERSIONED_CALLS, VERSIONED_CALLS
from ovserve.metrics.families import (
    ALL_FAMILIES,
    BATCH_QUEUE_LENGTH,
    BATCH_SIZE,
    CURRENT_GRAPHS,
    CURRENT_REQUESTS,
    GENERATED_TOKENS,
    GENERATIVE_FAMILIES,
    GRAPH_ERROR,
    GRAPH_FAMILIES,
    GRAPH_PROCESSING_TIME,
    GRAPH_REQUEST_LATENCY,
    INFER_REQ_ACTIVE,
    INFER_REQ_QUEUE_SIZE,
    INFERENCE_TIME,
    KV_CACHE_USAGE,
    PROMPT_TOKENS,
    REQUEST_TIME,
    REQUESTS_ACCEPTED,
    REQUESTS_FAIL,
    REQUESTS_REJECTED,
    REQUESTS_SUCCESS,
    RESPONSES,
    STREAMS,
    TIME_PER_OUTPUT_TOKEN,
    TIME_TO_FIRST_TOKEN,
    WAIT_FOR_INFER_REQ_TIME,
    Family,
)
from ovserve.metrics.generative import GenerativeMetrics
from ovserve.metrics.graphs import GraphMetrics
from ovserve.metrics.registry import Histogram, MetricsRegistry, VersionMetrics

#: the ``Content-Type`` of :func:`render`'s output
CONTENT_TYPE = b"text/plain; version=0.0.4"


def _histogram(name: str, labels: str, histogram: Histogram) -> Iterator[str]:
    cumulative = histogram.cumulative()
    for bound, total in zip(histogram.bounds, cumulative, strict=False):
        yield f'{name}_bucket{{{labels},le="{bound}"}} {total}'
    yield f'{name}_bucket{{{labels},le="+Inf"}} {cumulative[-1]}'
    yield f"{name}_sum{{{labels}}} {histogram.sum}"
    yield f"{name}_count{{{labels}}} {cumulative[-1]}"


def _samples(family: Family, registry: MetricsRegistry) -> Iterator[str]:
    name = family.name
    if family is REQUESTS_SUCCESS or family is REQUESTS_FAIL:
        success = family is REQUESTS_SUCCESS
        by_name: dict[str, list[VersionMetrics]] = {}
        for series in registry.versions():
            by_name.setdefault(series.id.name, []).append(series)
        for named in registry.names():
            counts = named.success if success else named.fail
            for call in UNVERSIONED_CALLS:
                yield f"{name}{{{call.labels},{named.labels}}} {counts[call.index]}"
            for series in by_name.get(named.name, ()):
                counts = series.success if success else series.fail
                for call in VERSIONED_CALLS:
                    yield f"{name}{{{call.labels},{series.labels}}} {counts[call.index]}"
        for generative in registry.generatives():
            yield from _per_call(name, generative, generative.success if success else generative.fail)
    elif family is REQUEST_TIME:
        for series in registry.versions():
            for interface, histogram in zip(("REST", "gRPC"), series.request_time, strict=True):
                yield from _histogram(name, f'interface="{interface}",{series.labels}', histogram)
    elif family is INFERENCE_TIME or family is WAIT_FOR_INFER_REQ_TIME:
        for series in _models(registry):
            histogram = series.inference_time if family is INFERENCE_TIME else series.wait_time
            yield from _histogram(name, series.labels, histogram)
    elif family in (STREAMS, CURRENT_REQUESTS, INFER_REQ_QUEUE_SIZE, INFER_REQ_ACTIVE):
        for series in _models(registry):
            if family is STREAMS:
                value = series.streams
            elif family is CURRENT_REQUESTS:
                value = series.current
            elif family is INFER_REQ_QUEUE_SIZE:
                value = series.nireq
            else:
                value = series.infer_requests_in_use
            yield f"{name}{{{series.labels}}} {value}"
    elif family is BATCH_QUEUE_LENGTH:
        for batcher in registry.batchers():
            yield f"{name}{{{batcher.labels}}} {batcher.current_queue_length()}"
    elif family is BATCH_SIZE:
        for batcher in registry.batchers():
            yield from _histogram(name, batcher.labels, batcher.batch_size)
    elif family in GENERATIVE_FAMILIES or family in GRAPH_FAMILIES:
        if family in GENERATIVE_FAMILIES:
            for generative in registry.generatives():
                yield from _generative(family, generative)
        if family in GRAPH_FAMILIES:
            for graph in registry.graphs():
                yield from _graph(family, graph)


def _models(registry: MetricsRegistry) -> Iterator[VersionMetrics]:
    """The series of model versions: pipelines have only the request counters and times (as OVMS)."""
    return (series for series in registry.versions() if not series.pipeline)


def _per_call(name: str, model: GenerativeMetrics, counts: list[int]) -> Iterator[str]:
    """A V3 counter: one line per method (Unary, Stream)."""
    for index, count in enumerate(counts):
        yield f"{name}{{{model.call_labels(index)}}} {count}"


def _generative(family: Family, model: GenerativeMetrics) -> Iterator[str]:
    """The lines of one generative model in one of :data:`GENERATIVE_FAMILIES`."""
    name, labels = family.name, model.labels
    if family is REQUESTS_ACCEPTED:
        yield from _per_call(name, model, model.accepted)
    elif family is REQUESTS_REJECTED:
        yield from _per_call(name, model, model.rejected)
    elif family is RESPONSES:
        yield from _per_call(name, model, model.responses)
    elif family is CURRENT_GRAPHS:
        yield f"{name}{{{labels}}} {model.current}"
    elif family is PROMPT_TOKENS:
        yield f"{name}{{{labels}}} {model.prompt_tokens}"
    elif family is GENERATED_TOKENS:
        yield f"{name}{{{labels}}} {model.generated_tokens}"
    elif family is TIME_TO_FIRST_TOKEN:
        yield from _histogram(name, labels, model.time_to_first_token)
    elif family is TIME_PER_OUTPUT_TOKEN:
        yield from _histogram(name, labels, model.time_per_output_token)
    elif family is KV_CACHE_USAGE and model.cache_usage is not None:
        yield f"{name}{{{labels}}} {model.cache_usage():.6g}"


def _graph(family: Family, graph: GraphMetrics) -> Iterator[str]:
    """The lines of one MediaPipe graph in one of :data:`GRAPH_FAMILIES`."""
    name = family.name
    counts = {
        REQUESTS_ACCEPTED: graph.accepted,
        REQUESTS_REJECTED: graph.rejected,
        RESPONSES: graph.responses,
        GRAPH_ERROR: graph.errors,
    }.get(family)
    if counts is not None:
        for index, count in enumerate(counts):
            yield f"{name}{{{graph.call_labels(index)}}} {count}"
    elif family is CURRENT_GRAPHS:
        yield f"{name}{{{graph.labels}}} {graph.current}"
    elif family is GRAPH_PROCESSING_TIME:
        for method, histogram in enumerate(graph.processing):
            yield from _histogram(name, graph.method_labels(method), histogram)
    elif family is GRAPH_REQUEST_LATENCY:
        yield from _histogram(name, graph.method_labels(1), graph.latency)


def render(registry: MetricsRegistry) -> bytes:
    """The registry's exposed families as Prometheus text."""
    lines: list[str] = []
    for family in ALL_FAMILIES:
        if family.name not in registry.families:
            continue
        samples = list(_samples(family, registry))
        if not samples:
            continue
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        lines += samples
    if not lines:
        return b""
    lines.append("")
    return "\n".join(lines).encode()
