"""The pool of a servable's infer requests: idle slots, and the calls waiting for one, in order.

What an ``asyncio.Queue`` of slots did, for the two operations a call makes, with fewer steps:
taking an idle slot is a ``list.pop`` (``Queue.get`` + ``put_nowait`` cost 13 Python-level calls
per request, ~1.5 µs hot, and more with cold caches: docs/performance.md, "KServe gRPC"), and
:attr:`SlotPool.idle` is a plain list, which the inline path (``OpenVINOServable.infer_now``)
takes a slot from and gives it back to without a call. The most recently returned slot is taken
first (its memory is the likeliest to be in cache). Calls that find no idle slot wait their turn,
first come first served; a slot given back goes straight to the first of them. Event loop only.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ovserve.backends.openvino.waiters import Slot


class SlotPool:
    """``slots`` infer requests: :meth:`get` one (waiting when none is idle), :meth:`put` it back."""

    __slots__ = ("_waiting", "idle", "size")

    def __init__(self, slots: list[Slot]) -> None:
        #: the idle slots; the last is taken first
        self.idle: list[Slot] = list(slots)
        self.size = len(slots)
        self._waiting: deque[asyncio.Future[Slot]] = deque()

    @property
    def in_use(self) -> int:
        """Slots taken and not given back yet (a slot handed to a waiting call counts as taken)."""
        return self.size - len(self.idle)

    async def get(self) -> Slot:
        """An idle slot; when none is, the first one given back after the calls that waited before."""
        if self.idle:
            return self.idle.pop()
        waiter: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot, then cancelled: pass it on
                self.put(waiter.result())
            elif waiter in self._waiting:  # not yet skipped by a put()
                self._waiting.remove(waiter)
            raise

    def put(self, slot: Slot) -> None:
        """Give ``slot`` back: to the first call still waiting, else to the idle slots."""
        waiting = self._waiting
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self.idle.append(slot)
