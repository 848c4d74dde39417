"""A streamed answer's bytes: one chunk per step while the reader keeps up; steps that queued up
while it was busy go out as one chunk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson

from ovserve.api.openai.generation import _Chunks, _Events, _frames
from ovserve.api.openai.metering import Meter
from ovserve.api.openai.requests import parse_generation
from ovserve.api.openai.responses import Completion
from ovserve.backends.genai.events import EventStream
from ovserve.genai.types import ChoiceDelta, GenerationStream


class Stream(GenerationStream):
    """Yields its first step; with ``behind``, the rest are already there (``ready``), as when the
    reader fell behind; without, each comes only when asked for (the reader keeps up)."""

    def __init__(self, steps: list[list[ChoiceDelta]], *, behind: bool) -> None:
        self.steps = steps
        self.behind = behind
        self.prompt_tokens = 1

    async def __aiter__(self) -> AsyncIterator[list[ChoiceDelta]]:
        while self.steps:
            yield self.steps.pop(0)

    def ready(self) -> list[list[ChoiceDelta]]:
        if not self.behind:
            return []
        steps, self.steps = self.steps, []
        return steps

    def cancel(self) -> None:
        pass


STEPS = [[ChoiceDelta(0, "a", 1)], [ChoiceDelta(0, "b", 1)], [ChoiceDelta(0, "c", 1, "length")]]


def events(behind: bool) -> list[list[dict[str, Any]]]:
    """The chunks of each write (the last write, [DONE], left out)."""
    body = b'{"model": "m", "prompt": "x", "stream": true, "stream_options": {"include_usage": true}}'
    parsed = parse_generation(body, chat=False)
    meter = Meter(SimpleNamespace(metrics=None), "m", "Stream")  # type: ignore[arg-type]
    stream = Stream([list(s) for s in STEPS], behind=behind)

    async def collect() -> list[bytes]:
        chunks = _Chunks(parsed, stream.prompt_tokens, meter, lambda: None)
        return [frame async for frame in _frames(parsed, stream, chunks, meter)]

    writes = asyncio.run(collect())
    assert writes[-1] == b"data: [DONE]\n\n"
    return [
        [orjson.loads(event.removeprefix(b"data: ")) for event in write.split(b"\n\n") if event]
        for write in writes[:-1]
    ]


def test_one_chunk_per_step_while_the_reader_keeps_up() -> None:
    writes = events(behind=False)
    assert [len(write) for write in writes] == [1, 1, 1, 1]  # three steps, the usage chunk
    chunks = [write[0] for write in writes]
    assert [c["choices"][0]["text"] for c in chunks[:3]] == ["a", "b", "c"]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:3]] == [None, None, "length"]
    assert chunks[3]["usage"]["completion_tokens"] == 3
    plain = Completion("m", False, 1)
    expected = orjson.loads(orjson.dumps(plain.chunk(STEPS[:1], False)))
    assert {k: v for k, v in chunks[0].items() if k not in ("id", "created")} == {
        k: v for k, v in expected.items() if k not in ("id", "created")
    }  # chunk_event writes what chunk() builds


def test_queued_steps_go_out_as_one_chunk() -> None:
    writes = events(behind=True)
    assert [len(write) for write in writes] == [1, 1]  # the three steps, the usage chunk
    merged, usage = (write[0] for write in writes)
    assert (merged["choices"][0]["text"], merged["choices"][0]["finish_reason"]) == ("abc", "length")
    assert usage["usage"]["completion_tokens"] == 3


class Body:
    """A direct writer that records its chunks; ``paused`` refuses them (the transport's buffer is full)."""

    def __init__(self, log: list[tuple[str, bytes]]) -> None:
        self.log = log
        self.paused = False

    def ready(self) -> bool:
        return not self.paused

    def write(self, data: bytes) -> None:
        self.log.append(("direct", data))


def test_direct_chunks_and_the_iterations_make_one_answer_in_order() -> None:
    """With a direct writer, the steps that come while the body waits are written by the hand-over;
    paused, they go through the iteration; the end (usage, [DONE]) always does. The bytes, in the
    order written, are the same events as without."""

    async def main() -> list[tuple[str, bytes]]:
        body = b'{"model": "m", "prompt": "x", "stream": true, "stream_options": {"include_usage": true}}'
        parsed = parse_generation(body, chat=False)
        meter = Meter(SimpleNamespace(metrics=None), "m", "Stream")  # type: ignore[arg-type]
        stream = EventStream(asyncio.Queue(), lambda: None, 1)
        handle = SimpleNamespace(__exit__=lambda: None)
        answer = _Events(parsed, stream, handle, meter, lambda: None)  # type: ignore[arg-type]
        log: list[tuple[str, bytes]] = []
        direct = Body(log)
        answer.push_to(direct)

        async def send() -> None:
            async for data in answer:
                log.append(("iteration", data))

        sender = asyncio.create_task(send())
        await asyncio.sleep(0)
        stream.offer([STEPS[0]])
        direct.paused = True
        stream.offer([STEPS[1]])
        await asyncio.sleep(0)
        direct.paused = False
        stream.offer([STEPS[2], None])
        await sender
        return log

    log = asyncio.run(main())
    assert [how for how, _ in log] == ["direct", "iteration", "direct", "iteration", "iteration"]
    chunks = [orjson.loads(data.removeprefix(b"data: ")) for _, data in log[:-1]]
    assert [c["choices"][0]["text"] for c in chunks[:3]] == ["a", "b", "c"]
    assert chunks[2]["choices"][0]["finish_reason"] == "length"
    assert chunks[3]["usage"]["completion_tokens"] == 3
    assert log[-1][1] == b"data: [DONE]\n\n"
