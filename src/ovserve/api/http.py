"""A thin ASGI application: a small router, one exception handler, no framework.

The per-request cost of the web layer is what a Python model server spends its time
on, so this is deliberately bare: the body is read whole (up to a limit), the route is
matched by a compiled regex, the handler returns bytes. Every exception becomes the
error JSON ``{"error": "<message>"}`` through the one code table in ``api.errors``.
gzip / deflate bodies are inflated and responses compressed here, for every route
(``api.compression``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from ovserve.api.compression import (
    ACCEPTED,
    MIN_COMPRESS_BYTES,
    BodyError,
    Inflater,
    compress,
    request_inflater,
    response_coding,
)
from ovserve.api.direct_body import DirectBody
from ovserve.api.disconnect import Watch, cancel_on_disconnect, run_until_disconnect
from ovserve.api.errors import as_serving_error, http_status
from ovserve.api.trace_context import TRACE_HEADERS
from ovserve.logs import REQUEST_ID, accepted_request_id

log = logging.getLogger(__name__)

JSON = b"application/json"
NO_CONTENT = 204


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[bytes, bytes]  # names lower-case
    body: bytes
    query: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        return self.headers.get(name)


@dataclass(slots=True)
class HttpResponse:
    status: int = 200
    body: bytes = b""
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    #: a streamed body (server-sent events): sent chunk by chunk after the headers, ``body`` unused;
    #: closed (``aclose``) as soon as the client goes away
    stream: AsyncIterator[bytes] | None = None


def json_response(value: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))


def error_response(status: int, message: str) -> HttpResponse:
    if status == NO_CONTENT:  # a pipeline whose demultiplexer gave nothing (OVMS): no body may follow
        return HttpResponse(status, b"")
    return HttpResponse(status, orjson.dumps({"error": message}))


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]

_PARAM = re.compile(r"\{(\w+)\}")
#: how many paths a router remembers the match of (then it starts again), and the longest it
#: remembers: at most 256 KiB of paths, whatever paths clients send
MATCH_CACHE_PATHS = 1024
MATCH_CACHE_PATH_LENGTH = 256
_Match = tuple[dict[str, "Handler"] | None, dict[str, str]]


class Router:
    """Routes ``(method, path)`` to a handler. Patterns use ``{name}`` for one path segment.

    A pattern that starts with ``^`` is taken as a full regular expression with named groups.
    Unknown paths answer 400 "Invalid request URL" and known paths with another method
    406 "Unsupported method", as OVMS does. A handler added with ``cancel_on_disconnect``
    is cancelled when the client closes the connection before the answer (inference:
    its queued work is dropped); others always run to the end.

    Routes are tried in the order they were added, the first match wins. A path's match
    is remembered (the scan of every route's regex costs ~4 µs a request; the lookup 0.2).
    """

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
        self._matched: dict[str, _Match] = {}
        self.cancellable: set[Handler] = set()

    def add(
        self,
        methods: str | Iterable[str],
        pattern: str,
        handler: Handler,
        *,
        cancel_on_disconnect: bool = False,
    ) -> None:
        if cancel_on_disconnect:
            self.cancellable.add(handler)
        if not pattern.startswith("^"):
            pattern = (
                "^"
                + _PARAM.sub(r"(?P<\1>[^/]+)", re.escape(pattern).replace(r"\{", "{").replace(r"\}", "}"))
                + "/?$"
            )
        compiled = re.compile(pattern)
        self._matched.clear()
        for method in [methods] if isinstance(methods, str) else methods:
            for existing, handlers in self._routes:
                if existing.pattern == compiled.pattern:
                    handlers[method] = handler
                    break
            else:
                self._routes.append((compiled, {method: handler}))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | HttpResponse:
        matched = self._matched.get(path)
        if matched is None:
            matched = self._scan(path)
            if len(path) <= MATCH_CACHE_PATH_LENGTH:
                if len(self._matched) >= MATCH_CACHE_PATHS:
                    self._matched.clear()
                self._matched[path] = matched
        handlers, params = matched
        if handlers is None:
            return error_response(400, "Invalid request URL")
        handler = handlers.get(method)
        if handler is None:
            return error_response(406, "Unsupported method")
        return handler, params.copy()  # the request's own: a handler may change it

    def _scan(self, path: str) -> _Match:
        """The handlers (by method) of the first route matching ``path`` and its parameters."""
        for pattern, handlers in self._routes:
            found = pattern.match(path)
            if found is not None:
                return handlers, {k: unquote(v) for k, v in found.groupdict().items() if v is not None}
        return None, {}


class RestApp:
    """The ASGI callable. ``max_body`` bounds request bodies as sent and as inflated (413 past it)."""

    def __init__(
        self,
        router: Router,
        max_body: int,
        make_request_id: Callable[[], str] | None = None,
        trace: bool = False,
    ) -> None:
        self.router = router
        self.max_body = max_body
        #: with JSON logs: makes ids for requests without x-request-id (None: no ids tracked)
        self.make_request_id = make_request_id
        #: with tracing on: hand each request's headers (traceparent) to the request path
        self.trace = trace

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":  # uvicorn runs with lifespan="off" (app/server.py): only HTTP comes here
            return
        if self.make_request_id is None:
            response = await self._handle(scope, receive)
        else:
            response = await self._handle_with_id(scope, receive, self.make_request_id)
        if response.stream is not None:
            await _send_stream(response, response.stream, receive, send)
            return
        headers = [
            (b"content-type", response.content_type),
            (b"content-length", str(len(response.body)).encode()),
        ]
        headers += response.headers
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _handle_with_id(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        make: Callable[[], str],
    ) -> HttpResponse:
        """``_handle`` with the request id set for its log lines and echoed as ``x-request-id``
        (on a new response: a handler may answer every request with one prebuilt response)."""
        given = next((value for key, value in scope["headers"] if key == b"x-request-id"), None)
        request_id = accepted_request_id(given, make)
        REQUEST_ID.set(request_id)  # uvicorn runs each request in a task of its own
        response = await self._handle(scope, receive)
        headers = [*response.headers, (b"x-request-id", request_id.encode())]
        return HttpResponse(response.status, response.body, response.content_type, headers, response.stream)

    async def _handle(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]]
    ) -> HttpResponse:
        path: str = scope["path"]
        if "/../" in path or path.endswith("/.."):
            return error_response(400, "Invalid request URL: path traversal")
        routed = self.router.match(scope["method"], path)
        if isinstance(routed, HttpResponse):
            return routed
        handler, params = routed
        headers = dict(scope["headers"])
        if self.trace:
            TRACE_HEADERS.set(headers)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return error_response(
                413, f"Request body of {int(declared)} bytes exceeds the limit of {self.max_body} bytes"
            )
        coding = headers.get(b"content-encoding")
        try:
            inflater = request_inflater(coding, self.max_body) if coding is not None else None
            first = await receive()
            body = _whole_body(first, self.max_body) if inflater is None else None
            if body is None:
                body = await self._read_body(receive, inflater, first)
        except BodyError as exc:
            answer = error_response(exc.status, exc.message)
            if exc.status == 415:
                answer.headers.append((b"accept-encoding", ACCEPTED))
            return answer
        if body is None:
            return HttpResponse(499)
        request = HttpRequest(scope["method"], path, params, headers, body, scope.get("query_string", b""))
        try:
            if handler in self.router.cancellable:
                answered = await run_until_disconnect(handler(request), receive)
                response = HttpResponse(499) if answered is None else answered
            else:
                response = await handler(request)
        except Exception as exc:
            return _error_answer(exc)
        accept = headers.get(b"accept-encoding")
        if accept is not None and response.status == 200 and len(response.body) >= MIN_COMPRESS_BYTES:
            return await _compressed(response, accept)
        return response

    async def _read_body(
        self,
        receive: Callable[[], Awaitable[dict[str, Any]]],
        inflater: Inflater | None,
        message: dict[str, Any],
    ) -> bytes | None:
        """The whole body from its first ``message`` on (inflated when ``inflater`` is given);
        None if the client went away."""
        chunks: list[bytes] = []
        size = 0
        while True:
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body:
                    raise BodyError(413, _too_large(self.max_body))
                if inflater is not None:
                    inflater.feed(chunk)
                else:
                    chunks.append(chunk)
            if not message.get("more_body", False):
                break
            message = await receive()
        if inflater is not None:
            return inflater.finish()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _whole_body(message: dict[str, Any], max_body: int) -> bytes | None:
    """The body when its first ``message`` holds all of it (the usual request), None otherwise."""
    if message.get("more_body", False) or message["type"] == "http.disconnect":
        return None
    body: bytes = message.get("body", b"")
    if len(body) > max_body:
        raise BodyError(413, _too_large(max_body))
    return body


def _too_large(max_body: int) -> str:
    return f"Request body exceeds the limit of {max_body} bytes"


async def _send_stream(
    response: HttpResponse,
    stream: AsyncIterator[bytes],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Send ``stream`` chunk by chunk; a client that disconnects cancels it at once (then closed).
    A stream with ``push_to`` is given the direct writer of the body (:mod:`.direct_body`), where
    the server allows it, to write chunks it makes on the loop without waking this task."""
    headers = [(b"content-type", response.content_type), (b"cache-control", b"no-cache"), *response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    push_to = getattr(stream, "push_to", None)
    if push_to is not None:
        direct = DirectBody.of(send)
        if direct is not None:
            push_to(direct)
    watch = Watch.current()
    watcher = asyncio.create_task(cancel_on_disconnect(receive, watch))
    try:
        async for data in stream:
            await send({"type": "http.response.body", "body": data, "more_body": True})
        watch.answered = True
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not watch.disconnected():
            raise  # cancelled from elsewhere (shutdown)
    finally:
        watch.answered = True
        watcher.cancel()
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _error_answer(exc: Exception) -> HttpResponse:
    """The error JSON for ``exc``. A function of its own: a local naming the exception in a frame
    its traceback holds makes a reference cycle, which keeps the request (and its body) alive
    until the cyclic garbage collector happens to run."""
    error = as_serving_error(exc)
    return error_response(http_status(error), error.message)


#: responses at least this long are compressed on a worker thread (zlib releases the GIL)
COMPRESS_OFF_LOOP_BYTES = 256 * 1024


async def _compressed(response: HttpResponse, accept: bytes) -> HttpResponse:
    """``response`` compressed as ``Accept-Encoding`` asks (unchanged if it asks for neither)."""
    coding = response_coding(accept)
    if coding is None:
        return response
    if len(response.body) >= COMPRESS_OFF_LOOP_BYTES:
        body = await asyncio.to_thread(compress, response.body, coding)
    else:
        body = compress(response.body, coding)
    headers = [*response.headers, (b"content-encoding", coding.encode()), (b"vary", b"accept-encoding")]
    return HttpResponse(response.status, body, response.content_type, headers)
