"""Writing a streamed body straight to uvicorn's transport, on a real uvicorn server (ovserve's
protocol class) and a real HTTP client: the chunks written directly and those sent through ASGI
make one well-framed chunked body; anything but uvicorn's own ``send`` gets no direct writer."""

from __future__ import annotations

import asyncio
import http.client
import socket
from typing import Any

import uvicorn

from ovserve.api.direct_body import DirectBody
from ovserve.api.http_guard import guarded_protocol


def test_direct_chunks_and_sent_chunks_make_one_chunked_body() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        seen["before_start"] = DirectBody.of(send)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        direct = DirectBody.of(send)
        seen["direct"] = direct is not None

        async def wrapped(message: dict[str, Any]) -> None:
            await send(message)

        seen["wrapped"] = DirectBody.of(wrapped)
        assert direct is not None and direct.ready()
        direct.write(b"one,")
        await send({"type": "http.response.body", "body": b"two,", "more_body": True})
        direct.write(b"three")
        await send({"type": "http.response.body", "body": b""})
        seen["after_end"] = direct.ready()

    async def main() -> tuple[int, bytes, str | None]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, http=guarded_protocol(30.0), lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)

        def get() -> tuple[int, bytes, str | None]:
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            client.request("GET", "/")
            response = client.getresponse()
            answer = (response.status, response.read(), response.getheader("transfer-encoding"))
            client.close()
            return answer

        try:
            return await asyncio.to_thread(get)
        finally:
            server.should_exit = True
            await serving

    status, body, coding = asyncio.run(main())
    assert (status, body, coding) == (200, b"one,two,three", "chunked")
    assert seen == {"before_start": None, "direct": True, "wrapped": None, "after_end": False}
