"""The adaptive queue delay: the arrival rate it learns, the rule it applies, and the batcher using both.

Time is a manual clock: arrivals, idle periods and timers happen at the times the test
sets, and a timer fires only when the test advances the clock. No test sleeps or
measures time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ovserve.config.types import BatchingConfig
from ovserve.scheduling import BatchingServable
from ovserve.scheduling.queue_delay import ArrivalRate, send_at

from .test_batching import RecordingServable, rows, run, until

MS = 1e-3


class ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told to; its timers fire, in order, as it passes them."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, ManualTimer, Callable[..., object], tuple[Any, ...]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> ManualTimer:
        timer = ManualTimer()
        heapq.heappush(self._timers, (when, next(self._order), timer, callback, args))
        return timer

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while self._timers and self._timers[0][0] <= self.now:
            _, _, timer, callback, args = heapq.heappop(self._timers)
            if not timer.cancelled:
                callback(*args)


# -- the arrival rate ----------------------------------------------------------------------
def test_no_arrival_while_busy_means_no_next_request_is_expected() -> None:
    rate = ArrivalRate(horizon=1.0)
    assert rate.gap() == math.inf
    for i in range(10):  # one client at a time: each request finds the model idle
        rate.arrival(i * 10 * MS)
        rate.idle(i * 10 * MS + 2 * MS)
    assert rate.gap() == math.inf


def test_steady_arrivals_while_busy_give_their_spacing() -> None:
    rate = ArrivalRate(horizon=1.0)
    for i in range(200):
        rate.arrival(i * MS)
    assert rate.gap() == pytest.approx(MS, rel=0.01)


def test_idle_time_does_not_count() -> None:
    rate = ArrivalRate(horizon=1.0)
    rate.arrival(0.0)
    rate.arrival(MS)
    rate.idle(2 * MS)
    rate.arrival(1000.0)  # long idle: neither an arrival while busy nor busy time
    rate.arrival(1000.0 + MS)
    assert rate.gap() == pytest.approx(1.5 * MS, rel=0.01)  # busy 3 ms, 2 arrivals while busy


def test_busy_time_without_arrivals_makes_the_gap_grow() -> None:
    rate = ArrivalRate(horizon=0.1)
    for i in range(100):
        rate.arrival(i * MS)
    learned = rate.gap()
    now = 1.0
    gaps = []
    for _ in range(10):  # the load has gone: lone requests, each busy 10 ms
        rate.arrival(now)
        rate.idle(now + 10 * MS)
        gaps.append(rate.gap())
        now += 1.0
    assert learned < gaps[0] < gaps[-1]
    assert gaps == sorted(gaps)
    assert gaps[-1] > 100 * learned  # a horizon of busy time without an arrival


def test_the_horizon_must_be_positive() -> None:
    with pytest.raises(ValueError, match="horizon"):
        ArrivalRate(horizon=0.0)


# -- the rule ----------------------------------------------------------------------------
def test_a_batch_waits_for_a_request_expected_within_the_max_delay() -> None:
    assert send_at(oldest=1.0, last=1.5, max_delay=2.0, gap=0.5) == 2.0


def test_a_batch_leaves_at_once_when_the_next_request_is_not_expected_in_time() -> None:
    assert send_at(oldest=1.0, last=1.5, max_delay=2.0, gap=2.0) == 1.0
    assert send_at(oldest=1.0, last=1.0, max_delay=2.0, gap=math.inf) == 1.0


# -- the batcher -------------------------------------------------------------------------
def adaptive_batcher(clock: ManualClock, delay_s: float, max_batch: int = 8) -> BatchingServable:
    config = BatchingConfig(max_batch, int(delay_s * 1e6), adaptive_queue_delay=True)
    return BatchingServable(RecordingServable(), config, clock=clock)


def recording(b: BatchingServable) -> RecordingServable:
    assert isinstance(b.inner, RecordingServable)
    return b.inner


async def turns(n: int = 20) -> None:
    """Let the loop run what is ready (no time passes on the manual clock)."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_one_client_at_a_time_never_waits_for_the_delay() -> None:
    async def go() -> None:
        clock = ManualClock()
        b = adaptive_batcher(clock, delay_s=60.0)
        inner = recording(b)
        for i in range(5):
            inner.gate.clear()
            inner.started.clear()
            pending = asyncio.create_task(b.infer(rows(10 * i)))
            await until(inner.started.is_set)  # it runs at once: no timer fired, none could
            clock.advance(0.002)  # the model is busy 2 ms...
            inner.gate.set()
            answer = await pending
            np.testing.assert_array_equal(answer["y"], rows(10 * i)["x"] * 2)
            clock.advance(0.001)  # ...and the client thinks 1 ms: idle time, which must not count
        assert inner.batches == [1, 1, 1, 1, 1]

    run(go)


async def learn_and_hold(
    b: BatchingServable, clock: ManualClock, spacing: float, count: int
) -> asyncio.Future[Any]:
    """A first request runs (held); ``count`` more arrive ``spacing`` apart while it does."""
    inner = recording(b)
    inner.gate.clear()
    first = asyncio.create_task(b.infer(rows(1000)))
    await until(inner.started.is_set)
    tasks = []
    for i in range(count):
        clock.advance(spacing)
        tasks.append(asyncio.create_task(b.infer(rows(10 * i))))
        await turns()
    assert b.queue_length == count
    inner.gate.set()
    await first
    return asyncio.gather(*tasks)


def test_under_load_a_batch_waits_for_the_requests_expected_within_the_max_delay() -> None:
    async def go() -> None:
        clock = ManualClock()
        b = adaptive_batcher(clock, delay_s=10.0)
        waiting = await learn_and_hold(b, clock, spacing=1.0, count=3)  # one arrival a second
        await turns()
        assert recording(b).batches == [1] and b.queue_length == 3  # the next is expected in ~1 s
        clock.advance(0.5)
        late = asyncio.create_task(b.infer(rows(99)))
        await turns()
        assert recording(b).batches == [1] and b.queue_length == 4
        clock.advance(1.0)  # past the expected arrival: none came, the batch goes
        await asyncio.gather(waiting, late)
        assert recording(b).batches == [1, 4]

    run(go)


def test_under_light_load_a_batch_does_not_wait_for_a_request_expected_too_late() -> None:
    async def go() -> None:
        clock = ManualClock()
        b = adaptive_batcher(clock, delay_s=10.0)
        # arrivals ~10 s apart while busy: the next is expected after the oldest's 10 s are up
        waiting = await learn_and_hold(b, clock, spacing=20.0, count=2)
        await waiting  # the clock stands still: a fixed 10 s delay would hold these two
        assert recording(b).batches == [1, 2]

    run(go)


def test_the_fixed_delay_is_kept_when_adaptive_is_off() -> None:
    async def go() -> None:
        clock = ManualClock()
        config = BatchingConfig(8, 10_000_000, adaptive_queue_delay=False)
        b = BatchingServable(RecordingServable(), config, clock=clock)
        lone = asyncio.create_task(b.infer(rows(0)))
        await turns()
        assert recording(b).batches == [] and b.queue_length == 1
        clock.advance(9.0)
        await turns()
        assert recording(b).batches == []
        clock.advance(1.0)
        await lone
        assert recording(b).batches == [1]

    run(go)
