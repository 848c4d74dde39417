"""Per-call context on the gRPC port, installed only when a feature needs it:

* with ``--log_format json``, the request id: the client's ``x-request-id`` metadata or a new id,
  set in :data:`ovserve.logs.REQUEST_ID` for the call and sent back in the initial metadata;
* with tracing on, the call's metadata in :data:`~ovserve.api.trace_context.TRACE_HEADERS`
  (its W3C ``traceparent``).

REST does the same in :class:`ovserve.api.http.RestApp`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from ovserve.api.grpc_server import same_kind
from ovserve.api.trace_context import TRACE_HEADERS
from ovserve.logs import REQUEST_ID, accepted_request_id

HEADER = "x-request-id"


class CallContextInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    """Runs every method with its request id and/or trace headers set."""

    def __init__(self, make_request_id: Callable[[], str] | None, trace: bool) -> None:
        self.make_request_id = make_request_id
        self.trace = trace

    def _enter(self, details: grpc.HandlerCallDetails) -> Callable[[aio.ServicerContext], Awaitable[None]]:
        metadata = {str(k): str(v) for k, v in details.invocation_metadata or () if not k.endswith("-bin")}
        make = self.make_request_id
        request_id = accepted_request_id(metadata.get(HEADER), make) if make is not None else None
        trace = self.trace

        async def enter(context: aio.ServicerContext) -> None:
            if trace:
                TRACE_HEADERS.set(metadata)
            if request_id is not None:
                REQUEST_ID.set(request_id)
                await context.send_initial_metadata(((HEADER, request_id),))

        return enter

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.stream_unary is not None:
            return handler
        enter = self._enter(details)
        inner = handler.unary_unary or handler.unary_stream or handler.stream_stream

        async def unary(request: Any, context: aio.ServicerContext) -> Any:
            await enter(context)
            return await inner(request, context)

        async def stream(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            await enter(context)
            async for item in inner(request, context):
                yield item

        return same_kind(handler, unary, stream)
