"""Request ids on the gRPC port (``--log_format json``): the client's ``x-request-id`` metadata or a
new id, set in :data:`ovserve.logs.REQUEST_ID` for the call and sent back in the initial metadata.
REST does the same in :class:`ovserve.api.http.RestApp`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from ovserve.logs import REQUEST_ID, accepted_request_id

HEADER = "x-request-id"


def _given(details: grpc.HandlerCallDetails) -> str | None:
    for key, value in details.invocation_metadata or ():
        if key == HEADER:
            return str(value)
    return None


class RequestIdInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    """Runs every method with its request id set (installed only with JSON logs)."""

    def __init__(self, make: Callable[[], str]) -> None:
        self.make = make

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return None
        request_id = accepted_request_id(_given(details), self.make)
        echo = ((HEADER, request_id),)
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: aio.ServicerContext) -> Any:
                REQUEST_ID.set(request_id)
                await context.send_initial_metadata(echo)
                return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_stream is not None or handler.unary_stream is not None:
            streaming = handler.stream_stream is not None
            inner_stream = handler.stream_stream if streaming else handler.unary_stream

            async def stream(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
                REQUEST_ID.set(request_id)
                await context.send_initial_metadata(echo)
                async for item in inner_stream(request, context):
                    yield item

            make = (
                grpc.stream_stream_rpc_method_handler if streaming else grpc.unary_stream_rpc_method_handler
            )
            return make(stream, handler.request_deserializer, handler.response_serializer)
        return handler
