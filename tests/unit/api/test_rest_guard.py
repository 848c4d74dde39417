"""The REST guard (API key and CORS in front of the whole app), the key check and the CORS policy."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from ovserve.api.auth import ApiKey, grpc_method_is_open
from ovserve.api.cors import CorsPolicy
from ovserve.api.rest_guard import RestGuard
from ovserve.config.types import CorsConfig

KEY = "s3cret"
Headers = dict[bytes, bytes]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The app behind the guard: answers 200 with the path it saw."""
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": orjson.dumps({"path": scope["path"]})})


def call(
    guard: RestGuard, method: str, path: str, headers: Headers | None = None
) -> tuple[int, Headers, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list((headers or {}).items())}
    asyncio.run(guard(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def guarded(cors: CorsConfig | None = None, key: str | None = KEY) -> RestGuard:
    return RestGuard(app, CorsPolicy(cors or CorsConfig()), ApiKey(key) if key else None)


# --- API key ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (None, False),
        (b"", False),
        (b"Bearer s3cret", True),
        (b"bearer s3cret", True),
        (b"  Bearer   s3cret ", True),
        (b"Bearer s3cret2", False),
        (b"Bearer s3cre", False),
        (b"Basic s3cret", False),
        (b"s3cret", False),
        ("Bearer s3cret", True),
        ("Bearer \u00e9", False),
    ],
)
def test_api_key_accepts_only_bearer_and_the_key(value: bytes | str | None, ok: bool) -> None:
    assert ApiKey(KEY).accepts(value) is ok


def test_api_key_repr_hides_the_key() -> None:
    assert KEY not in repr(ApiKey(KEY))


def test_missing_or_wrong_key_is_401_with_ovms_text() -> None:
    for headers in ({}, {b"authorization": b"Bearer nope"}):
        status, answer, body = call(guarded(), "POST", "/v2/models/m/infer", headers)
        assert status == 401
        assert orjson.loads(body) == {"error": "Unauthorized request due to invalid or missing api-key"}
        assert answer[b"www-authenticate"] == b"Bearer"


def test_every_path_needs_the_key_but_server_health() -> None:
    for path in (
        "/v2",
        "/v2/models/m",
        "/v1/config",
        "/v1/config/reload",
        "/metrics",
        "/v3/chat/completions",
        "/x",
    ):
        assert call(guarded(), "GET", path)[0] == 401, path
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/health/ready/"):
        assert call(guarded(), "GET", path)[0] == 200, path
    assert call(guarded(), "GET", "/v2/models/m/infer", {b"authorization": b"Bearer s3cret"})[0] == 200


def test_grpc_open_methods() -> None:
    assert grpc_method_is_open("/grpc.health.v1.Health/Check")
    assert grpc_method_is_open("/grpc.health.v1.Health/Watch")
    assert grpc_method_is_open("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert grpc_method_is_open("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    assert grpc_method_is_open("/inference.GRPCInferenceService/ServerLive")
    assert grpc_method_is_open("/inference.GRPCInferenceService/ServerReady")
    for method in (
        "/inference.GRPCInferenceService/ModelInfer",
        "/inference.GRPCInferenceService/ServerMetadata",
        "/inference.GRPCInferenceService/RepositoryModelLoad",
        "/tensorflow.serving.PredictionService/Predict",
        "/tensorflow.serving.ModelService/HandleReloadConfigRequest",
        "/grpc.health.v1.HealthX/Check",
    ):
        assert not grpc_method_is_open(method), method


# --- CORS ---------------------------------------------------------------------------------------

ORIGIN = {b"origin": b"https://app.example"}
PREFLIGHT = {**ORIGIN, b"access-control-request-method": b"POST"}


def test_default_cors_allows_every_origin_with_a_wildcard() -> None:
    status, headers, _ = call(guarded(key=None), "GET", "/v2", ORIGIN)
    assert status == 200 and headers[b"access-control-allow-origin"] == b"*"
    assert b"access-control-allow-origin" not in call(guarded(key=None), "GET", "/v2")[1]  # no Origin


def test_preflight_needs_no_key_and_echoes_what_a_wildcard_allows() -> None:
    asked = {**PREFLIGHT, b"access-control-request-headers": b"Authorization, Content-Type"}
    status, headers, body = call(guarded(), "OPTIONS", "/v2/models/m/infer", asked)
    assert (status, body) == (200, b"")
    assert headers[b"access-control-allow-origin"] == b"*"
    assert headers[b"access-control-allow-methods"] == b"POST"
    assert headers[b"access-control-allow-headers"] == b"authorization, content-type"
    assert headers[b"access-control-max-age"] == b"600"


def test_listed_origins_with_credentials() -> None:
    config = CorsConfig(("https://app.example",), ("GET", "POST"), ("Content-Type", "Authorization"), True)
    status, headers, _ = call(guarded(config), "OPTIONS", "/v2/models/m/infer", PREFLIGHT)
    assert status == 200
    assert headers[b"access-control-allow-origin"] == b"https://app.example"
    assert headers[b"access-control-allow-credentials"] == b"true"
    assert headers[b"access-control-allow-methods"] == b"GET, POST"
    assert headers[b"vary"] == b"origin"
    status, headers, _ = call(
        guarded(config), "POST", "/v2/models/m/infer", {**ORIGIN, b"authorization": b"Bearer s3cret"}
    )
    assert status == 200 and headers[b"access-control-allow-origin"] == b"https://app.example"
    status, headers, _ = call(
        guarded(config), "POST", "/v2/models/m/infer", ORIGIN
    )  # 401 readable by the page
    assert status == 401 and headers[b"access-control-allow-origin"] == b"https://app.example"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({**PREFLIGHT, b"origin": b"https://evil.example"}, "origin https://evil.example is not allowed"),
        ({**PREFLIGHT, b"access-control-request-method": b"DELETE"}, "method DELETE is not allowed"),
        ({**PREFLIGHT, b"access-control-request-headers": b"X-Other"}, "header x-other is not allowed"),
    ],
)
def test_preflight_refusals_are_403_with_the_reason(headers: Headers, reason: str) -> None:
    config = CorsConfig(("https://app.example",), ("GET", "POST"), ("Content-Type",), False)
    status, answer, body = call(guarded(config), "OPTIONS", "/v2/models/m/infer", headers)
    assert status == 403
    assert orjson.loads(body) == {"error": f"CORS: {reason}"}
    assert b"access-control-allow-origin" not in answer


def test_unlisted_origin_gets_an_answer_without_cors_headers() -> None:
    config = CorsConfig(("https://app.example",), ("*",), ("*",), False)
    status, headers, _ = call(guarded(config, key=None), "GET", "/v2", {b"origin": b"https://evil.example"})
    assert status == 200
    assert b"access-control-allow-origin" not in headers


def test_empty_origins_turn_cors_off_and_plain_options_is_200() -> None:
    config = CorsConfig((), ("*",), ("*",), False)
    status, headers, _ = call(guarded(config, key=None), "OPTIONS", "/v2", PREFLIGHT)
    assert status == 200 and b"access-control-allow-origin" not in headers
    assert call(guarded(config, key=None), "GET", "/v2", ORIGIN)[1] == {b"content-type": b"application/json"}
