"""What a worker process learns from its supervisor: its index and its inherited sockets.

The supervisor passes them in the environment (``OVSERVE_WORKER``), so a worker runs the
same command line as the supervisor and parses it the same way.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

ENV = "OVSERVE_WORKER"


@dataclass(frozen=True)
class WorkerSeat:
    """Worker ``index`` of ``count``; ``link_fd`` is its end of the supervisor socket, ``rest_fd``
    the REST listening socket every worker accepts on (-1 when REST is off)."""

    index: int
    count: int
    link_fd: int
    rest_fd: int

    def to_env(self) -> str:
        return f"{self.index},{self.count},{self.link_fd},{self.rest_fd}"

    def rest_socket(self) -> socket.socket | None:
        if self.rest_fd < 0:
            return None
        sock = socket.socket(fileno=self.rest_fd)
        sock.setblocking(False)
        return sock

    def link_socket(self) -> socket.socket:
        return socket.socket(fileno=self.link_fd)


def worker_seat_from_env(env: Mapping[str, str]) -> WorkerSeat | None:
    """The seat the supervisor gave this process, or None when it was not started by one."""
    raw = env.get(ENV)
    if not raw:
        return None
    try:
        index, count, link_fd, rest_fd = (int(part) for part in raw.split(","))
    except ValueError as exc:
        raise ValueError(f"{ENV}={raw!r} is not 'index,count,link_fd,rest_fd'") from exc
    return WorkerSeat(index, count, link_fd, rest_fd)
