"""A TCP relay on 127.0.0.1 that can stop a download half way, for fault tests.

Once :meth:`PausingProxy.arm` is called, the first answer (server-to-client byte stream of
one connection) that passes ``limit`` bytes is held there: the relay forwards ``limit``
bytes, sets :attr:`paused` and waits for :meth:`cut`, which closes that connection without
the rest. The test can kill the real server meanwhile. Small answers (listings,
metadata) pass untouched, so the cut lands inside a file's download, whatever the
machine's speed.
"""

from __future__ import annotations

import contextlib
import socket
import threading

HOST = "127.0.0.1"


class PausingProxy:
    def __init__(self, target_port: int, limit: int) -> None:
        self.target_port = target_port
        self.limit = limit
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.armed = threading.Event()
        self.paused = threading.Event()
        self._cut = threading.Event()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def arm(self) -> None:
        self.paused.clear()
        self._cut.clear()
        self.armed.set()

    def cut(self) -> None:
        """End the held answer's connection (and stop holding further ones)."""
        self.armed.clear()
        self._cut.set()

    def close(self) -> None:
        self._closed = True
        self._cut.set()
        for sock in [self.listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((HOST, self.target_port), timeout=30)
        except OSError:
            client.close()  # the real server is gone: the client sees the connection drop
            return
        self._sockets += [client, upstream]
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        self._answer(upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _answer(self, upstream: socket.socket, client: socket.socket) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if self.armed.is_set() and sent + len(data) > self.limit:
                    client.sendall(data[: self.limit - sent])
                    self.paused.set()
                    self._cut.wait(120)
                    break
                client.sendall(data)
                sent += len(data)
        for sock in (client, upstream):  # shutdown first: it wakes the other direction's recv
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
