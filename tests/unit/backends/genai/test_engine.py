"""The stepping thread with a scripted pipeline: batching, cancel, a failing step, unload."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from ovserve.backends.genai.engine import GenerationEngine
from ovserve.errors import BackendError, ServingError
from ovserve.genai.types import ChoiceDelta


class Tokenizer:
    """Token i is the letter chr(96 + i); a prompt's length is its token count."""

    def encode(self, text: str, add_special_tokens: bool = True) -> Any:
        return SimpleNamespace(input_ids=SimpleNamespace(get_shape=lambda: [1, len(text)]))

    def decode(self, windows: list[list[int]]) -> list[str]:
        return ["".join(chr(96 + t) for t in window) for window in windows]


class Handle:
    def __init__(self, tokens: int) -> None:
        self.left = tokens
        self.made = 0
        self.pending: list[int] = []
        self.status = "RUNNING"
        self.cancelled = False

    def can_read(self) -> bool:
        return bool(self.pending)

    def read(self) -> dict[int, Any]:
        ids, self.pending = self.pending, []
        reason = SimpleNamespace(name="LENGTH" if self.left == 0 else "NONE")
        return {
            0: SimpleNamespace(generated_ids=ids, generated_log_probs=[0.0] * len(ids), finish_reason=reason)
        }

    def get_status(self) -> Any:
        return SimpleNamespace(name=self.status)

    def cancel(self) -> None:
        self.cancelled = True
        self.status = "CANCEL"


class Pipeline:
    """Each step gives every running request its next token (1, 2, 3, ...); ``fail`` makes steps raise."""

    def __init__(self) -> None:
        self.handles: list[Handle] = []
        self.steps = 0
        self.fail = False
        self.gate = threading.Semaphore(0)  # one release per allowed step

    def get_tokenizer(self) -> Tokenizer:
        return Tokenizer()

    def add_request(self, request_id: int, ids: Any, config: Any) -> Handle:
        handle = Handle(config.max_new_tokens)
        self.handles.append(handle)
        return handle

    def step(self) -> None:
        self.gate.acquire()
        self.steps += 1
        if self.fail:
            raise RuntimeError("device lost")
        for handle in self.handles:
            if handle.status == "RUNNING":
                handle.left -= 1
                handle.made += 1
                handle.pending.append(handle.made)
                if handle.left == 0:
                    handle.status = "FINISHED"

    def get_metrics(self) -> Any:
        return SimpleNamespace(cache_usage=float(sum(h.status == "RUNNING" for h in self.handles)))


def config(tokens: int) -> Any:
    return SimpleNamespace(max_new_tokens=tokens)


def stop(engine: GenerationEngine, pipeline: Pipeline) -> None:
    """Let the thread finish what it runs (each step waits for the gate), then close the engine."""
    for _ in range(20):
        pipeline.gate.release()
    engine.close()


async def drain(engine: GenerationEngine, request: Any) -> list[ChoiceDelta]:
    deltas: list[ChoiceDelta] = []
    while (event := await request.events.get()) is not None:
        if isinstance(event, BaseException):
            raise event
        deltas += event
    return deltas


def test_requests_share_steps_and_finish_with_length() -> None:
    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=100, name="t")
        first = engine.submit("ab", True, config(3), False)
        second = engine.submit("abc", True, config(3), False)
        assert await first.accepted == 2 and await second.accepted == 3
        for _ in range(8):
            pipeline.gate.release()
        a, b = await drain(engine, first), await drain(engine, second)
        assert "".join(d.text for d in a) == "abc" and a[-1].finish_reason == "length"
        assert "".join(d.text for d in b) == "abc"
        assert sum(d.tokens for d in a) == 3
        stop(engine, pipeline)

    asyncio.run(main())


def test_prompt_over_the_context_is_refused() -> None:
    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=4, name="t")
        request = engine.submit("abcd", True, config(3), False)
        with pytest.raises(ServingError, match="context is 4 tokens"):
            await request.accepted
        capped = engine.submit("ab", True, config(50), False)
        await capped.accepted
        assert capped.config.max_new_tokens == 2  # the room left
        stop(engine, pipeline)

    asyncio.run(main())


def test_cancel_reaches_the_handle_and_a_failing_step_fails_only_its_requests() -> None:
    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=None, name="t")
        request = engine.submit("a", True, config(100), False)
        await request.accepted
        pipeline.gate.release()
        assert (await request.events.get())[0].text == "a"
        engine.cancel(request)
        for _ in range(5):  # the step that may be running, then the two that free the blocks
            pipeline.gate.release()
        rest = await drain(engine, request)  # ends (None) without the 100 tokens
        assert pipeline.handles[0].cancelled and len(rest) <= 1
        pipeline.fail = True
        doomed = engine.submit("a", True, config(5), False)
        await doomed.accepted
        pipeline.gate.release()
        with pytest.raises(BackendError, match="device lost"):
            await drain(engine, doomed)
        pipeline.fail = False
        later = engine.submit("a", True, config(1), False)
        await later.accepted
        for _ in range(4):
            pipeline.gate.release()
        assert "".join(d.text for d in await drain(engine, later)) == "a"
        stop(engine, pipeline)

    asyncio.run(main())
