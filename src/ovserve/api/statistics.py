"""Per-version inference statistics in the shape of Triton's statistics extension.

Always on, as in Triton: the request path takes four ``perf_counter_ns`` stamps per inference
(before decode, after decode, after inference, after encode) plus the backend's wait and adds
them here, with no lock (everything runs on the event loop): 2-3 µs a request measured with
timeit on the shared, loaded 2-core development machine (docs/observability.md), against ~300 µs
of server CPU for the smallest model's request. Served by
``GET /v2/models/{m}[/versions/{v}]/stats`` and gRPC ``ModelStatistics``
(:mod:`ovserve.api.kserve.triton`).

What the fields mean here: ``success``/``fail`` count requests and their whole time in the
request path; ``compute_input`` is decoding the payload; ``queue`` the wait for a free infer
request, as the backend reports it (:mod:`ovserve.api.backend_timing`; 0 ns where it reports
none, such as a model behind the dynamic batcher, whose wait then stays in ``compute_infer``);
``compute_infer`` the rest of the model run (with string/image conversions); ``compute_output``
encoding. Every successful request counts once in each; ``inference_count`` and
``execution_count`` count them too (no batch statistics). perf_analyzer finds the version it
measured by the queue count.
"""

from __future__ import annotations

import time
from time import perf_counter_ns

from ovserve.core.ids import ServableId


class ModelStats:
    """The counters of one model version (nanoseconds, counts; milliseconds since the epoch)."""

    __slots__ = (
        "fail_count",
        "fail_ns",
        "infer_ns",
        "input_ns",
        "last_inference_ns",
        "output_ns",
        "queue_ns",
        "success_count",
        "success_ns",
    )

    def __init__(self) -> None:
        self.success_count = self.success_ns = 0
        self.fail_count = self.fail_ns = 0
        self.input_ns = self.infer_ns = self.output_ns = self.queue_ns = 0
        self.last_inference_ns = 0  # perf_counter_ns of the last success (0: none yet)

    @property
    def last_inference_ms(self) -> int:
        """Milliseconds since the epoch of the last success (0: none yet), converted when read."""
        if not self.last_inference_ns:
            return 0
        return (self.last_inference_ns + time.time_ns() - perf_counter_ns()) // 1_000_000


class StatsTable:
    """ModelStats per served version, created on first use and kept after the version retires."""

    __slots__ = ("_table",)

    def __init__(self) -> None:
        self._table: dict[ServableId, ModelStats] = {}

    def record(
        self, sid: ServableId, start: int, decoded: int, inferred: int, encoded: int, wait: int = -1
    ) -> None:
        """One successful request of ``sid``, from its four ``perf_counter_ns`` stamps and the backend's
        wait for a free infer request (-1: not reported; it then stays inside compute_infer)."""
        stats = self.of(sid)
        stats.success_count += 1
        stats.success_ns += encoded - start
        stats.input_ns += decoded - start
        if wait < 0 or wait > inferred - decoded:
            wait = 0
        stats.queue_ns += wait
        stats.infer_ns += inferred - decoded - wait
        stats.output_ns += encoded - inferred
        stats.last_inference_ns = encoded

    def record_failure(self, sid: ServableId, start: int, end: int) -> None:
        """One failed request of ``sid``, from ``start`` to ``end`` (``perf_counter_ns``)."""
        stats = self.of(sid)
        stats.fail_count += 1
        stats.fail_ns += end - start

    def of(self, sid: ServableId) -> ModelStats:
        stats = self._table.get(sid)
        if stats is None:
            stats = self._table[sid] = ModelStats()
        return stats

    def peek(self, sid: ServableId) -> ModelStats:
        """The counters of ``sid`` (all zero if it never ran), without keeping an entry."""
        return self._table.get(sid) or ModelStats()
