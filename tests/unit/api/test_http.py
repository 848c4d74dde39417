from __future__ import annotations

import asyncio
from typing import Any

import orjson

from ovserve.api.http import HttpRequest, HttpResponse, RestApp, Router
from ovserve.errors import InvalidInput


async def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, orjson.dumps({"params": request.params, "size": len(request.body)}))


async def bad(request: HttpRequest) -> HttpResponse:
    raise InvalidInput("input x is wrong")


async def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("internal detail")


def call(
    app: RestApp, method: str, path: str, body: bytes = b"", chunks: int = 1
) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    parts = [body[i::chunks] for i in range(chunks)] if chunks > 1 else [body]
    queue = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-length", str(len(body)).encode())],
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], orjson.loads(sent[1]["body"]) if sent[1]["body"] else {}


def app() -> RestApp:
    router = Router()
    router.add("POST", "/v2/models/{name}/infer", ok)
    router.add("GET", "/v2/models/{name}", ok)
    router.add("POST", "/bad", bad)
    router.add("POST", "/boom", boom)
    router.add("POST", r"^/v1/models/(?P<name>[^/:]+):predict$", ok)
    return RestApp(router, max_body=100)


def test_routes_and_url_decoded_params() -> None:
    assert call(app(), "POST", "/v2/models/my%20model/infer", b"abc") == (
        200,
        {"params": {"name": "my model"}, "size": 3},
    )
    assert call(app(), "GET", "/v2/models/m/")[0] == 200
    assert call(app(), "POST", "/v1/models/m:predict")[1]["params"] == {"name": "m"}


def test_body_in_chunks() -> None:
    assert call(app(), "POST", "/v2/models/m/infer", b"x" * 90, chunks=3)[1]["size"] == 90


def test_unknown_route_wrong_method_and_traversal() -> None:
    assert call(app(), "GET", "/nope") == (400, {"error": "Invalid request URL"})
    assert call(app(), "DELETE", "/v2/models/m") == (406, {"error": "Unsupported method"})
    assert call(app(), "GET", "/v2/models/../etc")[0] == 400


def test_errors_use_the_table_and_hide_internal_detail() -> None:
    assert call(app(), "POST", "/bad") == (400, {"error": "input x is wrong"})
    status, body = call(app(), "POST", "/boom")
    assert status == 500 and "detail" not in body["error"]


def test_oversized_body() -> None:
    status, body = call(app(), "POST", "/v2/models/m/infer", b"x" * 101)
    assert status == 413 and "limit of 100 bytes" in body["error"]


def test_the_request_id_leaves_a_prebuilt_response_as_it_was() -> None:
    prebuilt = HttpResponse(200, b"{}")

    async def same(request: HttpRequest) -> HttpResponse:
        return prebuilt

    router = Router()
    router.add("GET", "/doc", same)
    ids = iter(["a", "b"])
    rest = RestApp(router, max_body=100, make_request_id=lambda: next(ids))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/doc", "headers": []}
    for _ in range(2):
        asyncio.run(rest(scope, receive, send))
    echoed = [[v for k, v in m["headers"] if k == b"x-request-id"] for m in sent if "status" in m]
    assert echoed == [[b"a"], [b"b"]]
    assert prebuilt.headers == []
