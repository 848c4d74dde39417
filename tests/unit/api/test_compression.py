"""gzip / deflate request bodies and responses: the codec, then through the ASGI app."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from typing import Any

import orjson
import pytest

from ovserve.api.compression import (
    MIN_COMPRESS_BYTES,
    BodyError,
    Inflater,
    compress,
    request_inflater,
    response_coding,
)
from ovserve.api.http import HttpRequest, HttpResponse, RestApp, Router

TEXT = b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}' * 50


def inflate(body: bytes, coding: str = "gzip", limit: int = 1 << 20, chunk: int = 0) -> bytes:
    inflater = Inflater(coding, limit)
    step = chunk or max(len(body), 1)
    for start in range(0, len(body), step):
        inflater.feed(body[start : start + step])
    return inflater.finish()


def bad_checksum(packed: bytes) -> bytes:
    """``packed`` (gzip) with its CRC-32 trailer damaged."""
    damaged = bytearray(packed)
    damaged[-6] ^= 0xFF
    return bytes(damaged)


# -- the codec -------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [0, 1, 7, 1000])
def test_gzip_and_deflate_bodies_inflate_whatever_the_chunking(chunk: int) -> None:
    assert inflate(gzip.compress(TEXT), "gzip", chunk=chunk) == TEXT
    assert inflate(zlib.compress(TEXT), "deflate", chunk=chunk) == TEXT


def test_several_gzip_members_are_one_body() -> None:
    body = gzip.compress(TEXT[:100]) + gzip.compress(TEXT[100:])
    assert inflate(body, chunk=13) == TEXT


def test_an_empty_body_stays_empty() -> None:
    assert inflate(b"") == b""


def test_a_body_that_inflates_past_the_limit_stops_there() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    inflater = Inflater("gzip", 1 << 20)
    with pytest.raises(BodyError) as err:
        for start in range(0, len(bomb), 4096):
            inflater.feed(bomb[start : start + 4096])
    assert err.value.status == 413
    assert err.value.message == f"Decompressed request body exceeds the limit of {1 << 20} bytes"
    assert inflater.inflated_bytes == (1 << 20) + 1  # stopped one byte past the limit
    assert inflate(gzip.compress(b"\0" * (1 << 20)), limit=1 << 20) == b"\0" * (1 << 20)  # exactly: fine


@pytest.mark.parametrize(
    ("body", "coding", "problem"),
    [
        (b"not compressed at all", "gzip", "incorrect header check"),
        (gzip.compress(TEXT)[:-20], "gzip", "the compressed stream is incomplete"),
        (zlib.compress(TEXT)[:40], "deflate", "the compressed stream is incomplete"),
        (zlib.compress(TEXT) + b"junk", "deflate", "data after the end of the compressed stream"),
        (gzip.compress(TEXT) + b"junk", "gzip", "incorrect header check"),
        (b"\x78\x9c\xff\xff\xff\xff", "deflate", "invalid block type"),
        (bad_checksum(gzip.compress(TEXT)), "gzip", "incorrect data check"),
    ],
)
def test_corrupt_bodies_are_400_naming_the_coding(body: bytes, coding: str, problem: str) -> None:
    with pytest.raises(BodyError) as err:
        inflate(body, coding)
    assert err.value.status == 400
    assert err.value.message.startswith(f"Request body is not valid {coding} data (")
    assert problem in err.value.message


def test_content_encoding_header_values() -> None:
    assert request_inflater(None, 10) is None
    assert request_inflater(b"identity", 10) is None
    assert request_inflater(b"", 10) is None
    inflater = request_inflater(b" GZip ", 10)
    assert inflater is not None and inflater.coding == "gzip"
    inflater = request_inflater(b"x-gzip", 10)
    assert inflater is not None and inflater.coding == "gzip"
    inflater = request_inflater(b"deflate", 10)
    assert inflater is not None and inflater.coding == "deflate"
    for unknown in (b"br", b"gzip, deflate", b"compress"):
        with pytest.raises(BodyError) as err:
            request_inflater(unknown, 10)
        assert err.value.status == 415
        assert "Unsupported Content-Encoding" in err.value.message
        assert "supported: gzip, deflate, identity" in err.value.message


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (b"gzip", "gzip"),
        (b"deflate", "deflate"),
        (b"gzip, deflate", "gzip"),
        (b"deflate, gzip", "deflate"),
        (b"gzip;q=0.5, deflate", "deflate"),
        (b"gzip; q=0.9, identity; q=0.5", "gzip"),
        (b"identity", None),
        (b"gzip;q=0.5, identity", None),
        (b"gzip;q=0", None),
        (b"br, *", None),
        (b"gzip;q=abc, deflate;q=0.1", "deflate"),
        (b"", None),
    ],
)
def test_accept_encoding_weights(accept: bytes, chosen: str | None) -> None:
    assert response_coding(accept) == chosen


def test_compress_round_trips() -> None:
    assert gzip.decompress(compress(TEXT, "gzip")) == TEXT
    assert zlib.decompress(compress(TEXT, "deflate")) == TEXT


# -- through the ASGI app --------------------------------------------------------------------
async def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, request.body)


async def size(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, orjson.dumps({"size": len(request.body)}))


async def fail(request: HttpRequest) -> HttpResponse:
    return HttpResponse(400, b'{"error": "' + b"x" * 2000 + b'"}')


def app(limit: int = 1 << 20) -> RestApp:
    router = Router()
    router.add("POST", "/echo", echo)
    router.add("POST", "/size", size, cancel_on_disconnect=True)
    router.add("POST", "/fail", fail)
    return RestApp(router, max_body=limit)


def call(
    rest: RestApp, path: str, body: bytes, headers: dict[bytes, bytes], chunk: int = 0
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []
    step = chunk or max(len(body), 1)
    parts = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
    queue = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
    ]

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)  # the client waits for its answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-length", str(len(body)).encode()), *headers.items()],
    }
    asyncio.run(rest(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def test_compressed_requests_reach_the_handler_inflated() -> None:
    for coding, packed in (("gzip", gzip.compress(TEXT)), ("deflate", zlib.compress(TEXT))):
        status, _, body = call(app(), "/size", packed, {b"content-encoding": coding.encode()}, chunk=100)
        assert (status, orjson.loads(body)) == (200, {"size": len(TEXT)})


def test_request_errors_through_the_app() -> None:
    status, headers, body = call(app(), "/echo", TEXT, {b"content-encoding": b"br"})
    assert status == 415 and headers[b"accept-encoding"] == b"gzip, deflate"
    assert "Unsupported Content-Encoding 'br'" in orjson.loads(body)["error"]
    status, _, body = call(app(), "/echo", TEXT, {b"content-encoding": b"gzip"})
    assert status == 400 and "not valid gzip data" in orjson.loads(body)["error"]
    bomb = gzip.compress(b"\0" * (8 << 20))
    status, _, body = call(app(), "/echo", bomb, {b"content-encoding": b"gzip"}, chunk=1024)
    assert status == 413 and orjson.loads(body)["error"] == (
        f"Decompressed request body exceeds the limit of {1 << 20} bytes"
    )
    status, _, body = call(app(limit=100), "/echo", gzip.compress(TEXT), {b"content-encoding": b"gzip"})
    assert status == 413  # the compressed body alone is past the limit


def test_responses_are_compressed_when_the_client_asks() -> None:
    status, headers, body = call(app(), "/echo", TEXT, {b"accept-encoding": b"gzip, deflate"})
    assert (
        status == 200 and headers[b"content-encoding"] == b"gzip" and headers[b"vary"] == b"accept-encoding"
    )
    assert int(headers[b"content-length"]) == len(body) < len(TEXT)
    assert gzip.decompress(body) == TEXT
    status, headers, body = call(app(), "/echo", TEXT, {b"accept-encoding": b"deflate"})
    assert headers[b"content-encoding"] == b"deflate" and zlib.decompress(body) == TEXT
    big = TEXT * 100  # compressed on a worker thread
    status, headers, body = call(app(), "/echo", big, {b"accept-encoding": b"gzip"})
    assert headers[b"content-encoding"] == b"gzip" and gzip.decompress(body) == big


def test_responses_that_stay_as_they_are() -> None:
    status, headers, body = call(app(), "/echo", TEXT, {})
    assert b"content-encoding" not in headers and body == TEXT
    status, headers, body = call(app(), "/echo", TEXT, {b"accept-encoding": b"identity, gzip;q=0.5"})
    assert b"content-encoding" not in headers and body == TEXT
    small = TEXT[: MIN_COMPRESS_BYTES - 1]
    status, headers, body = call(app(), "/echo", small, {b"accept-encoding": b"gzip"})
    assert b"content-encoding" not in headers and body == small
    status, headers, body = call(app(), "/fail", b"", {b"accept-encoding": b"gzip"})
    assert status == 400 and b"content-encoding" not in headers and orjson.loads(body)["error"]
