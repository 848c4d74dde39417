"""Series of generative models (the OpenAI "V3" API), as OVMS names them for its MediaPipe graphs.

OVMS serves generative models as MediaPipe graphs and counts their calls with
``api="V3"`` and ``method="Unary"`` or ``"Stream"``, without a version label:
``ovms_requests_success`` / ``ovms_requests_fail``, ``ovms_requests_accepted``,
``ovms_requests_rejected``, ``ovms_responses`` (every answer, each streamed chunk too) and
``ovms_current_graphs`` (requests in progress). OVMS has no token metrics; ovserve adds
``ovserve_prompt_tokens`` and ``ovserve_generated_tokens`` (counters),
``ovserve_time_to_first_token_us`` and ``ovserve_time_per_output_token_us`` (histograms
with OVMS's latency buckets) and ``ovserve_kv_cache_usage_percent`` (read from the
pipeline at scrape time).

Recorded on the event loop only (the OpenAI front end), like every other series; written
at scrape time by :mod:`ovserve.metrics.exposition`, with the other families.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ovserve.metrics.families import LATENCY_BUCKETS_US

V3_METHODS: tuple[str, ...] = ("Unary", "Stream")
Method = Literal["Unary", "Stream"]


class GenerativeMetrics:
    """One generative model's series (by name). ``index`` 0 is Unary, 1 is Stream."""

    __slots__ = (
        "accepted",
        "cache_usage",
        "current",
        "fail",
        "generated_tokens",
        "labels",
        "name",
        "prompt_tokens",
        "rejected",
        "responses",
        "success",
        "time_per_output_token",
        "time_to_first_token",
    )

    def __init__(self, name: str, labels: str) -> None:
        from ovserve.metrics.registry import Histogram  # the registry imports this module

        self.name = name
        self.labels = labels
        self.accepted = [0, 0]
        self.rejected = [0, 0]
        self.responses = [0, 0]
        self.success = [0, 0]
        self.fail = [0, 0]
        self.current = 0
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self.time_to_first_token = Histogram(LATENCY_BUCKETS_US)
        self.time_per_output_token = Histogram(LATENCY_BUCKETS_US)
        #: the model's KV cache use in percent, read at scrape time (None: not a text generation model)
        self.cache_usage: Callable[[], float] | None = None

    @staticmethod
    def index(method: Method) -> int:
        return V3_METHODS.index(method)

    def call_labels(self, index: int) -> str:
        return f'api="V3",interface="REST",method="{V3_METHODS[index]}",{self.labels}'
