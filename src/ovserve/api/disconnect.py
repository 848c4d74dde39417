"""Cancelling a request's work when its client goes away (REST).

uvicorn reports a closed connection as the ``http.disconnect`` message of ``receive()``; once a
request's body was read, the next message is that one (or it comes once the response was sent).
An inference that is still running or queued when its client leaves is cancelled, so that its
queued work is dropped: :func:`run_until_disconnect`. Watching costs a task per request, so it
starts only for a call that has not answered after :data:`WATCH_AFTER_SECONDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

R = TypeVar("R")
Receive: TypeAlias = Callable[[], Awaitable[dict[str, Any]]]

#: A cancellable handler that has not answered after this many seconds starts watching for a
#: disconnect. Most answers come sooner, and skip the watcher task (about 8 µs a request).
WATCH_AFTER_SECONDS = 0.002


class Watch:
    """One request's disconnect watch: the handler's task, and whether the watch cancelled it."""

    __slots__ = ("answered", "cancelled", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.answered = False
        self.cancelled = False

    @classmethod
    def current(cls) -> Watch:
        """A watch over the running task."""
        task = asyncio.current_task()
        assert task is not None
        return cls(task)

    def disconnected(self) -> bool:
        """After a ``CancelledError``: whether this watch cancelled the task (the client went away),
        the cancellation then taken back so the task carries on; False when cancelled from elsewhere."""
        if not self.cancelled:
            return False
        uncancel = getattr(self.task, "uncancel", None)  # Python 3.11+
        if uncancel is not None:
            uncancel()
        return True


async def run_until_disconnect(call: Awaitable[R], receive: Receive) -> R | None:
    """Await ``call``, cancelled if the client disconnects first: None then (nobody to answer)."""
    watch = Watch.current()
    loop = asyncio.get_running_loop()
    timer = loop.call_later(WATCH_AFTER_SECONDS, start_watching, loop, receive, watch)
    try:
        return await call
    except asyncio.CancelledError:
        if not watch.disconnected():
            raise  # cancelled from elsewhere (shutdown)
        return None
    finally:
        watch.answered = True
        timer.cancel()


def start_watching(loop: asyncio.AbstractEventLoop, receive: Receive, watch: Watch) -> None:
    # The watcher is not cancelled when the answer comes (cheaper): uvicorn's receive() returns
    # http.disconnect once the response is sent, and the watcher then ends, leaving it alone.
    if not watch.answered:
        loop.create_task(cancel_on_disconnect(receive, watch))


async def cancel_on_disconnect(receive: Receive, watch: Watch) -> None:
    """After the body was read, the next message is ``http.disconnect``: the client went away
    (or the response was sent, and the request is answered)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    if not watch.answered:
        watch.cancelled = True
        watch.task.cancel()
