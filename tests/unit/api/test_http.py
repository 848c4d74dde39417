from __future__ import annotations

import asyncio
from typing import Any

import orjson

from ovserve.api import http
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


def test_a_remembered_match_answers_as_the_scan_did() -> None:
    router = Router()
    router.add("GET", "/v2/models/stats", ok)
    router.add("GET", "/v2/models/{name}", bad)
    router.add("POST", "/v2/models/{name}/infer", ok)
    for _ in range(2):  # the second time from the router's memory
        assert router.match("GET", "/v2/models/stats") == (ok, {})
        assert router.match("GET", "/v2/models/m%2F1") == (bad, {"name": "m/1"})
        assert router.match("POST", "/v2/models/m/infer") == (ok, {"name": "m"})
        wrong = router.match("GET", "/v2/models/m/infer")
        assert isinstance(wrong, HttpResponse) and wrong.status == 406
        unknown = router.match("GET", "/nope")
        assert isinstance(unknown, HttpResponse) and unknown.status == 400
    routed = router.match("POST", "/v2/models/m/infer")
    assert not isinstance(routed, HttpResponse)
    routed[1]["name"] = "changed"  # a handler's change does not reach the next request
    assert router.match("POST", "/v2/models/m/infer") == (ok, {"name": "m"})


def test_a_route_added_later_is_seen_for_a_path_already_matched() -> None:
    router = Router()
    router.add("GET", "/v2/models/{name}", ok)
    unsupported = router.match("DELETE", "/v2/models/m")
    assert isinstance(unsupported, HttpResponse) and unsupported.status == 406
    router.add("DELETE", "/v2/models/{name}", bad)
    assert router.match("DELETE", "/v2/models/m") == (bad, {"name": "m"})


def test_the_remembered_paths_are_bounded() -> None:
    router = Router()
    router.add("GET", "/v2/models/{name}", ok)
    for i in range(http.MATCH_CACHE_PATHS * 3):
        assert router.match("GET", f"/v2/models/m{i}") == (ok, {"name": f"m{i}"})
    long_name = "n" * http.MATCH_CACHE_PATH_LENGTH
    assert router.match("GET", f"/v2/models/{long_name}") == (ok, {"name": long_name})
    assert len(router._matched) <= http.MATCH_CACHE_PATHS
    assert all(len(path) <= http.MATCH_CACHE_PATH_LENGTH for path in router._matched)


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
