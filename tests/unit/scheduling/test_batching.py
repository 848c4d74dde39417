"""BatchingServable: batches formed, split and joined, queue bounds, timeouts, cancellation.

The wrapped servable is a fake that records every batch it runs and can be held
(a gate), so requests pile up in a known state. No test measures time: short real
delays only let the event loop move on, and every assertion is on behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import numpy as np
import pytest

from ovserve.config.types import BatchingConfig
from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.errors import BackendError, Code, DeadlineExceeded, InvalidInput, LoadError, QueueFull
from ovserve.scheduling import BatchingHooks, BatchingServable
from ovserve.tensors import Dim, TensorSpec

SID = ServableId("m", 1)
LONG = 60_000_000  # µs: a delay or timeout no test waits for


class RecordingServable(Servable):
    """y = 2x + row-independent nothing: each row's answer depends on that row only.

    Records the number of rows of every batch it runs; while ``gate`` is clear, runs wait.
    """

    def __init__(self, inputs: Sequence[TensorSpec] | None = None, fail: bool = False) -> None:
        specs = inputs or [TensorSpec("x", np.dtype(np.float32), (Dim.any(), Dim.any()))]
        outs = [TensorSpec("y", s.dtype, s.dims) for s in specs[:1]]
        super().__init__(SID, specs, outs)
        self.batches: list[int] = []
        self.seen: list[np.ndarray] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self.fail = fail
        self.closed = False

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = next(iter(inputs.values()))
        self.batches.append(x.shape[0])
        self.seen.append(x.copy())
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise BackendError("Internal inference error: boom")
        return {"y": x * 2}

    def close(self) -> None:
        self.closed = True


def rows(first: float, n: int = 1, width: int = 4) -> dict[str, np.ndarray]:
    """``n`` rows whose values start at ``first`` (each request distinguishable)."""
    values = np.arange(first, first + n * width, dtype=np.float32).reshape(n, width)
    return {"x": values}


def batcher(
    inner: Servable | None = None,
    *,
    max_batch: int = 4,
    delay: int = 0,
    preferred: tuple[int, ...] = (),
    queue: int = 0,
    timeout: int = 0,
    hooks: BatchingHooks | None = None,
    in_flight: int = 1,
    adaptive: bool = False,
) -> BatchingServable:
    """A batcher on ``inner``; the delay is Triton's fixed one unless ``adaptive`` (test_queue_delay.py)."""
    config = BatchingConfig(max_batch, delay, preferred, queue, timeout, adaptive)
    return BatchingServable(inner or RecordingServable(), config, max_in_flight=in_flight, hooks=hooks)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (bounded by the test's overall timeout)."""
    while not condition():
        await asyncio.sleep(0.001)


async def hold_first(b: BatchingServable) -> tuple[RecordingServable, asyncio.Task[dict[str, np.ndarray]]]:
    """Occupy the batcher's only slot with a request whose run waits on the gate."""
    inner = b.inner
    assert isinstance(inner, RecordingServable)
    inner.gate.clear()
    first = asyncio.create_task(b.infer(rows(1000)))
    await until(lambda: inner.started.is_set())
    return inner, first


def test_specs_take_any_batch_and_keep_other_dims() -> None:
    inner = RecordingServable([TensorSpec("x", np.dtype(np.float32), (Dim(1, 8), Dim.static(3)))])
    b = batcher(inner, max_batch=8)
    assert b.inputs["x"].dims == (Dim(1, -1), Dim.static(3))
    assert b.inputs["x"].shape == (-1, 3)
    assert b.outputs["y"].shape == (-1, 3)
    assert b.id == SID
    laid_out = RecordingServable([TensorSpec("x", np.dtype(np.float32), (Dim(1, 8), Dim.static(3)), "NC")])
    assert batcher(laid_out, max_batch=8).inputs["x"].layout == "NC"  # image inputs need it


def test_refuses_a_model_whose_batch_dim_cannot_take_the_max_batch() -> None:
    inner = RecordingServable([TensorSpec("x", np.dtype(np.float32), (Dim.static(1), Dim.static(3)))])
    with pytest.raises(LoadError, match=r"input x .* batch dimension 1, .* max_batch_size \(4\)"):
        batcher(inner, max_batch=4)
    scalar = RecordingServable([TensorSpec("x", np.dtype(np.float32), ())])
    with pytest.raises(LoadError, match="scalar"):
        batcher(scalar)


def test_single_request_runs_and_answers() -> None:
    async def go() -> None:
        b = batcher()
        out = await b.infer(rows(1, 2))
        np.testing.assert_array_equal(out["y"], rows(1, 2)["x"] * 2)
        assert b.queue_length == 0 and b.in_flight == 0

    run(go)


def test_requests_waiting_while_the_model_is_busy_run_as_one_batch() -> None:
    async def go() -> None:
        b = batcher(max_batch=8)
        inner, first = await hold_first(b)
        callers = [asyncio.create_task(b.infer(rows(10 * i, n))) for i, n in ((1, 1), (2, 2), (3, 1))]
        await until(lambda: b.queue_length == 3)
        inner.gate.set()
        answers = await asyncio.gather(*callers)
        await first
        assert inner.batches == [1, 4]
        for (i, n), answer in zip(((1, 1), (2, 2), (3, 1)), answers, strict=True):
            np.testing.assert_array_equal(answer["y"], rows(10 * i, n)["x"] * 2)  # each caller its own rows

    run(go)


def test_max_batch_size_caps_a_batch() -> None:
    async def go() -> None:
        b = batcher(max_batch=4)
        inner, first = await hold_first(b)
        callers = [asyncio.create_task(b.infer(rows(10 * i))) for i in range(6)]
        await until(lambda: b.queue_length == 6)
        inner.gate.set()
        answers = await asyncio.gather(first, *callers)
        assert inner.batches == [1, 4, 2]
        for i, answer in enumerate(answers[1:]):
            np.testing.assert_array_equal(answer["y"], rows(10 * i)["x"] * 2)

    run(go)


def test_batch_waits_for_the_delay_and_takes_what_arrived() -> None:
    async def go() -> None:
        b = batcher(max_batch=8, delay=20_000)
        inner = b.inner
        assert isinstance(inner, RecordingServable)
        answers = await asyncio.gather(*(b.infer(rows(10 * i)) for i in range(3)))
        assert inner.batches == [3]  # queued in one loop turn: the delay window holds all three
        for i, answer in enumerate(answers):
            np.testing.assert_array_equal(answer["y"], rows(10 * i)["x"] * 2)

    run(go)


def test_a_full_batch_does_not_wait_for_the_delay() -> None:
    async def go() -> None:
        b = batcher(max_batch=2, delay=LONG)
        inner = b.inner
        assert isinstance(inner, RecordingServable)
        pending = asyncio.create_task(b.infer(rows(0)))
        await asyncio.sleep(0.01)
        assert inner.batches == [] and b.queue_length == 1  # waits for the delay (a minute)
        second = await b.infer(rows(10))
        assert inner.batches == [2]
        np.testing.assert_array_equal((await pending)["y"], rows(0)["x"] * 2)
        np.testing.assert_array_equal(second["y"], rows(10)["x"] * 2)

    run(go)


def test_preferred_batch_size_is_sent_without_waiting() -> None:
    async def go() -> None:
        b = batcher(max_batch=8, delay=LONG, preferred=(2, 4))
        inner = b.inner
        assert isinstance(inner, RecordingServable)
        one = asyncio.create_task(b.infer(rows(0)))
        await asyncio.sleep(0.01)
        assert inner.batches == []  # 1 row: no preferred size reached, the delay is a minute
        await asyncio.gather(one, b.infer(rows(10)))
        assert inner.batches == [2]
        # three queued at once: the largest preferred size they reach (2) goes; one row stays
        tasks = [asyncio.create_task(b.infer(rows(10 * i))) for i in range(3)]
        await until(lambda: len(inner.batches) == 2)
        await asyncio.sleep(0.01)
        assert inner.batches == [2, 2] and b.queue_length == 1
        await b.infer(rows(99))  # the fourth makes a preferred 2 again
        await asyncio.gather(*tasks)
        assert inner.batches == [2, 2, 2]

    run(go)


def test_request_larger_than_max_batch_runs_in_chunks_and_is_joined() -> None:
    async def go() -> None:
        b = batcher(max_batch=4)
        inner = b.inner
        assert isinstance(inner, RecordingServable)
        big = rows(0, 10)
        out = await b.infer(big)
        np.testing.assert_array_equal(out["y"], big["x"] * 2)
        assert inner.batches == [4, 4, 2]
        assert b.queue_length == 0

    run(go)


def test_chunks_share_batches_with_other_requests() -> None:
    async def go() -> None:
        b = batcher(max_batch=4)
        inner, first = await hold_first(b)
        big = asyncio.create_task(b.infer(rows(0, 6)))  # chunks of 4 and 2
        small = asyncio.create_task(b.infer(rows(500, 2)))
        await until(lambda: b.queue_length == 2)
        inner.gate.set()
        out_big, out_small, _ = await asyncio.gather(big, small, first)
        assert inner.batches == [1, 4, 4]  # the 2-row chunk and the 2-row request go together
        np.testing.assert_array_equal(out_big["y"], rows(0, 6)["x"] * 2)
        np.testing.assert_array_equal(out_small["y"], rows(500, 2)["x"] * 2)

    run(go)


def test_requests_of_different_shapes_are_not_concatenated() -> None:
    async def go() -> None:
        b = batcher(max_batch=8)
        inner, first = await hold_first(b)
        narrow = [asyncio.create_task(b.infer(rows(10 * i, 1, 3))) for i in range(2)]
        wide = [asyncio.create_task(b.infer(rows(10 * i, 1, 5))) for i in range(3)]
        await until(lambda: b.queue_length == 5)
        inner.gate.set()
        answers = await asyncio.gather(*narrow, *wide)
        await first
        assert sorted(inner.batches[1:]) == [2, 3]
        assert {s.shape[1] for s in inner.seen[1:]} == {3, 5}
        for answer, (i, width) in zip(answers, [(0, 3), (1, 3), (0, 5), (1, 5), (2, 5)], strict=True):
            np.testing.assert_array_equal(answer["y"], rows(10 * i, 1, width)["x"] * 2)

    run(go)


def test_full_queue_refuses_with_a_clear_message() -> None:
    async def go() -> None:
        b = batcher(max_batch=4, queue=2)
        inner, first = await hold_first(b)
        waiting = [asyncio.create_task(b.infer(rows(10 * i))) for i in range(2)]
        await until(lambda: b.queue_length == 2)
        with pytest.raises(QueueFull) as caught:
            await b.infer(rows(99))
        assert caught.value.code == Code.RESOURCE_EXHAUSTED
        assert "max_queue_size is 2" in caught.value.message and "model m version 1" in caught.value.message
        inner.gate.set()
        await asyncio.gather(first, *waiting)
        await b.infer(rows(5))  # room again
        assert 99 * 2 not in np.concatenate(inner.seen).ravel()  # the refused request never ran

    run(go)


def test_chunked_request_counts_once_against_the_queue_bound() -> None:
    async def go() -> None:
        b = batcher(max_batch=2, queue=1)
        out = await b.infer(rows(0, 7))
        np.testing.assert_array_equal(out["y"], rows(0, 7)["x"] * 2)

    run(go)


def test_request_that_waits_past_its_timeout_fails_and_never_runs() -> None:
    async def go() -> None:
        b = batcher(max_batch=4, timeout=1_000)
        inner, first = await hold_first(b)
        with pytest.raises(DeadlineExceeded) as caught:
            await b.infer(rows(77))
        assert caught.value.code == Code.DEADLINE_EXCEEDED
        assert "timeout_microseconds" in caught.value.message
        assert b.queue_length == 0
        inner.gate.set()
        out = await first  # the running one is not timed out
        np.testing.assert_array_equal(out["y"], rows(1000)["x"] * 2)
        assert inner.batches == [1]

    run(go)


def test_timeout_of_a_chunked_request_withdraws_every_chunk() -> None:
    async def go() -> None:
        b = batcher(max_batch=2, timeout=1_000)
        inner, first = await hold_first(b)
        with pytest.raises(DeadlineExceeded):
            await b.infer(rows(0, 5))
        assert b.queue_length == 0
        inner.gate.set()
        await first
        assert inner.batches == [1]

    run(go)


def test_cancelled_caller_is_removed_from_the_queue() -> None:
    async def go() -> None:
        lengths: list[int] = []
        b = batcher(max_batch=4, hooks=BatchingHooks(on_queue_length=lengths.append))
        inner, first = await hold_first(b)
        gone = asyncio.create_task(b.infer(rows(500, 3)))  # e.g. a closed HTTP connection
        stays = asyncio.create_task(b.infer(rows(10)))
        await until(lambda: b.queue_length == 2)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert gone.cancelled()
        assert b.queue_length == 1
        inner.gate.set()
        out = await stays
        await first
        np.testing.assert_array_equal(out["y"], rows(10)["x"] * 2)
        assert inner.batches == [1, 1]  # the cancelled rows never ran
        assert lengths[-1] == 0

    run(go)


def test_cancelled_chunked_caller_withdraws_every_chunk() -> None:
    async def go() -> None:
        b = batcher(max_batch=2)
        inner, first = await hold_first(b)
        gone = asyncio.create_task(b.infer(rows(0, 6)))
        await until(lambda: b.queue_length == 1)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert b.queue_length == 0
        inner.gate.set()
        await first
        assert inner.batches == [1]

    run(go)


def test_caller_cancelled_while_its_batch_runs_leaves_the_others_their_answers() -> None:
    async def go() -> None:
        b = batcher(max_batch=2, delay=LONG)
        inner = b.inner
        assert isinstance(inner, RecordingServable)
        inner.gate.clear()
        gone = asyncio.create_task(b.infer(rows(0)))
        stays = asyncio.create_task(b.infer(rows(10)))
        await until(lambda: inner.started.is_set())  # both run as one batch, held at the gate
        assert inner.batches == [2] and b.queue_length == 0
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        inner.gate.set()
        out = await stays
        np.testing.assert_array_equal(out["y"], rows(10)["x"] * 2)
        assert b.in_flight == 0

    run(go)


def test_a_failing_batch_fails_each_of_its_callers() -> None:
    async def go() -> None:
        b = batcher(RecordingServable(fail=True), max_batch=4)
        results = await asyncio.gather(*(b.infer(rows(i)) for i in range(3)), return_exceptions=True)
        assert all(isinstance(r, BackendError) for r in results)
        assert b.queue_length == 0 and b.in_flight == 0
        out_ok = batcher(max_batch=4)
        await out_ok.infer(rows(0))

    run(go)


def test_inputs_that_disagree_on_the_batch_are_refused() -> None:
    async def go() -> None:
        specs = [
            TensorSpec("a", np.dtype(np.float32), (Dim.any(), Dim.static(2))),
            TensorSpec("b", np.dtype(np.float32), (Dim.any(), Dim.static(2))),
        ]
        b = batcher(RecordingServable(specs))
        with pytest.raises(InvalidInput, match="a has 2, b has 3"):
            await b.infer({"a": np.zeros((2, 2), np.float32), "b": np.zeros((3, 2), np.float32)})

    run(go)


def test_validation_still_applies() -> None:
    async def go() -> None:
        b = batcher()
        with pytest.raises(InvalidInput, match="precision"):
            await b.infer({"x": np.zeros((1, 4), np.int32)})

    run(go)


def test_several_batches_run_at_once_up_to_max_in_flight() -> None:
    async def go() -> None:
        b = batcher(max_batch=2, in_flight=2)
        inner = b.inner
        assert isinstance(inner, RecordingServable)
        inner.gate.clear()
        tasks = [asyncio.create_task(b.infer(rows(10 * i))) for i in range(5)]
        await until(lambda: len(inner.batches) == 2)
        await asyncio.sleep(0.01)
        assert b.in_flight == 2 and len(inner.batches) == 2  # no third batch while two run
        inner.gate.set()
        answers = await asyncio.gather(*tasks)
        assert sum(inner.batches) == 5
        for i, answer in enumerate(answers):
            np.testing.assert_array_equal(answer["y"], rows(10 * i)["x"] * 2)

    run(go)


def test_hooks_see_queue_lengths_and_batch_sizes() -> None:
    async def go() -> None:
        lengths: list[int] = []
        sizes: list[int] = []
        b = batcher(max_batch=4, hooks=BatchingHooks(lengths.append, sizes.append))
        inner, first = await hold_first(b)
        tasks = [asyncio.create_task(b.infer(rows(10 * i, 2))) for i in range(3)]
        await until(lambda: b.queue_length == 3)
        inner.gate.set()
        await asyncio.gather(first, *tasks)
        assert sizes == [1, 4, 2]
        assert max(lengths) == 3 and lengths[-1] == 0

    run(go)


def test_a_failing_hook_does_not_break_batching() -> None:
    def broken(_n: int) -> None:
        raise RuntimeError("hook")

    async def go() -> None:
        b = batcher(hooks=BatchingHooks(broken, broken))
        out = await b.infer(rows(3))
        np.testing.assert_array_equal(out["y"], rows(3)["x"] * 2)

    run(go)


def test_close_closes_the_wrapped_servable() -> None:
    inner = RecordingServable()
    batcher(inner).close()
    assert inner.closed
