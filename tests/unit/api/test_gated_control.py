"""GatedControl: model control and reload wait for the gate (the backend built), then delegate."""

from __future__ import annotations

import asyncio

from ovserve.api.context import GatedControl
from ovserve.config.types import ModelConfig
from ovserve.core.manager import ReloadOutcome


class RecordingControl:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def model_names(self) -> list[str]:
        return ["a"]

    async def load_model(self, name: str) -> bool:
        self.calls.append(("load", name))
        return True

    async def unload_model(self, name: str) -> bool:
        self.calls.append(("unload", name))
        return True

    async def replace_models(self, models: tuple[ModelConfig, ...]) -> bool:
        self.calls.append(("replace", models))
        return False

    async def reload(self) -> ReloadOutcome:
        self.calls.append(("reload", None))
        return ReloadOutcome(True)


def test_calls_wait_for_the_gate_then_reach_the_control() -> None:
    async def main() -> None:
        control = RecordingControl()
        gate = asyncio.Event()
        gated = GatedControl(control, control.reload, gate)
        assert gated.model_names() == ["a"]  # names need no backend: answered at once
        models = (ModelConfig(name="b", base_path="/b"),)
        pending = [
            asyncio.create_task(gated.load_model("a")),
            asyncio.create_task(gated.unload_model("a")),
            asyncio.create_task(gated.replace_models(models)),
            asyncio.create_task(gated.reload()),
        ]
        for _ in range(5):
            await asyncio.sleep(0)  # let every call run up to the gate
        assert control.calls == []
        assert not any(task.done() for task in pending)
        gate.set()
        results = await asyncio.gather(*pending)
        assert results == [True, True, False, ReloadOutcome(True)]
        assert control.calls == [("load", "a"), ("unload", "a"), ("replace", models), ("reload", None)]

    asyncio.run(main())
