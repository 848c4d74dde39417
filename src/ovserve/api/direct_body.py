"""Writing a streamed response's chunks straight to uvicorn's transport.

A streamed answer (server-sent events) sends many small chunks; through ASGI each one is a
``send`` coroutine awaited by the response's task, woken for it. :class:`DirectBody` lets the
code that makes a chunk on the event loop write it at once instead, in the HTTP/1.1 chunked
framing uvicorn set up with the response's headers: what uvicorn's ``send`` does for a body
chunk, without a task switch. It is used only between the headers and the last chunk, only
while the connection is open and its writing not paused (the transport's buffer is full: then
chunks go through ``send``, which waits for the buffer to drain), and the response still ends
through ``send`` (uvicorn writes the last chunk and finishes the request there).

It works on uvicorn's httptools protocol (the one ovserve runs, app/server.py) and recognises
it by the send callable's owner and its fields; anything else (another server, a wrapped
``send``) gets None from :meth:`DirectBody.of` and the caller keeps using ``send``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

#: the uvicorn response cycle's fields that the direct writes read
_FIELDS = ("transport", "flow", "disconnected", "response_started", "response_complete", "chunked_encoding")


class BodyWriter(Protocol):
    """Writes body chunks of a started response now, when :meth:`ready`."""

    def ready(self) -> bool: ...

    def write(self, data: bytes) -> None: ...


class DirectBody:
    """The body of one started, chunked uvicorn response, written directly (see the module)."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle

    @classmethod
    def of(cls, send: Callable[[dict[str, Any]], Awaitable[None]]) -> DirectBody | None:
        """The direct writer of the response ``send`` started (after ``http.response.start``), or
        None when ``send`` is not uvicorn's httptools response cycle or the body is not chunked."""
        cycle = getattr(send, "__self__", None)
        if cycle is None or type(cycle).__name__ != "RequestResponseCycle":
            return None
        if not type(cycle).__module__.startswith("uvicorn.protocols.http.httptools"):
            return None
        if not all(hasattr(cycle, name) for name in _FIELDS) or not hasattr(cycle.flow, "write_paused"):
            return None
        if cycle.chunked_encoding is not True or not cycle.response_started:
            return None
        return cls(cycle)

    def ready(self) -> bool:
        """Whether a chunk can be written now: connection open, writing not paused, not ended."""
        cycle = self._cycle
        return not (cycle.flow.write_paused or cycle.disconnected or cycle.response_complete)

    def write(self, data: bytes) -> None:
        """One non-empty body chunk, framed as uvicorn frames it (only when :meth:`ready`)."""
        self._cycle.transport.write(b"%x\r\n%b\r\n" % (len(data), data))
