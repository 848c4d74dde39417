"""Hostile HTTP traffic over raw sockets: each gets a 4xx with a JSON message naming the problem, within a
bounded time; the server stays up, other clients are served, and memory comes back.

The server here has a short read deadline (``--rest_read_timeout_seconds 2``), so that the tests of slow
clients end in seconds: the deadline is what bounds them, not the tests' patience.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from models import write_config
from serverproc import HOST, ServerProcess, rss

READ_TIMEOUT = 2
LIMIT = 64 * 1024 * 1024
GOOD = json.dumps(
    {"inputs": [{"name": "in", "shape": [1, 10], "datatype": "FP32", "data": list(range(10))}]}
).encode()
INFER = b"POST /v2/models/identity_fp32/infer HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def guarded(repo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("hostile")
    names = ("identity_fp32", "dynamic", "strings")
    config = write_config(root / "config.json", {name: repo[name] for name in names})
    server = ServerProcess(
        [
            "--config_path",
            str(config),
            "--rest_read_timeout_seconds",
            str(READ_TIMEOUT),
            "--max_request_bytes",
            str(LIMIT),
        ],
        root / "log.txt",
    )
    server.start()
    yield server
    assert server.stop() == 0
    assert "Traceback" not in server.log()


def exchange(server: ServerProcess, data: bytes, *, half_close: bool = False, wait: float = 15) -> bytes:
    """Send ``data`` on a new connection; everything the server answers until it closes."""
    with socket.create_connection((HOST, server.rest_port), timeout=wait) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def answer(raw: bytes) -> tuple[int, str]:
    """The status and the ``error`` text of the first response in ``raw``."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    message = json.loads(body[:length]).get("error", "")
    assert "Traceback" not in message
    return status, message


def good_request(server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}", connection_timeout=10)
    tensor = httpclient.InferInput("in", [1, 10], "FP32")
    data = np.arange(10, dtype=np.float32).reshape(1, 10)
    tensor.set_data_from_numpy(data)
    np.testing.assert_array_equal(client.infer("identity_fp32", [tensor]).as_numpy("out"), data)


def test_content_length_past_the_body_then_half_close(guarded: ServerProcess) -> None:
    raw = exchange(guarded, INFER + b"Content-Length: 1000\r\n\r\n" + GOOD, half_close=True)
    status, message = answer(raw)
    assert status == 400 and "ended the connection in the middle of the request body" in message


def test_content_length_past_the_body_then_silence(guarded: ServerProcess) -> None:
    raw = exchange(guarded, INFER + b"Content-Length: 1000\r\n\r\n" + GOOD)
    status, message = answer(raw)
    assert status == 408 and "request body did not arrive" in message


def test_lying_smaller_content_length(guarded: ServerProcess) -> None:
    raw = exchange(guarded, INFER + b"Content-Length: 20\r\nConnection: close\r\n\r\n" + GOOD)
    status, message = answer(raw)
    assert status == 412 and "not valid json" in message


def test_garbage_after_a_good_request_on_a_kept_alive_connection(guarded: ServerProcess) -> None:
    with socket.create_connection((HOST, guarded.rest_port), timeout=15) as sock:
        sock.sendall(INFER + f"Content-Length: {len(GOOD)}\r\n\r\n".encode() + GOOD)
        first = b""
        while b'"outputs"' not in first or not first.endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GARBAGE\r\n\r\n")
        assert answer(read_all(sock)) == (400, "Invalid HTTP request - Invalid method encountered")


def test_chunked_body(guarded: ServerProcess) -> None:
    chunked = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (GOOD[:30], GOOD[30:]))
        + b"0\r\n\r\n"
    )
    raw = exchange(guarded, INFER + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked)
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
    bad = exchange(guarded, INFER + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + GOOD + b"\r\n0\r\n\r\n")
    assert answer(bad) == (400, "Invalid HTTP request - Invalid character in chunk size")
    both = exchange(guarded, INFER + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert answer(both)[0] == 400 and "Transfer-Encoding" in answer(both)[1]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"GARBAGE\r\n\r\n", "Invalid method encountered"),
        (b"GET /v2 HTTP/9.9\r\n\r\n", "Invalid HTTP version"),
        (b"GET /v2 HTTP/1.1\r\nno colon here\r\n\r\n", "Invalid header token"),
        (b"POST /v2 HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "Invalid character in Content-Length"),
    ],
)
def test_invalid_request(guarded: ServerProcess, line: bytes, problem: str) -> None:
    assert answer(exchange(guarded, line)) == (400, f"Invalid HTTP request - {problem}")


@pytest.mark.parametrize("size", [64 * 1024, 4 * 1024 * 1024])
def test_header_too_large(guarded: ServerProcess, size: int) -> None:
    raw = exchange(guarded, b"GET /v2/health/ready HTTP/1.1\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
    status, message = answer(raw)
    assert status == 431 and "headers exceed 32768 bytes" in message


def test_a_connection_that_sends_nothing_is_closed(guarded: ServerProcess) -> None:
    raw = exchange(guarded, b"")
    assert answer(raw)[0] == 408


def test_slowloris(guarded: ServerProcess) -> None:
    """50 connections send a request head a byte at a time; a normal client is served meanwhile, and
    the read deadline ends every slow connection with 408."""
    opened = time.monotonic()
    slow = [socket.create_connection((HOST, guarded.rest_port), timeout=15) for _ in range(50)]
    stop = threading.Event()

    def drip() -> None:
        for byte in INFER:
            for sock in slow:
                with contextlib.suppress(OSError):  # refused and closed: the deadline did its job
                    sock.send(bytes([byte]))
            if stop.wait(0.5):
                return

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        for _ in range(20):
            good_request(guarded)
        if time.monotonic() - opened < READ_TIMEOUT:  # before the deadline, every slow one is still open
            readable, _, _ = select.select(slow, [], [], 0)
            assert readable == []
        for sock in slow:
            status, message = answer(read_all(sock))
            assert status == 408 and "request head did not arrive" in message
    finally:
        stop.set()
        dripper.join()
        for sock in slow:
            sock.close()
    good_request(guarded)


def test_body_past_the_limit_does_not_grow_memory(guarded: ServerProcess) -> None:
    """Refused from its Content-Length unread; a chunked one is read up to the limit, no further."""
    body = b"1" * (3 * LIMIT)
    before = rss(guarded)
    for headers in ({}, {"Transfer-Encoding": "chunked"}):
        data: object = (
            body if not headers else (body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20))
        )
        reply = requests.post(
            f"{guarded.rest_url}/v2/models/dynamic/infer", data=data, headers=headers, timeout=60
        )
        assert reply.status_code == 413 and str(LIMIT) in reply.json()["error"]
    assert rss(guarded) - before < len(body) // 2


def test_fifty_megabyte_array_for_a_small_input(guarded: ServerProcess) -> None:
    """Decoding must not multiply the body: the peak stays within a few times its size, and the
    memory comes back (the body is dropped with the request)."""
    values = b",".join([b"1.5"] * 12_500_000)
    kserve = b'{"inputs":[{"name":"in","shape":[1,10],"datatype":"FP32","data":[' + values + b"]}]}"
    tfs = b'{"inputs":{"in":[' + values + b"]}}"
    dynamic = kserve.replace(b'"in","shape":[1,10]', b'"x","shape":[1,4]')
    cases = [
        ("/v2/models/identity_fp32/infer", kserve, "takes at most 10"),
        ("/v1/models/identity_fp32:predict", tfs, "takes at most 10"),
        ("/v2/models/dynamic/infer", dynamic, "Expected: 4 (shape [1, 4]); Actual: 12500000"),
    ]
    before = rss(guarded)
    for path, body, problem in cases:
        for _ in range(3):
            reply = requests.post(guarded.rest_url + path, data=body, timeout=120)
            assert reply.status_code == 400 and problem in reply.json()["error"]
    assert rss(guarded, "VmHWM") - before < 4 * len(kserve)
    assert rss(guarded) - before < 2 * len(kserve)  # 9 bodies kept would be 9 times it


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/v2/models/dynamic/infer", b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":'),
        ("/v1/models/dynamic:predict", b'{"inputs":{"x":'),
    ],
)
def test_nesting_100000_deep(guarded: ServerProcess, path: str, prefix: bytes) -> None:
    body = prefix + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    reply = requests.post(guarded.rest_url + path, data=body, timeout=30)
    assert reply.status_code == 412 and "depth limit exceeded" in reply.json()["error"]


def test_disconnect_mid_body_and_mid_response(guarded: ServerProcess) -> None:
    for _ in range(10):
        with socket.create_connection((HOST, guarded.rest_port)) as sock:
            sock.sendall(INFER + f"Content-Length: {len(GOOD)}\r\n\r\n".encode() + GOOD[:40])
        with socket.create_connection((HOST, guarded.rest_port)) as sock:
            big = json.dumps(
                {"inputs": [{"name": "x", "shape": [50000, 4], "datatype": "FP32", "data": [1.0] * 200000}]}
            ).encode()
            sock.sendall(
                b"POST /v2/models/dynamic/infer HTTP/1.1\r\nHost: x\r\n"
                + f"Content-Length: {len(big)}\r\n\r\n".encode()
                + big
            )
            sock.recv(100)  # the answer has started; leave in the middle of it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    good_request(guarded)


def test_zz_still_serving(guarded: ServerProcess) -> None:
    assert guarded.alive()
    good_request(guarded)
