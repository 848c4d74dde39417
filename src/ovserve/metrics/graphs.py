"""Series of MediaPipe graphs on the KServe API, as OVMS names them.

OVMS counts a graph's inference calls per ``method`` / ``interface`` (``ModelInfer`` on
gRPC and REST, ``ModelInferStream`` on gRPC) without a version label:
``ovms_requests_accepted`` (the graph started on the request), ``ovms_requests_rejected``
(refused before it started: inputs that do not fit the graph), ``ovms_graph_error`` (a
node failed), ``ovms_responses`` (each answer, every packet of a stream) and the gauge
``ovms_current_graphs`` (requests in the graph now); the histograms
``ovms_graph_processing_time_us`` (a request's time in the graph, by method) and
``ovms_graph_request_latency_us`` (stream: from the request to each answer).

The graph servable records into its :class:`GraphMetrics`; which call it serves comes
from :data:`GRAPH_CALL`, which the request path sets (a context variable: the servable's
``infer`` keeps the one signature every servable has). Recorded on the event loop only.
"""

from __future__ import annotations

from contextvars import ContextVar

from ovserve.metrics.families import LATENCY_BUCKETS_US

#: (interface, method) of each counted call, in series order
GRAPH_CALLS: tuple[tuple[str, str], ...] = (
    ("gRPC", "ModelInfer"),
    ("gRPC", "ModelInferStream"),
    ("REST", "ModelInfer"),
)
#: the index into :data:`GRAPH_CALLS` of the call being served (set by the request path)
GRAPH_CALL: ContextVar[int] = ContextVar("GRAPH_CALL", default=0)
#: the processing-time histograms: ModelInfer (unary, both interfaces), ModelInferStream
GRAPH_METHODS: tuple[str, ...] = ("ModelInfer", "ModelInferStream")


_INDEX = {call: index for index, call in enumerate(GRAPH_CALLS)}


def graph_call_index(interface: str, method: str) -> int:
    """The index of a KServe inference call in :data:`GRAPH_CALLS` (0 for any other call)."""
    return _INDEX.get((interface, method), 0)


class GraphMetrics:
    """One graph's series (by name)."""

    __slots__ = (
        "accepted",
        "current",
        "errors",
        "labels",
        "latency",
        "name",
        "processing",
        "rejected",
        "responses",
    )

    def __init__(self, name: str, labels: str) -> None:
        from ovserve.metrics.registry import Histogram  # the registry imports this module

        self.name = name
        self.labels = labels
        self.accepted = [0] * len(GRAPH_CALLS)
        self.rejected = [0] * len(GRAPH_CALLS)
        self.errors = [0] * len(GRAPH_CALLS)
        self.responses = [0] * len(GRAPH_CALLS)
        self.current = 0
        self.processing = tuple(Histogram(LATENCY_BUCKETS_US) for _ in GRAPH_METHODS)
        self.latency = Histogram(LATENCY_BUCKETS_US)

    def call_labels(self, index: int) -> str:
        interface, method = GRAPH_CALLS[index]
        return f'api="KServe",interface="{interface}",method="{method}",{self.labels}'

    def method_labels(self, method: int) -> str:
        return f'method="{GRAPH_METHODS[method]}",{self.labels}'
