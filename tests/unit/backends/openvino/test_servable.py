"""The servable's lifetime: a closed version frees its infer requests and compiled model."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path

import models
import numpy as np
import openvino as ov
import pytest

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.servable import OpenVINOServable
from ovserve.backends.openvino.waiters import Slot, Waiters
from ovserve.config.types import ModelConfig


def test_a_closed_servable_frees_its_infer_requests_and_compiled_model(tmp_path: Path) -> None:
    base = models.save(models.add_scaled(), tmp_path / "m")
    engine = OpenVINOEngine(inline_inference_us=0)  # every call runs on OpenVINO's threads
    config = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32, nireq=3)
    servable = engine.loader(config, 1, base / "1").load()
    x = np.arange(8, dtype=np.float32).reshape(2, 4)

    async def many(s: OpenVINOServable) -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(s.infer({"x": x + i}) for i in range(9)))

    for i, out in enumerate(asyncio.run(many(servable))):
        expected = models.reference(models.model_file(base), {"x": x + i})["y"]
        np.testing.assert_allclose(out["y"], expected, rtol=1e-6)
    requests = [weakref.ref(slot.request) for slot in servable._slots]
    compiled = weakref.ref(servable.compiled)
    assert len(requests) == 3

    servable.close()
    del servable
    gc.collect()
    # nothing (a waiter thread, a callback held by OpenVINO in C++ where the collector cannot
    # look) may keep a request alive: that leaked every unloaded version (weights and threads)
    assert [r() for r in requests] == [None, None, None]
    assert compiled() is None


def test_the_waiter_threads_start_with_the_servable_and_end_when_it_closes(tmp_path: Path) -> None:
    base = models.save(models.add_scaled(), tmp_path / "m")
    engine = OpenVINOEngine(inline_inference_us=0)
    config = ModelConfig(name="waited", base_path=str(base), plugin_config=models.F32, nireq=3)
    servable = engine.loader(config, 1, base / "1").load()

    def waiters() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("ov-wait-waited_")]

    assert len(waiters()) == 3  # all there before the first call (a soak must not see them appear)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)

    async def many() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(servable.infer({"x": x + i}) for i in range(12)))

    for i, out in enumerate(asyncio.run(many())):
        np.testing.assert_allclose(out["y"], (x + i) * 2 + 1, rtol=1e-6)
    assert len(waiters()) == 3
    threads = waiters()
    servable.close()
    for thread in threads:
        thread.join(60)
    assert waiters() == []


def test_closed_waiters_refuse_new_runs_instead_of_leaving_them_unanswered(tmp_path: Path) -> None:
    base = models.save(models.add_scaled(), tmp_path / "m")
    compiled = ov.Core().compile_model(str(models.model_file(base)), "CPU", models.F32)
    waiters = Waiters(2, "ov-wait-closed")
    slot = Slot(compiled.create_infer_request())

    async def run_one() -> None:
        slot.request.start_async()
        await asyncio.wait_for(waiters.watch(slot), 60)

    asyncio.run(run_one())
    assert slot.done_ns > 0
    waiters.close()
    with pytest.raises(RuntimeError, match="waiters have stopped"):
        asyncio.run(run_one())
    slot.request.wait()
