"""The metrics registry: plain counters and histograms, one object per model version.

Recording is meant to cost next to nothing on the request path: a series is a slotted
Python object whose counters are list items and ints; a histogram observation is one
``bisect`` and two additions. Nothing is formatted until ``/metrics`` is scraped
(:mod:`ovserve.metrics.exposition`).

Thread-safety: recording happens on the event loop thread (the request path, the
manager's listeners, the backend's completion handling on the loop), so updates are not
locked. Creating a series may also happen in a loader thread (:meth:`batcher` from a
batching hook factory) and takes a lock. The registry is created by the composition root
and handed to whoever records; there is no global registry.

Series of a model version are created at 0 when the version first appears in the
manager (as OVMS creates them when it creates the version's instance) and are kept
after the version retires, as OVMS keeps them; a version that loads again continues
its counts.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from ovserve.config.types import MetricsConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import ServableManager
from ovserve.core.states import State, VersionStatus
from ovserve.errors import ServingError
from ovserve.metrics.calls import INTERFACES, UNVERSIONED_CALLS, VERSIONED_CALLS, CallInfo
from ovserve.metrics.families import BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_US, OVSERVE_FAMILIES
from ovserve.metrics.generative import GenerativeMetrics
from ovserve.metrics.graphs import GraphMetrics


class Histogram:
    """Counts per bucket (non-cumulative; the last slot is +Inf) and the sum of observed values."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[int, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0

    def observe(self, value: int, times: int = 1) -> None:
        """``times`` observations of ``value``."""
        # bisect_left: the first bound >= value, i.e. the bucket "le" that takes it
        self.counts[bisect_left(self.bounds, value)] += times
        self.sum += value * times

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[int]:
        """Counts per bound as Prometheus writes them (each bucket includes the smaller ones)."""
        total = 0
        result = []
        for n in self.counts:
            total += n
            result.append(total)
        return result


@runtime_checkable
class InstrumentedBackend(Protocol):
    """What a servable offers for the backend metrics (``OpenVINOServable`` fits it).

    ``timing_observer`` is set by the registry and called once per inference with the
    nanoseconds spent waiting for a free infer request and running it.
    """

    nireq: int
    timing_observer: Callable[[int, int], None] | None

    @property
    def streams(self) -> int: ...

    @property
    def infer_requests_in_use(self) -> int: ...


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class NameMetrics:
    """Series of one model name that have no version label (GetModelStatus, ModelReady)."""

    __slots__ = ("fail", "labels", "name", "success")

    def __init__(self, name: str) -> None:
        self.name = name
        self.labels = f'name="{_escape(name)}"'
        self.success = [0] * len(UNVERSIONED_CALLS)
        self.fail = [0] * len(UNVERSIONED_CALLS)


class VersionMetrics:
    """Series of one model version. The request path writes ``success``/``fail`` (by
    :attr:`CallInfo.index`), ``request_time`` (by interface) and ``current``; the
    backend reports through :meth:`observe_backend`; gauges of the infer-request pool
    are read from the bound backend when scraped.
    """

    __slots__ = (
        "backend",
        "current",
        "fail",
        "id",
        "inference_time",
        "labels",
        "nireq",
        "pipeline",
        "request_time",
        "streams",
        "success",
        "wait_time",
    )

    def __init__(self, sid: ServableId) -> None:
        self.id = sid
        self.labels = f'name="{_escape(sid.name)}",version="{sid.version}"'
        self.success = [0] * len(VERSIONED_CALLS)
        self.fail = [0] * len(VERSIONED_CALLS)
        self.request_time = tuple(Histogram(LATENCY_BUCKETS_US) for _ in INTERFACES)
        self.current = 0
        self.inference_time = Histogram(LATENCY_BUCKETS_US)
        self.wait_time = Histogram(LATENCY_BUCKETS_US)
        self.streams = 0
        self.nireq = 0
        self.backend: InstrumentedBackend | None = None
        #: a pipeline's series: only the request counters and times (OVMS's DAG metrics)
        self.pipeline = False

    def observe_backend(self, wait_ns: int, infer_ns: int) -> None:
        """One inference: how long it waited for an infer request and how long it ran."""
        self.wait_time.observe(wait_ns // 1000)
        self.inference_time.observe(infer_ns // 1000)

    @property
    def infer_requests_in_use(self) -> int:
        backend = self.backend
        return backend.infer_requests_in_use if backend is not None else 0


class BatcherMetrics:
    """What the dynamic batcher of one model version reports.

    Call :meth:`set_queue_length` whenever the queue changes (or give
    ``queue_length_source``, read at scrape time) and :meth:`observe_batch` once per batch
    run; both take one int, so they fit ``scheduling.BatchingHooks`` as they are.
    """

    __slots__ = ("batch_size", "labels", "queue_length", "queue_length_source")

    def __init__(self, labels: str) -> None:
        self.labels = labels
        self.queue_length = 0
        self.queue_length_source: Callable[[], int] | None = None
        self.batch_size = Histogram(BATCH_SIZE_BUCKETS)

    def set_queue_length(self, length: int) -> None:
        self.queue_length = length

    def observe_batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def current_queue_length(self) -> int:
        source = self.queue_length_source
        return source() if source is not None else self.queue_length


class MetricsRegistry:
    """Every series of one server. ``families`` are the family names ``/metrics`` exposes."""

    def __init__(self, families: Iterable[str]) -> None:
        self.families = frozenset(families)
        self._versions: dict[ServableId, VersionMetrics] = {}
        self._names: dict[str, NameMetrics] = {}
        self._batchers: dict[ServableId, BatcherMetrics] = {}
        self._generative: dict[str, GenerativeMetrics] = {}
        self._graphs: dict[str, GraphMetrics] = {}
        self._creating = threading.Lock()
        # the backend timings are only taken when one of their families is exposed
        self._time_backend = bool(
            self.families & {"ovms_inference_time_us", "ovms_wait_for_infer_req_time_us"}
        )

    @classmethod
    def from_config(cls, config: MetricsConfig) -> MetricsRegistry:
        """The registry for ``config``: its families, plus ovserve's own when no list is given."""
        families = config.families()
        if not config.metrics_list:
            families += OVSERVE_FAMILIES
        return cls(families)

    # -- series ------------------------------------------------------------------------
    def version(self, sid: ServableId) -> VersionMetrics:
        """The series of ``sid``, created at 0 if it has none yet."""
        found = self._versions.get(sid)
        if found is None:
            with self._creating:
                found = self._versions.get(sid)
                if found is None:
                    found = self._versions[sid] = VersionMetrics(sid)
                    if sid.name not in self._names:
                        self._names[sid.name] = NameMetrics(sid.name)
        return found

    def versions(self) -> list[VersionMetrics]:
        with self._creating:
            return [v for _, v in sorted(self._versions.items())]

    def names(self) -> list[NameMetrics]:
        with self._creating:
            return [v for _, v in sorted(self._names.items())]

    def batchers(self) -> list[BatcherMetrics]:
        with self._creating:
            return [v for _, v in sorted(self._batchers.items())]

    def batcher(self, sid: ServableId) -> BatcherMetrics:
        """The batcher series of ``sid`` (created on first use; for the dynamic batcher)."""
        found = self._batchers.get(sid)
        if found is None:
            labels = self.version(sid).labels
            with self._creating:
                found = self._batchers.get(sid)
                if found is None:
                    found = self._batchers[sid] = BatcherMetrics(labels)
        return found

    def generative(self, name: str) -> GenerativeMetrics:
        """The V3 series of generative model ``name`` (created on its first request or load)."""
        found = self._generative.get(name)
        if found is None:
            with self._creating:
                found = self._generative.setdefault(name, GenerativeMetrics(name, f'name="{_escape(name)}"'))
        return found

    def graph(self, name: str) -> GraphMetrics:
        """The series of MediaPipe graph ``name`` (created at its load, at 0)."""
        found = self._graphs.get(name)
        if found is None:
            with self._creating:
                found = self._graphs.setdefault(name, GraphMetrics(name, f'name="{_escape(name)}"'))
        return found

    def graphs(self) -> list[GraphMetrics]:
        with self._creating:
            return [v for _, v in sorted(self._graphs.items())]

    def generatives(self) -> list[GenerativeMetrics]:
        with self._creating:
            return [v for _, v in sorted(self._generative.items())]

    # -- counting calls that are not inferences ------------------------------------------
    def count(self, call: CallInfo, name: str, version: int | None, ok: bool) -> None:
        """Count one call on ``name`` (and ``version`` for versioned calls).

        Calls on names or versions that have no series (unknown to the manager) are not
        counted, as in OVMS; neither are versioned calls whose version is not known.
        """
        if call.versioned:
            if version is None:
                return
            series: VersionMetrics | NameMetrics | None = self._versions.get(ServableId(name, version))
        else:
            series = self._names.get(name)
        if series is None:
            return
        if ok:
            series.success[call.index] += 1
        else:
            series.fail[call.index] += 1

    # -- model lifecycle -----------------------------------------------------------------
    def on_version_state(self, sid: ServableId, status: VersionStatus) -> None:
        """Manager listener: create the series of a new version; release a retired backend."""
        series = self.version(sid)
        if status.state in (State.UNLOADING, State.END):
            self.unbind_backend(series)

    def bind_backend(self, sid: ServableId, backend: InstrumentedBackend) -> None:
        """Read the pool gauges from ``backend`` and have it report its timings."""
        series = self.version(sid)
        series.backend = backend
        series.nireq = backend.nireq
        series.streams = backend.streams
        if self._time_backend:
            backend.timing_observer = series.observe_backend

    @staticmethod
    def unbind_backend(series: VersionMetrics) -> None:
        backend, series.backend = series.backend, None
        if backend is not None:
            backend.timing_observer = None

    def attach(self, manager: ServableManager) -> None:
        """Follow ``manager``: series for each version it knows, backend gauges while loaded.

        The gauges come from the servable's :attr:`~ovserve.core.servable.Servable.backend`
        (a wrapper such as the dynamic batcher answers with the backend it wraps).
        """

        def on_state(sid: ServableId, status: VersionStatus) -> None:
            self.on_version_state(sid, status)
            self.version(sid).pipeline = manager.is_pipeline(sid.name)
            if status.state is State.AVAILABLE:
                try:
                    with manager.acquire(sid.name, sid.version) as servable:
                        backend = servable.backend  # through the wrappers (the batcher, ...)
                        if isinstance(backend, InstrumentedBackend):
                            self.bind_backend(sid, backend)
                        task = getattr(servable, "task", None)
                        if task:  # a generative model: V3 series from its load on, cache use if any
                            series = self.generative(sid.name)
                            series.cache_usage = getattr(servable, "kv_cache_usage", None)
                except ServingError:  # pragma: no cover - AVAILABLE means it can be acquired
                    pass

        manager.subscribe(on_state)
