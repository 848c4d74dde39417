"""The supervisor of a multi-process server: starts the workers, routes their calls, stops them.

It binds the REST port itself (every worker accepts on that one inherited socket, so
an idle worker takes the next connection) and checks that the gRPC port is free (each
worker then binds it with SO_REUSEPORT and the kernel spreads connections over them).
Workers run the same command line in their own session, so a terminal's Ctrl-C reaches
only the supervisor, which then drains them all.

A worker that exits on its own is started again (after 1 s, doubling up to 30 s while
it keeps failing before it gets ready); a worker that fails at start-up with the usage
exit code (64: a port, a config error) stops the whole server with that code. SIGTERM or
SIGINT is passed on as SIGTERM, and the supervisor exits once every worker has (0 when
all exited 0); a second signal kills the workers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ovserve.cluster.wire import encode, read_message
from ovserve.cluster.worker import ENV, WorkerSeat
from ovserve.config.types import ServerConfig
from ovserve.errors import EXIT_USAGE
from ovserve.sockets import bind_rest_socket, check_port_free

log = logging.getLogger(__name__)

_FIRST_RESTART_DELAY = 1.0
_MAX_RESTART_DELAY = 30.0


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    writer: asyncio.StreamWriter | None = None
    ready: bool = False
    failures: int = 0  # exits before ready, in a row
    calls: dict[int, asyncio.Future[tuple[int, bool, Any]]] = field(default_factory=dict)


class Supervisor:
    """Runs ``config.processes`` workers of ``argv`` (the command line, without the program)."""

    def __init__(self, config: ServerConfig, argv: Sequence[str]) -> None:
        self.config = config
        self.argv = list(argv)
        self.workers = [_Worker(i) for i in range(config.processes)]
        self._rest: socket.socket | None = None
        self._stopping = False
        self._signals = 0
        self._failed: int | None = None
        self._call_ids = itertools.count(1)
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self) -> int:
        config = self.config
        if config.port:  # 0: no gRPC server
            check_port_free(config.grpc_bind_address, config.port, "port")
        if config.rest_port:
            self._rest = bind_rest_socket(config.rest_bind_address, config.rest_port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        log.info("starting %d worker processes (each holds its own copy of every model)", len(self.workers))
        for worker in self.workers:
            await self._spawn(worker)
        await self._done.wait()
        if self._rest is not None:
            self._rest.close()
        return self._failed if self._failed is not None else 0

    # -- processes ---------------------------------------------------------------------------
    async def _spawn(self, worker: _Worker) -> None:
        ours, theirs = socket.socketpair()
        seat = WorkerSeat(
            worker.index,
            len(self.workers),
            theirs.fileno(),
            self._rest.fileno() if self._rest is not None else -1,
        )
        fds = [theirs.fileno()] + ([self._rest.fileno()] if self._rest is not None else [])
        env = dict(os.environ)
        env[ENV] = seat.to_env()
        try:
            worker.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ovserve", *self.argv, pass_fds=fds, env=env, start_new_session=True
            )
        finally:
            theirs.close()
        worker.ready = False
        reader, worker.writer = await asyncio.open_connection(sock=ours)
        self._track(self._serve(worker, reader))
        self._track(self._watch(worker, worker.process))

    def _track(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, worker: _Worker, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if worker.writer is not None:
            worker.writer.close()
            worker.writer = None
        for future in worker.calls.values():
            if not future.done():
                future.set_result((worker.index, False, f"worker {worker.index} exited"))
        worker.calls.clear()
        if self._stopping:
            if code != 0:
                log.warning("worker %d exited with code %d", worker.index, code)
                if self._failed is None:
                    self._failed = code
            if all(w.process is None or w.process.returncode is not None for w in self.workers):
                self._done.set()
            return
        if not worker.ready and code == EXIT_USAGE:
            log.error("worker %d could not start (exit code %d): stopping the server", worker.index, code)
            self._failed = code
            self._stop_all(signal.SIGTERM)
            return
        worker.failures = 0 if worker.ready else worker.failures + 1
        delay = min(_FIRST_RESTART_DELAY * 2 ** max(worker.failures - 1, 0), _MAX_RESTART_DELAY)
        log.error("worker %d exited with code %d; starting it again in %.0f s", worker.index, code, delay)
        await asyncio.sleep(delay)
        if self._stopping:
            return
        try:
            await self._spawn(worker)
        except OSError as exc:  # could not even start the process: the server cannot heal
            log.error("worker %d could not be started again: %s; stopping the server", worker.index, exc)
            self._failed = 1
            self._stop_all(signal.SIGTERM)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second %s: killing the workers", sig.name)
            self._stop_all(signal.SIGKILL)
            self._failed = 1
            self._done.set()
            return
        log.info("%s received: draining %d workers", sig.name, len(self.workers))
        if self._rest is not None:  # the workers close theirs as they start draining
            self._rest.close()
            self._rest = None
        self._stop_all(signal.SIGTERM)

    def _stop_all(self, sig: signal.Signals) -> None:
        self._stopping = True
        alive = [w.process for w in self.workers if w.process is not None and w.process.returncode is None]
        if not alive:
            self._done.set()
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)

    # -- messages ----------------------------------------------------------------------------
    async def _serve(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                message = await read_message(reader)
            except ValueError as exc:
                log.error("worker %d sent a malformed message: %s", worker.index, exc)
                break
            if message is None:
                break
            kind = message[0]
            if kind == "ready":
                worker.ready, worker.failures = True, 0
                if all(w.ready for w in self.workers):
                    log.info("all %d workers ready", len(self.workers))
            elif kind == "reply":
                _, cid, ok, value = message
                future = worker.calls.pop(cid, None)
                if future is not None and not future.done():
                    future.set_result((worker.index, ok, value))
            elif kind == "broadcast":
                _, rid, op, payload = message
                self._track(self._broadcast(worker, rid, op, payload))
            else:
                log.error("worker %d sent an unknown message %r", worker.index, kind)

    async def _broadcast(self, origin: _Worker, rid: int, op: str, payload: Any) -> None:
        loop = asyncio.get_running_loop()
        futures = []
        for worker in self.workers:
            if worker is origin or worker.writer is None or worker.writer.is_closing():
                continue
            cid = next(self._call_ids)
            future: asyncio.Future[tuple[int, bool, Any]] = loop.create_future()
            worker.calls[cid] = future
            worker.writer.write(encode(("call", cid, op, payload)))
            futures.append(future)
        replies = list(await asyncio.gather(*futures))
        if origin.writer is not None and not origin.writer.is_closing():
            origin.writer.write(encode(("done", rid, replies)))


def run(config: ServerConfig, argv: Sequence[str]) -> int:
    """Supervise ``config.processes`` workers until SIGTERM/SIGINT; the exit code."""
    return asyncio.run(Supervisor(config, argv).run())
