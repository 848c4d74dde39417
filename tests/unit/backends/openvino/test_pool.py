"""``SlotPool``: idle slots taken at once, calls that find none served in order, and no slot lost
to a call cancelled while it waited (also one cancelled just after a slot was handed to it)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from ovserve.backends.openvino.pool import SlotPool
from ovserve.backends.openvino.waiters import Slot


def slots(count: int) -> list[Slot]:
    return [Slot(cast(Any, f"request {index}")) for index in range(count)]


def test_idle_slots_are_taken_at_once_the_last_returned_first() -> None:
    async def main() -> None:
        a, b = slots(2)
        pool = SlotPool([a, b])
        assert (await pool.get(), pool.in_use) == (b, 1)
        assert (await pool.get(), pool.in_use) == (a, 2)
        pool.put(a)
        pool.put(b)
        assert (pool.in_use, await pool.get()) == (0, b)

    asyncio.run(main())


def test_waiting_calls_get_the_slots_given_back_in_their_order() -> None:
    async def main() -> None:
        (only,) = slots(1)
        pool = SlotPool([only])
        taken = await pool.get()
        order: list[str] = []

        async def call(name: str) -> None:
            slot = await pool.get()
            order.append(name)
            await asyncio.sleep(0)
            pool.put(slot)

        calls = [asyncio.create_task(call(name)) for name in "abc"]
        await asyncio.sleep(0)  # all three wait now
        assert order == [] and pool.in_use == 1
        pool.put(taken)
        await asyncio.gather(*calls)
        assert order == ["a", "b", "c"]
        assert pool.in_use == 0 and pool.idle == [only]

    asyncio.run(main())


def test_a_call_cancelled_while_it_waits_loses_no_slot() -> None:
    async def main() -> None:
        (only,) = slots(1)
        pool = SlotPool([only])
        taken = await pool.get()
        waiting = asyncio.create_task(pool.get())
        handed = asyncio.create_task(pool.get())
        later = asyncio.create_task(pool.get())
        await asyncio.sleep(0)
        waiting.cancel()  # still waiting: it leaves the queue
        await asyncio.sleep(0)
        pool.put(taken)  # handed to the next waiting call...
        handed.cancel()  # ...which is cancelled before it ran: the slot goes on to the next
        assert await later is only
        assert waiting.cancelled() and handed.cancelled()
        pool.put(only)
        assert pool.idle == [only] and pool.in_use == 0

    asyncio.run(main())
