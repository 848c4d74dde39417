"""Every method added to the gRPC server is guarded once, when it is added (api/grpc_server.py)."""

from __future__ import annotations

from typing import Any

import grpc

from ovserve.api.grpc_server import MAX_GUARDED_METHODS, GuardedService, guard_registrations


class Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def echo(request: Any, context: Any) -> Any:
    return request


def service() -> grpc.GenericRpcHandler:
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo, request_deserializer=bytes.upper),
        "Watch": grpc.unary_stream_rpc_method_handler(echo),
    }
    return grpc.method_handlers_generic_handler("test.Service", handlers)


def test_a_unary_method_is_wrapped_once_and_parses_its_request_itself() -> None:
    guarded = GuardedService(service())
    first = guarded.service(Details("/test.Service/Echo"))
    assert first is not None and first.request_deserializer is None  # the wrapper parses
    assert guarded.service(Details("/test.Service/Echo")) is first


def test_other_kinds_pass_as_they_are_and_unknown_names_are_not_remembered() -> None:
    inner = service()
    guarded = GuardedService(inner)
    details = Details("/test.Service/Watch")
    assert guarded.service(details) is inner.service(details)
    for index in range(MAX_GUARDED_METHODS + 10):
        assert guarded.service(Details(f"/test.Service/Nothing{index}")) is None
    assert len(guarded._guarded) == 1  # Watch only


class Server:
    """Records what grpc.aio.Server's registration methods receive."""

    def __init__(self) -> None:
        self.generic: list[Any] = []
        self.registered: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        self.registered.update(handlers)


def test_registered_methods_are_guarded_too() -> None:
    """grpc.aio looks registered methods up before the generic handlers: both must be guarded."""
    server = Server()
    guard_registrations(server)
    raw = grpc.unary_unary_rpc_method_handler(echo, request_deserializer=bytes.upper)
    server.add_registered_method_handlers("test.Service", {"Echo": raw})
    server.add_generic_rpc_handlers((service(),))
    assert server.registered["Echo"] is not raw and server.registered["Echo"].request_deserializer is None
    assert isinstance(server.generic[0], GuardedService)
