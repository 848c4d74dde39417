"""The REST API's guard: CORS and the API key, as one ASGI layer in front of the whole app.

It sits outside :class:`~ovserve.api.http.RestApp`, so every route, present and future
(``/v3`` included), is covered without any route knowing. Order per request:

1. ``OPTIONS``: answered here, never routed and never asked for a key (browsers send
   preflights without credentials): a CORS preflight per :class:`CorsPolicy`, any other
   ``OPTIONS`` 200 with no body, as OVMS does;
2. the API key, unless the path is server liveness / readiness: 401 with OVMS's text and
   ``WWW-Authenticate: Bearer``;
3. the app; CORS headers are added to its answer when the request has an ``Origin``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from ovserve.api.auth import OPEN_REST_PATHS, ApiKey
from ovserve.api.cors import CorsPolicy, Headers
from ovserve.api.errors import http_status
from ovserve.errors import Unauthenticated

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Asgi = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


class RestGuard:
    """ASGI middleware applying ``cors`` (None: no CORS headers) and ``api_key`` (None: open)."""

    def __init__(self, app: Asgi, cors: CorsPolicy | None, api_key: ApiKey | None) -> None:
        self.app = app
        self.cors = cors if cors is not None and cors.enabled else None
        self.api_key = api_key
        #: no CORS and no key: only OPTIONS needs this guard, other requests pass without their
        #: headers read (decided once here, not per request)
        self._open = self.cors is None and api_key is None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self._open and scope["method"] != "OPTIONS"):
            await self.app(scope, receive, send)
            return
        origin = authorization = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"authorization":
                authorization = value
        cors = self.cors if origin is not None else None
        if scope["method"] == "OPTIONS":
            await self._options(scope, send, cors, origin)
            return
        extra: Headers = cors.response_headers(origin) if cors is not None and origin is not None else []
        if (
            self.api_key is not None
            and scope["path"] not in OPEN_REST_PATHS
            and not self.api_key.accepts(authorization)
        ):
            error = Unauthenticated()
            body = orjson.dumps({"error": error.message})
            await _answer(send, http_status(error), body, [(b"www-authenticate", b"Bearer"), *extra])
            return
        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _options(
        self, scope: dict[str, Any], send: Send, cors: CorsPolicy | None, origin: bytes | None
    ) -> None:
        headers = dict(scope["headers"])
        method = headers.get(b"access-control-request-method")
        if cors is None or origin is None:
            await _answer(send, 200, b"", [])
        elif method is None:
            await _answer(send, 200, b"", cors.response_headers(origin))
        else:
            answer = cors.preflight(origin, method, headers.get(b"access-control-request-headers"))
            if answer.refusal is None:
                await _answer(send, 200, b"", answer.headers)
            else:
                await _answer(send, 403, orjson.dumps({"error": answer.refusal}), answer.headers)


async def _answer(send: Send, status: int, body: bytes, headers: Headers) -> None:
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + headers})
    await send({"type": "http.response.body", "body": body})
