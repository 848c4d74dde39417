"""Prometheus metrics: families declared once (``families``), the labels of counted calls
(``calls``), the registry the request path and backends write (``registry``) and the
text format ``/metrics`` answers with (``exposition``).

The registry is an object the composition root creates from ``MetricsConfig`` and hands
on; nothing here is global. This package imports only ``core`` and the leaf modules.
"""

from ovserve.metrics.calls import CallInfo
from ovserve.metrics.exposition import CONTENT_TYPE, render
from ovserve.metrics.families import ALL_FAMILIES, OVSERVE_FAMILIES, Family
from ovserve.metrics.registry import BatcherMetrics, MetricsRegistry, VersionMetrics

__all__ = [
    "ALL_FAMILIES",
    "CONTENT_TYPE",
    "OVSERVE_FAMILIES",
    "BatcherMetrics",
    "CallInfo",
    "Family",
    "MetricsRegistry",
    "VersionMetrics",
    "render",
]
