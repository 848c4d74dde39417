"""A generation's events on the event loop: what the engine (or the LM pipeline's worker) hands
over, read by the answer (:class:`EventStream`)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ovserve.genai.types import ChoiceDelta, GenerationStream
from ovserve.scheduling.gates import arrive

#: what the engine thread posts to a request's queue: deltas, an error, or None (the end)
Event = list[ChoiceDelta] | BaseException | None


class EventStream(GenerationStream):
    """A generation read from its event queue: deltas until None (the end); an error is raised.

    ``cancel`` stops the generation (the engine's or the worker's way); leaving the iteration
    calls it too. :meth:`ready` hands over the steps that arrived while the reader was busy.
    Events arrive on the loop through :meth:`offer`; with a taker (:meth:`deliver_directly`) the
    steps that come while the iteration waits for them, nothing queued, go to the taker at once
    (one call per hand-over), without waking the reader.
    ``pile_up`` (test gates only, :mod:`ovserve.scheduling.gates`): when that gate file exists, the
    iteration first waits for the generation's end, so that every step is waiting for the reader.
    """

    def __init__(
        self,
        events: asyncio.Queue[Event],
        cancel: Callable[[], None],
        prompt_tokens: int,
        pile_up: Path | None = None,
    ) -> None:
        self._events = events
        self._cancel = cancel
        self._pending: deque[Event] = deque()  # taken from the queue, not yet handed over
        self._pile_up = pile_up
        self.prompt_tokens = prompt_tokens
        self._take: Callable[[list[list[ChoiceDelta]]], bool] | None = None
        self._parked = False  # the iteration waits on the queue, nothing pending

    def deliver_directly(self, take: Callable[[list[list[ChoiceDelta]]], bool] | None) -> None:
        self._take = take

    def offer(self, events: list[Event]) -> None:
        """On the event loop: this stream's events of one hand-over, in order. While the iteration
        waits with nothing queued, the leading steps go to the taker (False: it cannot take them
        now; they are queued); anything else is queued for the iteration. A taker that fails
        queues its error instead, which the iteration raises."""
        take = self._take
        if take is not None and self._parked and self._events.empty():
            count = 0
            while count < len(events) and isinstance(events[count], list):
                count += 1
            if count:
                try:
                    taken = take(events[:count])  # type: ignore[arg-type]
                except Exception as exc:
                    events = [exc]
                else:
                    events = events[count:] if taken else events
        put = self._events.put_nowait
        for event in events:
            put(event)

    async def __aiter__(self) -> AsyncIterator[list[ChoiceDelta]]:
        try:
            if self._pile_up is not None and arrive(self._pile_up):
                await self._take_until_the_end()
            while True:
                if self._pending:
                    event = self._pending.popleft()
                else:
                    self._parked = True
                    try:
                        event = await self._events.get()
                    finally:
                        self._parked = False
                if event is None:
                    return
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            self.cancel()

    async def _take_until_the_end(self) -> None:
        while True:
            event = await self._events.get()
            self._pending.append(event)
            if event is None or isinstance(event, BaseException):
                return

    def ready(self) -> list[list[ChoiceDelta]]:
        steps: list[list[ChoiceDelta]] = []
        pending, events = self._pending, self._events
        while True:
            if not pending:
                if events.empty():
                    return steps
                pending.append(events.get_nowait())
            event = pending[0]
            if event is None or isinstance(event, BaseException):
                return steps  # the end or the error stays for the iteration
            steps.append(pending.popleft())  # type: ignore[arg-type]

    def cancel(self) -> None:
        self._cancel()
