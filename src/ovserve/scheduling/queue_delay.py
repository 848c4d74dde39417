"""The adaptive queue delay of dynamic batching: how long a batch that is not full waits.

``max_queue_delay_microseconds`` is, as in Triton, the *longest* a request may wait in the
queue for others to join its batch. Waiting pays only when another request is coming:
at one client at a time (concurrency 1) nothing can come, since the client's next
request waits for this one's answer, and every microsecond waited is added to its
latency; under load the queue fills anyway. So the batcher learns how often requests
arrive *while the model is busy* (a request queued or a batch running), and a batch
that is not full waits only for the next request it expects:

    gap    = busy time ÷ requests that arrived during it (decayed; infinite when none did)
    expect = the group's last arrival + gap
    send at  expect,  if expect <= the oldest request's arrival + max delay
             now,     otherwise (the next request is not expected within the maximum)

A closed loop of one client never has a request arrive while the model is busy, so its
gap is infinite and its requests leave at once: latency as without a delay. Under load
the gap is short and a batch waits for the requests expected within the maximum delay.
When the load falls, busy time passes with no arrival and the gap grows past the
maximum within a few busy periods.

Observations decay exponentially with busy time (the weight of one that is ``t`` busy
seconds old is ``exp(-t / horizon)``), so the estimate follows the load of the last
``horizon`` busy seconds; the horizon is :data:`HORIZON_DELAYS` maximum delays, long
enough to hold that many arrivals whenever a wait is worth anything.

Everything here is arithmetic on the times it is given: the caller owns the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

#: The rate's memory, in maximum queue delays of busy time.
HORIZON_DELAYS = 16


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time and timers, as an asyncio event loop provides them (the batcher's default)."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer: ...


class ArrivalRate:
    """The rate of requests arriving while the model is busy, decayed over busy time.

    The caller reports every arrival (:meth:`arrival`) and every return to idle
    (:meth:`idle`); whether an arrival came while busy is known here (an earlier arrival
    not yet followed by idle). Time only counts while busy: from any arrival to the next idle.
    """

    __slots__ = ("_count", "_horizon", "_last", "_span")

    def __init__(self, horizon: float) -> None:
        if horizon <= 0:
            raise ValueError(f"horizon must be > 0, got {horizon}")
        self._horizon = horizon
        self._count = 0.0  # decayed arrivals while busy
        self._span = 0.0  # decayed busy seconds
        self._last: float | None = None  # the last event while busy; None: idle

    def arrival(self, now: float) -> None:
        """A request arrived at ``now`` (after it, the model is busy)."""
        if self._last is not None:
            self._advance(now, 1.0)
        self._last = now

    def idle(self, now: float) -> None:
        """Nothing is queued or running any more, since ``now``."""
        if self._last is not None:
            self._advance(now, 0.0)
            self._last = None

    def _advance(self, now: float, arrived: float) -> None:
        assert self._last is not None
        elapsed = max(0.0, now - self._last)
        weight = math.exp(-elapsed / self._horizon)
        self._count = self._count * weight + arrived
        self._span = self._span * weight + self._horizon * (1.0 - weight)
        self._last = now

    def gap(self) -> float:
        """The mean busy time between two arrivals (``inf`` when none arrived while busy)."""
        if self._count <= 0.0:
            return math.inf
        return self._span / self._count


def send_at(oldest: float, last: float, max_delay: float, gap: float) -> float:
    """When a batch that is not full should leave the queue.

    ``oldest`` and ``last`` are the arrival times of its oldest and newest request,
    ``gap`` the expected time between arrivals. The batch waits for the next request
    expected before the oldest one has waited ``max_delay``; when none is, it is due
    at once (the returned time, ``oldest``, has passed).
    """
    expected = last + gap
    if expected <= oldest + max_delay:
        return expected
    return oldest


__all__ = ["HORIZON_DELAYS", "ArrivalRate", "Clock", "Timer", "send_at"]
