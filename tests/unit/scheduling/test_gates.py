"""The test-only gates: off without a directory; with one, loads and calls wait for the test."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
from fakes import FakeLoader
from gates import Gates

from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import Loader
from ovserve.scheduling.gates import GatedServable, with_test_gates

X = {"x": np.ones((1, 4), np.float32)}


def factory(config: ModelConfig, version: int, path: Path) -> Loader:
    return FakeLoader(ServableId(config.name, version))


def test_without_a_directory_nothing_changes() -> None:
    assert with_test_gates(factory, None) is factory
    assert with_test_gates(factory, "") is factory


def test_a_closed_load_gate_holds_the_load_until_opened(tmp_path: Path) -> None:
    gates = Gates(tmp_path)
    gated = with_test_gates(factory, str(tmp_path))
    loader = gated(ModelConfig(name="m", base_path="/nowhere"), 1, tmp_path)
    gates.close("load", "m")
    loaded: list[object] = []
    thread = threading.Thread(target=lambda: loaded.append(loader.load()))
    thread.start()
    gates.wait_held("load", "m")
    assert thread.is_alive() and not loaded
    gates.open("load", "m")
    thread.join(30)
    assert isinstance(loaded[0], GatedServable)
    assert gates.held("load", "m") == 1


def test_a_closed_infer_gate_holds_every_call_without_blocking_the_loop(tmp_path: Path) -> None:
    gates = Gates(tmp_path)
    servable = with_test_gates(factory, str(tmp_path))(
        ModelConfig(name="m", base_path="/x"), 1, tmp_path
    ).load()

    async def go() -> None:
        gates.close("infer", "m")
        calls = [asyncio.create_task(servable.infer(X)) for _ in range(3)]
        while gates.held("infer", "m") < 3:  # the loop keeps running while they wait
            await asyncio.sleep(0.001)
        assert not any(call.done() for call in calls)
        gates.open("infer", "m")
        for answer in await asyncio.gather(*calls):
            np.testing.assert_array_equal(answer["y"], X["x"])
        np.testing.assert_array_equal((await servable.infer(X))["y"], X["x"])  # open: not held
        assert gates.held("infer", "m") == 3

    asyncio.run(asyncio.wait_for(go(), 30))
    servable.close()
    assert isinstance(servable, GatedServable) and servable.inner.closed  # type: ignore[attr-defined]
