"""Every metric family ovserve can expose, declared once: name, type, labels, help, buckets.

The ``ovms_*`` families carry OpenVINO Model Server's names, types and label names, so
dashboards and alerts written for OVMS work unchanged. The ``ovserve_*`` families are
ovserve's own (the dynamic batcher's queue and batch sizes).

Label names are listed in the order they are written on the wire (alphabetical, as
OVMS writes them); ``le`` comes last on histogram buckets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


def _latency_buckets() -> tuple[int, ...]:
    """OVMS's latency bounds in µs: floor(10 · 1.8^i) for i = 0..32 (10 µs up to ~25 minutes)."""
    return tuple(math.floor(10 * 1.8**i) for i in range(33))


#: Upper bounds (µs) of every ``ovms_*_time_us`` histogram; +Inf is implied.
LATENCY_BUCKETS_US: tuple[int, ...] = _latency_buckets()
#: Upper bounds of the batch-size histogram (requests' items per executed batch); +Inf implied.
BATCH_SIZE_BUCKETS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class Family:
    """One metric family as it appears in ``# HELP`` / ``# TYPE`` lines."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    help: str
    buckets: tuple[int, ...] = ()


REQUESTS_SUCCESS = Family(
    "ovms_requests_success",
    "counter",
    ("api", "interface", "method", "name", "version"),
    "Calls on a model version that were answered without error.",
)
REQUESTS_FAIL = Family(
    "ovms_requests_fail",
    "counter",
    ("api", "interface", "method", "name", "version"),
    "Calls on a model version that were answered with an error.",
)
REQUEST_TIME = Family(
    "ovms_request_time_us",
    "histogram",
    ("interface", "name", "version"),
    "Time from receiving an inference call to having its answer ready, in microseconds.",
    LATENCY_BUCKETS_US,
)
INFERENCE_TIME = Family(
    "ovms_inference_time_us",
    "histogram",
    ("name", "version"),
    "Time OpenVINO spent running one inference, in microseconds.",
    LATENCY_BUCKETS_US,
)
WAIT_FOR_INFER_REQ_TIME = Family(
    "ovms_wait_for_infer_req_time_us",
    "histogram",
    ("name", "version"),
    "Time a call waited for a free OpenVINO infer request, in microseconds.",
    LATENCY_BUCKETS_US,
)
STREAMS = Family(
    "ovms_streams", "gauge", ("name", "version"), "OpenVINO execution streams of the compiled model."
)
CURRENT_REQUESTS = Family(
    "ovms_current_requests", "gauge", ("name", "version"), "Inference calls in progress on the model version."
)
INFER_REQ_QUEUE_SIZE = Family(
    "ovms_infer_req_queue_size", "gauge", ("name", "version"), "Size of the infer-request pool (nireq)."
)
INFER_REQ_ACTIVE = Family(
    "ovms_infer_req_active",
    "gauge",
    ("name", "version"),
    "Infer requests taken from the pool by calls (loading data or running).",
)
BATCH_QUEUE_LENGTH = Family(
    "ovserve_batch_queue_length",
    "gauge",
    ("name", "version"),
    "Requests waiting in the dynamic batcher's queue.",
)
BATCH_SIZE = Family(
    "ovserve_batch_size",
    "histogram",
    ("name", "version"),
    "Items (batch rows) per batch the dynamic batcher ran.",
    BATCH_SIZE_BUCKETS,
)

#: Every family, in the order they are written.
ALL_FAMILIES: tuple[Family, ...] = (
    REQUESTS_SUCCESS,
    REQUESTS_FAIL,
    REQUEST_TIME,
    INFERENCE_TIME,
    WAIT_FOR_INFER_REQ_TIME,
    STREAMS,
    CURRENT_REQUESTS,
    INFER_REQ_QUEUE_SIZE,
    INFER_REQ_ACTIVE,
    BATCH_QUEUE_LENGTH,
    BATCH_SIZE,
)
#: ovserve's own families: served with OVMS's default set (when no metrics list is given).
OVSERVE_FAMILIES: tuple[str, ...] = (BATCH_QUEUE_LENGTH.name, BATCH_SIZE.name)
