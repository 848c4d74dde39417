"""The REST server's connection guard: bounded time and size for reading a request.

uvicorn's httptools protocol, as it comes, waits for ever for a request that never ends (a
slowloris client sending a byte a second, a Content-Length the body never reaches, a
connection that sends nothing), keeps a request head of any size in memory, and answers a
request it cannot parse with a plain-text "Invalid HTTP request received.". The protocol
here adds, per connection:

- a **read deadline**: a request's head and body must arrive within ``read_timeout``
  seconds plus one second per :data:`MIN_RATE` bytes received (so a large body on a slow
  but honest link still gets through). Past it the client gets 408 and the connection is
  closed. The clock starts with the connection or with the first byte of the next request,
  and stops once the body is complete (inference time never counts);
- a **head limit**: a request line plus headers over ``max_head`` bytes gets 431;
- parse errors answered as JSON ``{"error": ...}`` naming the problem (the parser's words:
  "Invalid method encountered", "Transfer-Encoding can't be present with Content-Length").

Every refusal closes the connection: after a malformed or timed-out request the byte stream
cannot be trusted to be at a request boundary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

#: the slowest upload rate (bytes per second) the read deadline allows for beyond its base
MIN_RATE = 64 * 1024
#: the largest request head (request line and headers) accepted, in bytes
MAX_HEAD_BYTES = 32 * 1024
#: after a refusal, how long the rest of what the client sends is read and dropped before the
#: connection closes (closing at once, with bytes unread, resets it: the client may lose the answer)
LINGER_SECONDS = 2.0


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request head past the limit."""


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read deadline, a head size limit and JSON parse errors.

    Subclasses made by :func:`guarded_protocol` set the two limits (uvicorn creates the protocol
    itself, so the limits travel as class attributes).
    """

    read_timeout: float = 30.0  # 0: no deadline
    max_head: int = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading = False  # a request is being read: the deadline runs
        self._head_done = False
        self._head_bytes = 0  # bytes received while the head is incomplete
        self._head_size = 0  # the head's parsed size so far
        self._started = 0.0
        self._received = 0
        self._timer: asyncio.TimerHandle | None = None
        self._draining = False

    # -- the deadline ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_reading()  # a connection that sends nothing is held no longer than a slow one

    def connection_lost(self, exc: Exception | None) -> None:
        self._reading = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _start_reading(self) -> None:
        self._reading = True
        self._head_done = False
        self._head_bytes = 0
        self._received = 0
        self._started = time.monotonic()
        if self.read_timeout > 0 and self._timer is None:
            self._timer = self.loop.call_later(self.read_timeout, self._check_deadline)

    def _stop_clock(self) -> None:
        """The deadline stops running. Its timer stays armed until the connection closes: firing
        between requests it does nothing, and within the next request on a kept-alive connection
        it re-arms for that request's deadline, which is never earlier. So no timer is made and
        cancelled per request (1.5 µs, on every REST request)."""
        self._reading = False

    def _check_deadline(self) -> None:
        self._timer = None
        if not self._reading or self.transport.is_closing():
            return
        allowed = self.read_timeout + self._received / MIN_RATE
        left = self._started + allowed - time.monotonic()
        if left > 0:
            self._timer = self.loop.call_later(left, self._check_deadline)
            return
        what = "request body" if self._head_done else "request head"
        self._refuse(
            HTTPStatus.REQUEST_TIMEOUT,
            f"Request timeout - the {what} did not arrive within {allowed:.0f} seconds "
            f"({self._received} bytes received)",
        )

    # -- reading -----------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # refused: what else arrives is dropped until the connection closes
        self._unset_keepalive_if_required()
        if not self._reading:
            self._start_reading()  # the first bytes of the next request on a kept-alive connection
        self._received += len(data)
        if not self._head_done:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._head_too_large()
            else:
                self._refuse(HTTPStatus.BAD_REQUEST, f"Invalid HTTP request - {exc}")
            return
        if not self._head_done and self._head_bytes > self.max_head:
            self._head_too_large()  # one header still arriving, past the limit already

    def _head_too_large(self) -> None:
        self._refuse(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"Request header fields too large - the request line and headers exceed {self.max_head} bytes",
        )

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client half-closed. In the middle of a request that is a 400 (a Content-Length the
        body never reached, a head cut short); the connection stays open to send it."""
        if not self._reading or not self._received or self._draining:
            return None
        what = "body" if self._head_done else "head"
        self._refuse(
            HTTPStatus.BAD_REQUEST,
            f"Incomplete request - the client ended the connection in the middle of the request {what} "
            f"({self._received} bytes received)",
        )
        return True

    def on_message_begin(self) -> None:
        self._head_done = False
        self._head_size = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._add_to_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._add_to_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _add_to_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.max_head:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_clock()
        super().on_message_complete()

    # -- refusing ----------------------------------------------------------------------
    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """Answer ``status`` with ``{"error": message}`` and close the connection."""
        self._stop_clock()
        log.info("REST connection from %s refused: %s %s", self.client, int(status), message)
        running = self.cycle if self.cycle is not None and not self.cycle.response_complete else None
        if running is not None:  # a request being read or served on this connection
            running.disconnected = True  # its own answer, if any, is not sent
            running.message_event.set()
            if running.response_started:
                self.transport.close()  # an answer is already on its way: it cannot be replaced
                return
        body = orjson.dumps({"error": message})
        head = (
            f"HTTP/1.1 {int(status)} {status.phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self._linger()

    def _linger(self) -> None:
        """Half-close and drop what the client still sends, for at most :data:`LINGER_SECONDS`."""
        self._draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def guarded_protocol(read_timeout: float, max_head: int = MAX_HEAD_BYTES) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` class with these limits, for ``uvicorn.Config(http=...)``."""
    return type("GuardedProtocol", (GuardedProtocol,), {"read_timeout": read_timeout, "max_head": max_head})
