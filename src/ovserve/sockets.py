"""Listening sockets: bound before anything else starts, so a taken port stops start-up."""

from __future__ import annotations

import socket

from ovserve.errors import StartupError


def url_host(address: str) -> str:
    """``address`` as it goes before ``:port`` (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_rest_socket(host: str, port: int) -> socket.socket:
    """The REST listening socket (non-blocking); every REST worker accepts on this one socket."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"rest_port: cannot bind {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def check_port_free(host: str, port: int, flag: str) -> None:
    """Raise :class:`StartupError` when ``host:port`` cannot be bound right now.

    Used for the gRPC port of a multi-process server: its workers bind it with
    SO_REUSEPORT, which would let them join a socket another server already holds.
    """
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        raise StartupError(f"{flag}: cannot bind {host}:{port}: {exc.strerror}") from exc
    finally:
        sock.close()
