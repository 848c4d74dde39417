"""The gRPC server shell: one interceptor turns every error into its gRPC status.

Servicers (KServe, TF Serving) only raise :class:`ServingError`; the interceptor applies
the one code table from ``api.errors``. Unknown exceptions become INTERNAL with a
generic text, their detail goes to the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc import aio

from ovserve.api.errors import as_serving_error, grpc_status


async def _abort(context: aio.ServicerContext, exc: Exception) -> None:
    error = as_serving_error(exc)
    await context.abort(grpc_status(error), error.message)


def _wrap_unary(inner: Callable[[Any, aio.ServicerContext], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def behavior(request: Any, context: aio.ServicerContext) -> Any:
        try:
            return await inner(request, context)
        except aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc)

    return behavior


def _wrap_stream(
    inner: Callable[[Any, aio.ServicerContext], AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    async def behavior(requests: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for item in inner(requests, context):
                yield item
        except aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc)

    return behavior


class ErrorInterceptor(aio.ServerInterceptor):  # type: ignore[misc]
    """Applies the gRPC error table to every method of every service."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def create_server(
    max_message_bytes: int,
    channel_arguments: Mapping[str, str | int],
    *,
    reuse_port: bool = False,
    first_interceptors: Sequence[aio.ServerInterceptor] = (),
    interceptors: Sequence[aio.ServerInterceptor] = (),
) -> aio.Server:
    """The gRPC server. ``reuse_port`` lets the workers of one multi-process server share the
    port (off otherwise, so a second server on a taken port fails to start);
    ``first_interceptors`` run before the error interceptor (the API key check)."""
    limit = min(max_message_bytes, 2**31 - 1)  # gRPC takes a C int
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        ("grpc.so_reuseport", 1 if reuse_port else 0),
    ]
    options += list(channel_arguments.items())
    return aio.server(interceptors=[*first_interceptors, ErrorInterceptor(), *interceptors], options=options)
