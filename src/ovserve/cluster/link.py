"""A worker's line to the supervisor.

Messages (tuples, see :mod:`ovserve.cluster.wire`):

- worker → supervisor: ``("ready",)`` once the initial model load ended;
  ``("broadcast", rid, op, payload)`` to run ``op`` on every *other* worker;
  ``("reply", cid, ok, value)`` answering a call.
- supervisor → worker: ``("call", cid, op, payload)`` to run one of this worker's
  handlers; ``("done", rid, replies)`` when every other worker answered a broadcast.

Handlers run as tasks of their own, so a long call (a model load) never holds up
another (a metrics scrape). A handler's exception becomes a failed reply carrying its
message; it never reaches the supervisor as an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from ovserve.cluster.wire import encode, read_message

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[Any]]


class Reply(NamedTuple):
    """One worker's answer to a broadcast call."""

    worker: int
    ok: bool
    value: Any  # the handler's result, or the error message when not ok


class PeerLink:
    """The worker end of the supervisor socket."""

    def __init__(self, sock: socket.socket, index: int) -> None:
        self.index = index
        self.handlers: dict[str, Handler] = {}
        self._sock = sock
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[list[Reply]]] = {}
        self._ids = itertools.count(1)
        self._reader_task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()

    async def start(self, on_lost: Callable[[], None]) -> None:
        """Start reading; ``on_lost`` runs once if the supervisor goes away."""
        reader, self._writer = await asyncio.open_connection(sock=self._sock)
        self._reader_task = asyncio.create_task(self._read(reader, on_lost))

    def ready(self) -> None:
        self._send(("ready",))

    async def broadcast(self, op: str, payload: Any = None) -> list[Reply]:
        """Run ``op`` on every other worker; their replies, in worker order."""
        if self._writer is None or self._writer.is_closing():
            return []
        rid = next(self._ids)
        future: asyncio.Future[list[Reply]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            self._send(("broadcast", rid, op, payload))
            return await future
        finally:
            self._pending.pop(rid, None)

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        for task in list(self._calls):
            task.cancel()
        if self._writer is not None:
            self._writer.close()

    # -- internals ----------------------------------------------------------------------------
    def _send(self, message: tuple[Any, ...]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode(message))

    async def _read(self, reader: asyncio.StreamReader, on_lost: Callable[[], None]) -> None:
        while True:
            message = await read_message(reader)
            if message is None:
                break
            kind = message[0]
            if kind == "call":
                _, cid, op, payload = message
                task = asyncio.create_task(self._answer(cid, op, payload))
                self._calls.add(task)
                task.add_done_callback(self._calls.discard)
            elif kind == "done":
                _, rid, replies = message
                future = self._pending.get(rid)
                if future is not None and not future.done():
                    future.set_result([Reply(*reply) for reply in replies])
            else:
                log.error("unexpected message from the supervisor: %r", kind)
        for future in self._pending.values():
            if not future.done():
                future.set_result([])
        log.warning("worker %d lost its supervisor", self.index)
        on_lost()

    async def _answer(self, cid: int, op: str, payload: Any) -> None:
        handler = self.handlers.get(op)
        if handler is None:
            self._send(("reply", cid, False, f"worker {self.index} cannot run {op!r} yet"))
            return
        try:
            value = await handler(payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._send(("reply", cid, False, str(exc) or type(exc).__name__))
        else:
            self._send(("reply", cid, True, value))
