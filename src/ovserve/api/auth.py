"""The API key: one check for both protocols, and the gRPC interceptor that applies it.

OVMS asks for its key (``--api_key_file`` / ``API_KEY``) on its generative ``/v3`` endpoints
only; ovserve asks for it on every endpoint but health, on both ports (docs/security.md says
why). Clients send ``Authorization: Bearer <key>`` (REST) or the same ``authorization``
metadata (gRPC). The key is compared in constant time (:func:`hmac.compare_digest`).

Open without a key: REST server liveness and readiness (``api.rest_guard``), and on gRPC the
standard health service, server reflection and KServe's ServerLive / ServerReady, which
Kubernetes probes, load balancers and ``grpcurl`` call without credentials.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from grpc import aio

from ovserve.api.errors import grpc_status
from ovserve.api.grpc_server import same_kind
from ovserve.errors import Unauthenticated

log = logging.getLogger(__name__)

#: REST paths answered without a key (as the router sees them: decoded, with or without "/")
OPEN_REST_PATHS = frozenset({"/v2/health/live", "/v2/health/live/", "/v2/health/ready", "/v2/health/ready/"})
#: gRPC services answered without a key (method names start with "/<service>/")
OPEN_GRPC_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
)
#: single gRPC methods answered without a key
OPEN_GRPC_METHODS = frozenset(
    {"/inference.GRPCInferenceService/ServerLive", "/inference.GRPCInferenceService/ServerReady"}
)


class ApiKey:
    """The server's key; :meth:`accepts` checks an ``Authorization`` value against it."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key.encode("ascii")

    def __repr__(self) -> str:
        return "ApiKey(***)"

    def accepts(self, authorization: bytes | str | None) -> bool:
        """True for ``Bearer <key>`` (the scheme in any case, as RFC 9110 allows)."""
        if authorization is None:
            log.debug("unauthorized request: no API key")
            return False
        value = authorization.encode("utf-8", "replace") if isinstance(authorization, str) else authorization
        scheme, _, token = value.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
            log.debug("unauthorized request: invalid API key")
            return False
        return True


def grpc_method_is_open(method: str) -> bool:
    return method in OPEN_GRPC_METHODS or method.startswith(OPEN_GRPC_SERVICES)


def _authorization(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | bytes | None:
    for key, value in metadata or ():
        if key == "authorization":
            return value
    return None


class ApiKeyInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses every gRPC call without the key (UNAUTHENTICATED), but the open services."""

    def __init__(self, key: ApiKey) -> None:
        self._key = key

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or grpc_method_is_open(details.method):
            return handler
        if self._key.accepts(_authorization(details.invocation_metadata)):
            return handler
        return _refusing(handler)


async def _refuse(context: aio.ServicerContext) -> None:
    error = Unauthenticated()
    await context.abort(grpc_status(error), error.message)


def _refusing(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same kind as ``handler`` that answers UNAUTHENTICATED."""

    async def unary(request: Any, context: aio.ServicerContext) -> Any:
        await _refuse(context)

    async def streaming(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        await _refuse(context)
        yield  # pragma: no cover - abort raised

    return same_kind(handler, unary, streaming)
