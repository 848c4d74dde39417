"""The harness floor of bench/genai.py: an HTTP server that streams a finished completion at once.

``python null_sse.py PORT TOKENS`` answers every ``POST`` (any path) as soon as its body has
arrived: a server-sent-event stream of one chunk with the first token's text, one chunk with the
rest and ``finish_reason``, the usage chunk (``TOKENS`` completion tokens) and ``[DONE]``, in one
write; then it closes the connection. No model, no parsing beyond the framing: what a round against
it takes is what the client, the connections and the least a streaming server must send cost on
this machine, which no server measured by the same client can go under. Standard library only
(asyncio's protocol API, the cheapest Python server there is).
"""

from __future__ import annotations

import asyncio
import json
import sys


def _event(fields: dict[str, object]) -> str:
    return (
        "data: "
        + json.dumps({"id": "cmpl-null", "object": "text_completion", "model": "null", **fields})
        + "\n\n"
    )


def response(tokens: int) -> bytes:
    """The whole HTTP response: head and a chunked body holding every event."""
    first = _event({"choices": [{"index": 0, "text": "a", "finish_reason": None}]})
    rest = _event({"choices": [{"index": 0, "text": "a" * (tokens - 1), "finish_reason": "length"}]})
    usage = _event({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": tokens}})
    body = (first + rest + usage + "data: [DONE]\n\n").encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
    return head + b"connection: close\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


class _Answer(asyncio.Protocol):
    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.received = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        end = self.received.find(b"\r\n\r\n")
        if end < 0 or self.transport is None:
            return
        length = 0
        for line in self.received[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.received) >= end + 4 + length:
            self.transport.write(self.answer)
            self.transport.close()


async def serve(port: int, tokens: int) -> None:
    answer = response(tokens)
    server = await asyncio.get_running_loop().create_server(lambda: _Answer(answer), "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
