"""Series follow the manager's versions; counts land in the right series."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import numpy as np
from fakes import EchoServable, FakeLoader

from ovserve.config.types import MetricsConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
from ovserve.core.servable import Servable, WrapperServable
from ovserve.metrics import MetricsRegistry
from ovserve.metrics.calls import (
    KSERVE_GRPC_READY,
    KSERVE_REST_INFER,
    KSERVE_REST_METADATA,
    TFS_GRPC_PREDICT,
    TFS_REST_STATUS,
)
from ovserve.metrics.registry import Histogram

ALL = MetricsConfig(enable=True)


def stream(name: str, *versions: int, error: str | None = None) -> AspiredStream:
    return AspiredStream(
        tuple(AspiredVersion(v, FakeLoader(ServableId(name, v), error=error)) for v in versions)
    )


def test_histogram_buckets_are_upper_inclusive() -> None:
    h = Histogram((10, 18, 32))
    for value in (0, 10, 11, 18, 19, 32, 33, 10_000):
        h.observe(value)
    assert h.counts == [2, 2, 2, 2]
    assert h.cumulative() == [2, 4, 6, 8]
    assert (h.count, h.sum) == (8, 0 + 10 + 11 + 18 + 19 + 32 + 33 + 10_000)


def test_histogram_takes_several_observations_of_one_value_at_once() -> None:
    h = Histogram((10, 18, 32))
    h.observe(12, 3)  # e.g. three tokens that reached an answer together
    h.observe(40)
    assert h.counts == [0, 3, 0, 1] and (h.count, h.sum) == (4, 12 * 3 + 40)


def test_series_created_at_zero_for_each_version_and_kept_after_retire() -> None:
    async def go() -> MetricsRegistry:
        manager = ServableManager()
        registry = MetricsRegistry.from_config(ALL)
        registry.attach(manager)
        await manager.apply({"a": stream("a", 1, 2), "b": stream("b", 1)})
        assert [s.id for s in registry.versions()] == [("a", 1), ("a", 2), ("b", 1)]
        assert [n.name for n in registry.names()] == ["a", "b"]
        series = registry.version(ServableId("a", 1))
        assert sum(series.success) == sum(series.fail) == series.current == 0
        series.success[KSERVE_REST_INFER.index] += 5
        await manager.apply({"a": stream("a", 2)})  # version 1 retires
        await manager.apply({"a": stream("a", 1, 2)})  # and comes back
        return registry

    registry = asyncio.run(go())
    assert [s.id for s in registry.versions()] == [("a", 1), ("a", 2), ("b", 1)]
    assert registry.version(ServableId("a", 1)).success[KSERVE_REST_INFER.index] == 5


def test_failed_load_still_gets_series() -> None:
    async def go() -> MetricsRegistry:
        manager = ServableManager()
        registry = MetricsRegistry.from_config(ALL)
        registry.attach(manager)
        await manager.apply({"bad": stream("bad", 1, error="broken")})
        return registry

    assert [s.id for s in asyncio.run(go()).versions()] == [("bad", 1)]


def test_count_versioned_and_unversioned() -> None:
    registry = MetricsRegistry.from_config(ALL)
    registry.version(ServableId("m", 1))
    registry.count(KSERVE_REST_METADATA, "m", 1, ok=True)
    registry.count(KSERVE_REST_METADATA, "m", 1, ok=False)
    registry.count(TFS_REST_STATUS, "m", None, ok=True)
    registry.count(KSERVE_GRPC_READY, "m", 7, ok=False)  # unversioned: the version does not matter
    series = registry.version(ServableId("m", 1))
    assert series.success[KSERVE_REST_METADATA.index] == 1
    assert series.fail[KSERVE_REST_METADATA.index] == 1
    named = registry.names()[0]
    assert named.success[TFS_REST_STATUS.index] == 1
    assert named.fail[KSERVE_GRPC_READY.index] == 1


def test_unknown_names_and_versions_are_not_counted() -> None:
    registry = MetricsRegistry.from_config(ALL)
    registry.version(ServableId("m", 1))
    registry.count(TFS_GRPC_PREDICT, "nope", 1, ok=False)
    registry.count(TFS_GRPC_PREDICT, "m", 2, ok=False)
    registry.count(TFS_GRPC_PREDICT, "m", None, ok=False)
    registry.count(TFS_REST_STATUS, "nope", None, ok=False)
    assert [s.id for s in registry.versions()] == [("m", 1)]
    assert [n.name for n in registry.names()] == ["m"]
    assert sum(registry.version(ServableId("m", 1)).fail) == 0
    assert sum(registry.names()[0].fail) == 0


class FakeBackend:
    """Fits ``InstrumentedBackend``."""

    def __init__(self) -> None:
        self.nireq = 4
        self.timing_observer: Callable[[int, int], None] | None = None
        self.in_use = 0

    @property
    def streams(self) -> int:
        return 2

    @property
    def infer_requests_in_use(self) -> int:
        return self.in_use


def test_backend_binding() -> None:
    registry = MetricsRegistry.from_config(ALL)
    backend = FakeBackend()
    sid = ServableId("m", 1)
    registry.bind_backend(sid, backend)
    series = registry.version(sid)
    assert (series.nireq, series.streams, series.infer_requests_in_use) == (4, 2, 0)
    backend.in_use = 3
    assert series.infer_requests_in_use == 3
    assert backend.timing_observer is not None
    backend.timing_observer(2_500, 120_000)  # ns
    assert (series.wait_time.count, series.wait_time.sum) == (1, 2)
    assert (series.inference_time.count, series.inference_time.sum) == (1, 120)
    registry.unbind_backend(series)
    assert backend.timing_observer is None
    assert series.infer_requests_in_use == 0
    assert (series.nireq, series.streams) == (4, 2)  # the last known values stay


def test_backend_not_timed_when_no_timing_family_is_exposed() -> None:
    registry = MetricsRegistry.from_config(
        MetricsConfig(enable=True, metrics_list=("ovms_requests_success",))
    )
    backend = FakeBackend()
    registry.bind_backend(ServableId("m", 1), backend)
    assert backend.timing_observer is None


def test_batcher_api() -> None:
    registry = MetricsRegistry.from_config(ALL)
    batcher = registry.batcher(ServableId("m", 1))
    assert registry.batcher(ServableId("m", 1)) is batcher
    batcher.set_queue_length(3)
    assert batcher.current_queue_length() == 3
    batcher.queue_length_source = lambda: 7
    assert batcher.current_queue_length() == 7
    for size in (1, 3, 8):
        batcher.observe_batch(size)
    assert (batcher.batch_size.count, batcher.batch_size.sum) == (3, 12)


class InstrumentedEcho(EchoServable):
    """An echo servable with the backend's metrics surface."""

    nireq = 3
    streams = 2
    infer_requests_in_use = 1

    def __init__(self, sid: ServableId) -> None:
        super().__init__(sid)
        self.timing_observer: Callable[[int, int], None] | None = None


class Batcher(WrapperServable):
    """A wrapper servable (like the dynamic batcher) holding the backend as ``inner``."""

    def __init__(self, sid: ServableId) -> None:
        backend = InstrumentedEcho(sid)
        super().__init__(backend)
        self.inner: InstrumentedEcho = backend

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return await self.inner.run(inputs)


class ServableLoader:
    def __init__(self, servable: Servable) -> None:
        self.servable = servable

    def load(self) -> Servable:
        return self.servable


def test_attach_binds_the_backend_also_through_a_wrapper() -> None:
    direct, wrapped = InstrumentedEcho(ServableId("d", 1)), Batcher(ServableId("w", 1))

    async def go() -> MetricsRegistry:
        manager = ServableManager()
        registry = MetricsRegistry.from_config(ALL)
        registry.attach(manager)
        aspired = {
            "d": AspiredStream((AspiredVersion(1, ServableLoader(direct)),)),
            "w": AspiredStream((AspiredVersion(1, ServableLoader(wrapped)),)),
        }
        await manager.apply(aspired)
        for sid in (ServableId("d", 1), ServableId("w", 1)):
            series = registry.version(sid)
            assert (series.nireq, series.streams, series.infer_requests_in_use) == (3, 2, 1)
        assert direct.timing_observer is not None and wrapped.inner.timing_observer is not None
        await manager.apply({})  # both retire: the backends are released
        return registry

    registry = asyncio.run(go())
    assert direct.timing_observer is None and wrapped.inner.timing_observer is None
    assert registry.version(ServableId("d", 1)).infer_requests_in_use == 0
