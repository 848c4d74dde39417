"""The stepping thread with a scripted pipeline: batching, cancel, a failing step, unload."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openvino_genai as ov_genai
import pytest

from ovserve.backends.genai import engine as engine_module
from ovserve.backends.genai.engine import GenerationEngine
from ovserve.backends.genai.events import EventStream
from ovserve.backends.genai.handover import Outbox, Pace
from ovserve.backends.genai.switching import DECODING_S, FIRST_TOKEN_S, SWITCH, SwitchInterval
from ovserve.errors import BackendError, ServingError
from ovserve.genai.types import ChoiceDelta


class Status(enum.IntEnum):  # GenAI's GenerationStatus and GenerationFinishReason, by value
    RUNNING = 0
    FINISHED = 1
    IGNORED = 2
    CANCEL = 3


class Finish(enum.IntEnum):
    NONE = 0
    LENGTH = 2


class Tokenizer:
    """Token i is the letter chr(96 + i); a prompt's length is its token count."""

    def __init__(self) -> None:
        self.decodes = 0

    def encode(self, text: str, add_special_tokens: bool = True) -> Any:
        ids = [[ord(c) - 96 for c in text]]
        return SimpleNamespace(input_ids=SimpleNamespace(get_shape=lambda: [1, len(text)], data=ids))

    def decode(self, windows: list[list[int]], skip_special_tokens: bool = True) -> list[str]:
        """Token 4 reads "[D]" when special tokens keep their text (which decoding ran shows)."""
        self.decodes += 1
        kept = {} if skip_special_tokens else {4: "[D]"}
        return ["".join(kept.get(t, chr(96 + t)) for t in window) for window in windows]


class Handle:
    def __init__(self, tokens: int) -> None:
        self.left = tokens
        self.made = 0
        self.pending: list[int] = []
        self.status = Status.RUNNING
        self.cancelled = False
        self.added_at = 0  # the steps run before it was added

    def can_read(self) -> bool:
        return bool(self.pending)

    def read(self) -> dict[int, Any]:
        ids, self.pending = self.pending, []
        reason = Finish.LENGTH if self.left == 0 else Finish.NONE
        return {
            0: SimpleNamespace(generated_ids=ids, generated_log_probs=[0.0] * len(ids), finish_reason=reason)
        }

    def get_status(self) -> Status:
        return self.status

    def cancel(self) -> None:
        self.cancelled = True
        self.status = Status.CANCEL


class Pipeline:
    """Each step gives every running request its next token (1, 2, 3, ...); ``fail`` makes steps raise."""

    def __init__(self) -> None:
        self.tokenizer = Tokenizer()
        self.handles: list[Handle] = []
        self.steps = 0
        self.fail = False
        self.gate = threading.Semaphore(0)  # one release per allowed step

    def get_tokenizer(self) -> Tokenizer:
        return self.tokenizer

    def add_request(self, request_id: int, ids: Any, config: Any) -> Handle:
        handle = Handle(config.max_new_tokens)
        handle.added_at = self.steps
        self.handles.append(handle)
        return handle

    def step(self) -> None:
        self.gate.acquire()
        self.steps += 1
        if self.fail:
            raise RuntimeError("device lost")
        for handle in self.handles:
            if handle.status == Status.RUNNING:
                handle.left -= 1
                handle.made += 1
                handle.pending.append(handle.made)
                if handle.left == 0:
                    handle.status = Status.FINISHED

    def has_non_finished_requests(self) -> bool:
        return any(handle.status == Status.RUNNING for handle in self.handles)

    def get_metrics(self) -> Any:
        running = sum(h.status == Status.RUNNING for h in self.handles)
        return SimpleNamespace(cache_usage=float(running), requests=running)


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


async def generate(
    engine: GenerationEngine,
    pipeline: Pipeline,
    tokens: int,
    steps: int,
    logprobs: bool = False,
    record: Callable[[list[Any]], None] | None = None,
) -> list[ChoiceDelta]:
    """Submit "a" for ``tokens`` tokens, let ``steps`` steps run, and read its deltas to the end;
    ``record`` sees each hand-over's events of the request as the loop receives them."""
    request = engine.submit("a", True, config(tokens), logprobs)
    await request.accepted
    if record is not None:

        def sink(events: list[Any]) -> None:
            record(events)
            for event in events:
                request.events.put_nowait(event)

        request.sink = sink
    for _ in range(steps):
        pipeline.gate.release()
    return await drain(engine, request)


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


def test_a_request_that_keeps_special_tokens_gets_their_text_but_not_its_stop_tokens() -> None:
    """A tool parser whose markers are special tokens gets them (a second decoding, beside the
    plain one in the same step); the stop tokens make no text but count."""

    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=100, name="t")
        kept = engine.submit("a", True, config(5), False, keep_special=frozenset({3}))
        plain = engine.submit("a", True, config(5), False)
        await kept.accepted
        await plain.accepted
        for _ in range(8):
            pipeline.gate.release()
        special, usual = await drain(engine, kept), await drain(engine, plain)
        assert "".join(d.text for d in special) == "ab[D]e" and sum(d.tokens for d in special) == 5
        assert "".join(d.text for d in usual) == "abcde"
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
        later = await generate(engine, pipeline, 1, 4)
        assert "".join(d.text for d in later) == "a"
        stop(engine, pipeline)

    asyncio.run(main())


def test_genai_enums_are_read_by_the_values_the_engine_knows() -> None:
    status = {name: int(value) for name, value in ov_genai.GenerationStatus.__members__.items()}
    assert (status["RUNNING"], status["IGNORED"]) == (engine_module._RUNNING, engine_module._IGNORED)
    finish = {int(value): name for name, value in ov_genai.GenerationFinishReason.__members__.items()}
    assert {finish[value] for value in engine_module._FINISH_BY_VALUE} == {"STOP", "LENGTH", "TOOL_CALL"}
    assert engine_module._FINISH_BY_VALUE[int(ov_genai.GenerationFinishReason.TOOL_CALL)] == "tool_calls"


def test_ready_hands_over_the_steps_that_arrived_and_keeps_the_end_or_error() -> None:
    async def main() -> None:
        one, two = [ChoiceDelta(0, "a", 1)], [ChoiceDelta(0, "b", 1)]
        for end in (None, BackendError("device lost")):
            events: asyncio.Queue[Any] = asyncio.Queue()
            cancels: list[int] = []
            stream = EventStream(events, functools.partial(cancels.append, 1), 1)
            assert stream.ready() == []
            for event in (one, two, end):
                events.put_nowait(event)
            seen: list[Any] = []
            with contextlib.suppress(BackendError):
                async for step in stream:
                    seen += [step, stream.ready(), stream.ready()]
            assert seen == [one, [two], []]  # the end (or the error) stays for the iteration
            assert cancels  # leaving the iteration cancels

    asyncio.run(main())


def test_the_stream_gate_holds_the_reader_until_every_step_is_there(tmp_path: Path) -> None:
    """``stream-<model>`` (test gates): the first step is handed over only after the end came."""

    async def main() -> None:
        gate = tmp_path / "stream-m"
        gate.write_text("")
        events: asyncio.Queue[Any] = asyncio.Queue()
        stream = EventStream(events, lambda: None, 1, gate)
        steps = [[ChoiceDelta(0, letter, 1)] for letter in "abc"]
        seen: list[Any] = []

        async def read() -> None:
            async for step in stream:
                seen.append([step, *stream.ready()])

        reader = asyncio.create_task(read())
        for step in steps:
            events.put_nowait(step)
            await asyncio.sleep(0)  # the reader runs, and must not hand anything over yet
            assert seen == []
        events.put_nowait(None)
        await reader
        assert seen == [steps]  # every step in one hand-over
        assert (tmp_path / "stream-m.held").read_text() == "held\n"

    asyncio.run(main())


def test_a_request_keeps_the_switch_interval_short_until_its_first_token_or_its_end() -> None:
    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=4, name="t")
        start = SWITCH.waiting
        request = engine.submit("a", True, config(3), False)
        assert SWITCH.waiting == start + 1 and sys.getswitchinterval() == pytest.approx(FIRST_TOKEN_S)
        await request.accepted
        pipeline.gate.release()
        assert (await request.events.get())[0].text == "a"  # delivered on the loop: counted out
        assert SWITCH.waiting == start
        for _ in range(6):  # its two other tokens, then the steps that settle
            pipeline.gate.release()
        await drain(engine, request)
        refused = engine.submit("abcd", True, config(3), False)  # over the context
        with pytest.raises(ServingError):
            await refused.accepted
        cancelled = engine.submit("a", True, config(3), False)
        await cancelled.accepted
        engine.cancel(cancelled)
        for _ in range(10):  # the steps that may run before the cancel, then the settling ones
            pipeline.gate.release()
        await drain(engine, cancelled)  # ends (None) whether or not a step gave it a token first
        assert SWITCH.waiting == start and sys.getswitchinterval() == pytest.approx(DECODING_S)
        stop(engine, pipeline)

    asyncio.run(main())


def test_logprobs_take_the_cached_text_of_plain_tokens() -> None:
    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=None, name="t")

        async def run(logprobs: bool) -> tuple[list[ChoiceDelta], int]:
            before = pipeline.tokenizer.decodes
            return await generate(engine, pipeline, 3, 6, logprobs), pipeline.tokenizer.decodes - before

        await run(False)  # learns the tokens
        with_logprobs, decodes = await run(True)
        _without, plain_decodes = await run(False)
        assert [t.token for d in with_logprobs for t in d.logprobs] == ["a", "b", "c"]
        assert "".join(d.text for d in with_logprobs) == "abc"
        assert decodes == plain_decodes  # no detokenizer call per token for the log probs
        stop(engine, pipeline)

    asyncio.run(main())


def test_the_outbox_hands_each_request_its_events_of_one_wake_up_together_in_order() -> None:
    """What the engine posts before the loop runs reaches the loop in one wake-up, each request's
    events in one hand-over (so a stream that fell behind sends them as one chunk)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        got: list[tuple[str, list[Any]]] = []

        def request(name: str) -> engine_module.EngineRequest:
            made = engine_module.EngineRequest(
                "a", True, None, False, loop, loop.create_future(), asyncio.Queue()
            )
            made.sink = lambda events: got.append((name, events))
            return made

        first, second = request("first"), request("second")
        one, two, three = ([ChoiceDelta(0, letter, 1)] for letter in "abc")
        outbox = Outbox()
        posting = threading.Thread(
            target=lambda: [
                outbox.send(items)
                for items in ([(first, one)], [(second, two)], [(first, three), (first, None)])
            ]
        )
        posting.start()
        posting.join()
        assert got == []  # nothing runs on the loop until it gets to the wake-up
        await asyncio.sleep(0)
        assert got == [("first", [one, three, None]), ("second", [two])]
        outbox.send([(second, None)])
        await asyncio.sleep(0)
        assert got[2:] == [("second", [None])]
        plain = engine_module.EngineRequest(
            "a", True, None, False, loop, loop.create_future(), asyncio.Queue()
        )
        outbox.send([(plain, one), (plain, None)])  # no stream yet: queued for it
        await asyncio.sleep(0)
        assert [plain.events.get_nowait(), plain.events.get_nowait()] == [one, None]

    asyncio.run(main())


def test_steps_go_to_the_taker_while_the_reader_waits_and_to_the_reader_otherwise() -> None:
    """``deliver_directly``: a step offered while the iteration waits with nothing queued goes to
    the taker; one it refuses, and every later one until the reader took them, to the reader, in order."""

    async def main() -> None:
        stream = EventStream(asyncio.Queue(), lambda: None, 1)
        steps = [[ChoiceDelta(0, letter, 1)] for letter in "abcdef"]
        taken: list[list[Any]] = []
        ready = [True]

        def take(offered: list[list[ChoiceDelta]]) -> bool:
            if ready[0]:
                taken.append(offered)
            return ready[0]

        stream.deliver_directly(take)
        seen: list[list[Any]] = []

        async def read() -> None:
            async for step in stream:
                seen.append([step, *stream.ready()])

        reader = asyncio.create_task(read())
        await asyncio.sleep(0)  # the reader waits
        stream.offer([steps[0], steps[1]])
        assert (taken, seen) == ([[steps[0], steps[1]]], [])
        ready[0] = False
        stream.offer([steps[2]])
        ready[0] = True
        stream.offer([steps[3]])  # the reader has not taken the refused step yet: queued behind it
        await asyncio.sleep(0)
        assert seen == [[steps[2], steps[3]]]
        stream.offer([steps[4], None])
        await reader
        assert taken == [[steps[0], steps[1]], [steps[4]]] and len(seen) == 1

        failing = EventStream(asyncio.Queue(), lambda: None, 1)

        def broken(offered: list[list[ChoiceDelta]]) -> bool:
            raise BackendError("encoding failed")

        failing.deliver_directly(broken)

        async def read_failing() -> None:
            async for _ in failing:
                pass

        failed = asyncio.create_task(read_failing())
        await asyncio.sleep(0)
        failing.offer([steps[5]])
        with pytest.raises(BackendError, match="encoding failed"):
            await failed

    asyncio.run(main())


def test_after_a_long_step_the_next_waits_until_the_loop_took_what_it_posted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``step()`` holds the GIL: after a step of at least HAND_OVER_STEP_S (here every step) the
    engine lets the loop take the step's output before it runs the next one."""
    monkeypatch.setattr(engine_module, "HAND_OVER_STEP_S", 0.0)
    monkeypatch.setattr(engine_module, "HAND_OVER_MOST_S", 0.0)  # paced to every step
    monkeypatch.setattr(engine_module, "HAND_OVER_WAIT_S", 60.0)  # a missed hand-over would hang, not pass

    class Recording(Pipeline):
        def __init__(self) -> None:
            super().__init__()
            self.delivered = 0
            self.seen: list[int] = []  # deliveries made before each step

        def step(self) -> None:
            self.seen.append(self.delivered)
            super().step()

    async def main() -> None:
        pipeline = Recording()
        engine = GenerationEngine(pipeline, max_context=None, name="t")

        def record(events: list[Any]) -> None:
            pipeline.delivered += 1

        deltas = await generate(engine, pipeline, 3, 3, record=record)
        assert "".join(d.text for d in deltas) == "abc"
        assert pipeline.seen[:3] == [
            0,
            1,
            2,
        ]  # each step after the one before was delivered (then settling steps)
        stop(engine, pipeline)

    asyncio.run(main())


def never_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pace that is never due by time, and a switch-interval count of this test's requests only
    (a request waiting for its first token makes every step due)."""
    monkeypatch.setattr(engine_module, "SWITCH", SwitchInterval())
    monkeypatch.setattr(engine_module, "HAND_OVER_STEP_S", 3600.0)
    monkeypatch.setattr(engine_module, "HAND_OVER_MOST_S", 3600.0)


def test_the_pace_keeps_the_hand_over_waits_a_share_of_the_stepping_within_its_bounds() -> None:
    pace = Pace(share=0.1, least=0.001, most=0.02)
    assert pace.interval == 0.001
    assert not pace.stepped(0.0004) and not pace.stepped(0.0004) and pace.stepped(0.0004)
    pace.handed_over(0.0008)  # a wait of 0.8 ms, weighted into the average from 0
    assert pace.interval == pytest.approx(0.0008 * Pace.SMOOTHING / 0.1)
    assert not pace.stepped(0.0019)  # counted again from the hand-over
    for _ in range(50):
        pace.handed_over(0.0008)
    assert pace.interval == pytest.approx(0.008)  # 0.8 ms ÷ 10 %
    for _ in range(50):
        pace.handed_over(0.01)
    assert pace.interval == 0.02  # at most `most`
    for _ in range(80):
        pace.handed_over(0.0)
    assert pace.interval == 0.001  # at least `least`


def test_steps_are_held_until_due_but_a_first_output_and_the_end_go_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Paced hand-overs: with a pace that is never due, the first token is handed over on its
    own at once, the steps after it are held (GenAI keeps them in the handle's queue), and the
    end, when the pipeline has nothing left to run, brings them all in one hand-over."""
    never_due(monkeypatch)
    monkeypatch.setattr(engine_module, "HAND_OVER_WAIT_S", 60.0)  # a missed hand-over would hang, not pass

    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=None, name="t")
        deliveries: list[list[Any]] = []
        deltas = await generate(engine, pipeline, 5, 5, record=deliveries.append)
        assert "".join(d.text for d in deltas) == "abcde" and deltas[-1].finish_reason == "length"
        assert len(deliveries) == 2
        first, rest = deliveries
        assert [[d.text for d in step] for step in first] == [["a"]]
        assert [d.text for d in rest[0]] == ["bcde"] and rest[-1] is None  # one read of 4 steps, then the end
        stop(engine, pipeline)

    asyncio.run(main())


def test_an_answer_that_ends_while_others_go_on_is_handed_over_when_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a pace that is never due, a request that ends is still answered at once: the
    pipeline's request count fell, so the engine reads every request then."""
    never_due(monkeypatch)

    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=None, name="t")
        short = engine.submit("a", True, config(3), False)
        long = engine.submit("a", True, config(6), False)
        await short.accepted
        await long.accepted
        for _ in range(3):  # the steps the short one needs; the long one waits for more
            pipeline.gate.release()
        deltas = await asyncio.wait_for(drain(engine, short), 60)
        assert "".join(d.text for d in deltas) == "abc" and deltas[-1].finish_reason == "length"
        for _ in range(3):
            pipeline.gate.release()
        assert "".join(d.text for d in await drain(engine, long)) == "abcdef"
        stop(engine, pipeline)

    asyncio.run(main())


def test_requests_that_come_while_the_loop_answers_others_join_their_first_step() -> None:
    """The loop parses a burst of requests while the engine waits for it to answer the first:
    those the loop submitted meanwhile are added before the step, not after it."""

    async def main() -> None:
        pipeline = Pipeline()
        engine = GenerationEngine(pipeline, max_context=None, name="t")
        first = engine.submit("a", True, config(2), False)
        await first.accepted  # resumed by the acceptance's hand-over, before it ends
        second = engine.submit("a", True, config(2), False)
        # no step may run yet (no gate released): the second is accepted only if it joined
        await asyncio.wait_for(second.accepted, 60)
        assert [handle.added_at for handle in pipeline.handles] == [0, 0]
        for _ in range(2):
            pipeline.gate.release()
        assert "".join(d.text for d in await drain(engine, first)) == "ab"
        assert "".join(d.text for d in await drain(engine, second)) == "ab"
        stop(engine, pipeline)

    asyncio.run(main())
