"""The connection guard subclasses uvicorn's httptools protocol and uses some of its internals: a
uvicorn release that renames them must fail here, not in production."""

from __future__ import annotations

import inspect

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from ovserve.api.http_guard import GuardedProtocol, guarded_protocol

USED_METHODS = (
    "_unset_keepalive_if_required",
    "_should_upgrade",
    "handle_websocket_upgrade",
    "_unsupported_upgrade_warning",
    "on_message_begin",
    "on_url",
    "on_header",
    "on_headers_complete",
    "on_message_complete",
    "connection_made",
    "connection_lost",
    "eof_received",
)


def test_uvicorn_internals_the_guard_uses_exist() -> None:
    for name in USED_METHODS:
        assert callable(getattr(HttpToolsProtocol, name, None)), name
    cycle = inspect.signature(RequestResponseCycle.__init__).parameters
    assert "message_event" in cycle and "keep_alive" in cycle
    source = inspect.getsource(RequestResponseCycle)
    for attribute in ("self.disconnected", "self.response_started", "self.response_complete"):
        assert attribute in source, attribute


def test_guarded_protocol_carries_its_limits() -> None:
    protocol = guarded_protocol(7, 1024)
    assert issubclass(protocol, GuardedProtocol)
    assert (protocol.read_timeout, protocol.max_head) == (7, 1024)
    assert (GuardedProtocol.read_timeout, GuardedProtocol.max_head) == (30.0, 32 * 1024)
