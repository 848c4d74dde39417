"""The OpenVINO servable feeds the metrics through its hooks, and fits the registry's protocol."""

from __future__ import annotations

import asyncio
from pathlib import Path

import models
import numpy as np

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.config.types import MetricsConfig, ModelConfig
from ovserve.core.ids import ServableId
from ovserve.metrics import MetricsRegistry
from ovserve.metrics.registry import InstrumentedBackend


def test_openvino_servable_reports_timings_and_pool_use(tmp_path: Path) -> None:
    base = models.save(models.identity(np.float32, (1, 10)), tmp_path / "m")
    config = ModelConfig(name="m", base_path=str(base), nireq=2, plugin_config=models.F32)
    servable = OpenVINOEngine().loader(config, 1, base / "1").load()
    assert isinstance(servable, InstrumentedBackend)
    registry = MetricsRegistry.from_config(MetricsConfig(enable=True))
    registry.bind_backend(ServableId("m", 1), servable)
    series = registry.version(ServableId("m", 1))
    assert (series.nireq, series.infer_requests_in_use) == (2, 0)
    assert series.streams >= 1
    seen_in_use: list[int] = []

    async def go() -> None:
        x = np.arange(10, dtype=np.float32).reshape(1, 10)
        calls = [servable.infer({"in": x}) for _ in range(5)]
        tasks = [asyncio.ensure_future(c) for c in calls]
        await asyncio.sleep(0)  # every call has asked for an infer request
        seen_in_use.append(servable.infer_requests_in_use)
        for out in await asyncio.gather(*tasks):
            np.testing.assert_array_equal(out["out"], x)

    asyncio.run(go())
    assert seen_in_use == [2]
    assert series.infer_requests_in_use == 0
    assert series.inference_time.count == 5
    assert series.wait_time.count == 5
    assert series.inference_time.sum > 0
    registry.unbind_backend(series)
    assert servable.timing_observer is None
    servable.close()
