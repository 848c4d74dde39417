"""A streamed answer's bytes: steps that queued up go out in one write, still one SSE event each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson

from ovserve.api.openai.generation import _frames
from ovserve.api.openai.metering import Meter
from ovserve.api.openai.requests import parse_generation
from ovserve.api.openai.responses import Completion
from ovserve.genai.types import ChoiceDelta, GenerationStream


class Stream(GenerationStream):
    """Yields its first step; the rest are already there (``ready``), as when the reader fell behind."""

    def __init__(self, steps: list[list[ChoiceDelta]]) -> None:
        self.steps = steps
        self.prompt_tokens = 1

    async def __aiter__(self) -> AsyncIterator[list[ChoiceDelta]]:
        while self.steps:
            yield self.steps.pop(0)

    def ready(self) -> list[list[ChoiceDelta]]:
        steps, self.steps = self.steps, []
        return steps

    def cancel(self) -> None:
        pass


def test_queued_steps_are_one_write_of_one_event_per_step() -> None:
    steps = [[ChoiceDelta(0, "a", 1)], [ChoiceDelta(0, "b", 1)], [ChoiceDelta(0, "c", 1, "length")]]
    body = b'{"model": "m", "prompt": "x", "stream": true, "stream_options": {"include_usage": true}}'
    parsed = parse_generation(body, chat=False)
    meter = Meter(SimpleNamespace(metrics=None), "m", "Stream")  # type: ignore[arg-type]

    async def collect() -> list[bytes]:
        return [
            frame async for frame in _frames(parsed, Stream([list(s) for s in steps]), meter, lambda: None)
        ]

    writes = asyncio.run(collect())
    assert len(writes) == 3  # the three steps in one write, the usage chunk, [DONE]
    events = [event for write in writes for event in write.split(b"\n\n") if event]
    assert events[-1] == b"data: [DONE]"
    chunks: list[dict[str, Any]] = [orjson.loads(event.removeprefix(b"data: ")) for event in events[:-1]]
    assert [c["choices"][0]["text"] for c in chunks[:3]] == ["a", "b", "c"]
    assert (
        chunks[2]["choices"][0]["finish_reason"] == "length" and chunks[3]["usage"]["completion_tokens"] == 3
    )
    plain = Completion("m", False, 1)
    expected = orjson.loads(orjson.dumps(plain.chunk(steps[0], False)))
    assert {k: v for k, v in chunks[0].items() if k not in ("id", "created")} == {
        k: v for k, v in expected.items() if k not in ("id", "created")
    }  # chunk_event writes what chunk() builds
