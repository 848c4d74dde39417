"""What the REST guard (CORS, API key) adds per request, in process.

    .venv/bin/python bench/security_overhead.py [--calls 50000] [--rounds 15]

Calls a bare ASGI app (answers 200 with ``{}``) directly and behind ``RestGuard`` with a
request of seven ordinary headers: OVMS's default CORS and no key (every server has this
guard), the same with an ``Origin`` header (CORS headers added), and with an API key. Each
figure is the best of ``--rounds`` rounds (the least disturbed by other load), in µs per
call; the guard's cost is the difference to the bare app. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from ovserve.api.auth import ApiKey
from ovserve.api.cors import CorsPolicy
from ovserve.api.rest_guard import Asgi, RestGuard
from ovserve.config.types import CorsConfig

HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"python-requests/2.32"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept", b"*/*"),
    (b"connection", b"keep-alive"),
    (b"content-length", b"120"),
    (b"content-type", b"application/json"),
]


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(message: dict[str, Any]) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def best_us(app: Asgi, extra: list[tuple[bytes, bytes]], calls: int, rounds: int) -> float:
    scope = {"type": "http", "method": "POST", "path": "/v2/models/m/infer", "headers": HEADERS + extra}
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            await app(scope, _receive, _send)
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


async def main(calls: int, rounds: int) -> None:
    cors = CorsPolicy(CorsConfig())
    cases: list[tuple[str, Asgi, list[tuple[bytes, bytes]]]] = [
        ("bare app", bare, []),
        ("guard, default CORS, no Origin", RestGuard(bare, cors, None), []),
        (
            "guard, default CORS, with Origin",
            RestGuard(bare, cors, None),
            [(b"origin", b"https://a.example")],
        ),
        (
            "guard, API key",
            RestGuard(bare, cors, ApiKey("k" * 32)),
            [(b"authorization", b"Bearer " + b"k" * 32)],
        ),
    ]
    base = None
    print("| case | µs per call | added by the guard |\n| --- | --- | --- |")
    for name, app, extra in cases:
        us = await best_us(app, extra, calls, rounds)
        base = us if base is None else base
        print(f"| {name} | {us:.2f} | {us - base:+.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
