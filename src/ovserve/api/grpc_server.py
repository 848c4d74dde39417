"""The gRPC server shell: every method added to it turns every error into its gRPC status.

Servicers (KServe, TF Serving) only raise :class:`ServingError`; each method, wrapped once when
it is added (:func:`guarded`), applies the one code table from ``api.errors``. Unknown
exceptions become INTERNAL with a generic text, their detail goes to the log.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc import aio

from ovserve.api.errors import as_serving_error, grpc_status
from ovserve.errors import InvalidInput


def _status(exc: Exception) -> tuple[grpc.StatusCode, str]:
    error = as_serving_error(exc)
    return grpc_status(error), error.message


# The handlers below abort *after* their except blocks, and without the request: aborting inside
# one chains the error to the abort's exception, and grpc's own handling of that exception makes
# a reference cycle through the handler's frame; a request in that frame (and its payload) would
# stay alive until the cyclic garbage collector happens to run.


Parse = Callable[[bytes], Any]


def _parse(parse: Parse | None, raw: Any) -> Any:
    """A request message from its bytes; bytes that are no such message are the client's mistake
    (grpc itself would answer UNKNOWN with a Python exception's repr)."""
    if parse is None:
        return raw
    try:
        return parse(raw)
    except Exception as exc:  # google.protobuf.message.DecodeError, and what a parser may raise
        raise InvalidInput(f"Invalid request - the message cannot be parsed: {exc}") from None


async def _parsed(requests: AsyncIterator[Any], parse: Parse | None) -> AsyncIterator[Any]:
    async for raw in requests:
        yield _parse(parse, raw)


def _wrap_unary(
    inner: Callable[[Any, aio.ServicerContext], Awaitable[Any]], parse: Parse | None
) -> Callable[..., Awaitable[Any]]:
    async def behavior(request: Any, context: aio.ServicerContext) -> Any:
        try:
            return await inner(request if parse is None else _parse(parse, request), context)
        except aio.AbortError:
            raise
        except Exception as exc:
            status = _status(exc)
        del request
        await context.abort(*status)

    return behavior


def _wrap_stream(
    inner: Callable[[Any, aio.ServicerContext], AsyncIterator[Any]], parse: Parse | None
) -> Callable[..., AsyncIterator[Any]]:
    async def behavior(requests: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        items = inner(_parsed(requests, parse), context)
        try:
            async for item in items:
                yield item
            return
        except aio.AbortError:
            raise
        except Exception as exc:
            status = _status(exc)
        finally:
            # closed early (the call cancelled): closed now, not by the GC
            if isinstance(items, AsyncGenerator):
                await items.aclose()
        del requests
        await context.abort(*status)

    return behavior


def same_kind(
    handler: grpc.RpcMethodHandler,
    unary: Callable[..., Awaitable[Any]],
    streaming: Callable[..., AsyncIterator[Any]],
) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s kind, with its codec, whose behaviour is ``unary`` (for a unary
    response) or ``streaming`` (for a response stream): how an interceptor wraps or replaces one."""
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary, **codec)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(streaming, **codec)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(unary, **codec)
    return grpc.stream_stream_rpc_method_handler(streaming, **codec)


def guarded(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """``handler`` with the gRPC error table applied, parsing its request messages itself (so that
    bytes that are no message get INVALID_ARGUMENT); handlers of other kinds as they are."""
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(handler.unary_unary, handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream(handler.stream_stream, handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    return handler


#: at most this many methods of one service are remembered guarded (a service has a handful)
MAX_GUARDED_METHODS = 256


class GuardedService(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A service's generic handler whose methods are :func:`guarded`, each wrapped once, when first
    called, and remembered (names nothing answers to are not: clients choose them)."""

    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        found = self._guarded.get(details.method)
        if found is not None:
            return found
        handler = self._inner.service(details)
        if handler is None:
            return None
        found = guarded(handler)
        if len(self._guarded) < MAX_GUARDED_METHODS:
            self._guarded[details.method] = found
        return found


def guard_registrations(server: Any) -> None:
    """Make ``server`` guard every method added to it, generic or registered (grpc.aio looks the
    registered ones up first): the error table is applied once per method at registration, not by
    an interceptor on every call (an interceptor costs each call two coroutines and a new handler)."""
    add_generic = server.add_generic_rpc_handlers
    add_registered = server.add_registered_method_handlers

    def add_generic_rpc_handlers(handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        add_generic(tuple(GuardedService(handler) for handler in handlers))

    def add_registered_method_handlers(service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        add_registered(service, {method: guarded(handler) for method, handler in handlers.items()})

    server.add_generic_rpc_handlers = add_generic_rpc_handlers
    server.add_registered_method_handlers = add_registered_method_handlers


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
    ``first_interceptors`` run before ``interceptors`` (the API key check). Every method added to
    the server is :func:`guarded`: the innermost layer of every call applies the error table;
    without interceptors (no API key, request ids nor tracing) grpc.aio runs none per call."""
    limit = min(max_message_bytes, 2**31 - 1)  # gRPC takes a C int
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        ("grpc.so_reuseport", 1 if reuse_port else 0),
    ]
    options += list(channel_arguments.items())
    server = aio.server(interceptors=[*first_interceptors, *interceptors], options=options)
    guard_registrations(server)
    return server
