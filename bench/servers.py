"""The servers `make bench` measures: how each is started (:class:`ServerKind`: its command,
ports and notes), and one running server process tree (:class:`RunningServer`): ready, CPU
used, logs, stopped with everything it started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models import ModelSpec
from plan import WORK, Settings


@dataclass
class ServerKind:
    name: str
    label: str
    protocols: tuple[str, ...]
    rest_port: int
    grpc_port: int
    command: Callable[[ServerKind, Settings, ModelSpec, Path], tuple[list[str], dict[str, str], Path]]
    notes: str = ""
    #: flags after the command's own (ovserve ×2: ``--rest_workers 2``)
    extra_args: tuple[str, ...] = ()
    #: the REST path that answers 200 once ``{model}`` is ready; None: ready when gRPC answers
    ready_path: str | None = "/v2/models/{model}/ready"
    #: the path of the server's own REST inference API (the ``own_json`` protocol: the peers
    #: that do not speak KServe v2, each in its idiomatic way)
    own_path: str = "/predict"


def _proc_stats() -> dict[int, list[str]]:
    """The fields after the command name of every process's /proc/<pid>/stat (state first)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
    return stats


def process_tree(root: int, stats: dict[int, list[str]] | None = None) -> dict[int, list[str]]:
    """``root`` and its descendants (by parent pid), with their stat fields. Sessions and process
    groups do not bound it: ovserve's supervisor starts its workers in sessions of their own."""
    stats = _proc_stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in tree:
            tree[pid] = stats[pid]
            todo += children.get(pid, [])
    return tree


def _start_time(fields: list[str]) -> str:
    return fields[19]


class RunningServer:
    def __init__(
        self, kind: ServerKind, s: Settings, spec: ModelSpec, base: Path, pinned: bool, log_tag: str = ""
    ) -> None:
        self.kind = kind
        argv, env, cwd = kind.command(kind, s, spec, base)
        if pinned:
            argv = ["taskset", "-c", s.server_cpus, *argv]
        for port in (kind.rest_port, kind.grpc_port):
            _require_free_port(port)
        self.log_path = WORK / "logs" / f"{kind.name}-{spec.name}{log_tag}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.argv = argv
        #: every process of the server's tree seen so far: pid -> start time (see stop)
        self._seen: dict[int, str] = {}

    def wait_ready(self, model: str, timeout: float = 240.0, streak: int = 8) -> None:
        """Until ``streak`` fresh connections in a row find the model ready: with several workers,
        each loads the model on its own and answers 404 until it has."""
        end = time.monotonic() + timeout
        ready = 0
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind.name} exited with {self.proc.returncode}: {self.log_tail()}")
            self.tree()  # the workers, for stop() should the server fail before it is ready
            ready = ready + 1 if self._ready_once(model) else 0
            if ready >= streak:
                return
            time.sleep(0.05 if ready else 0.3)
        raise RuntimeError(f"{self.kind.name} not ready after {timeout:.0f} s: {self.log_tail()}")

    def _ready_once(self, model: str) -> bool:
        if self.kind.ready_path is None:
            import grpc

            with grpc.insecure_channel(f"127.0.0.1:{self.kind.grpc_port}") as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=2)
                    return True
                except grpc.FutureTimeoutError:
                    return False
        url = f"http://127.0.0.1:{self.kind.rest_port}" + self.kind.ready_path.format(model=model)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def tree(self) -> dict[int, list[str]]:
        """The server's processes (supervisor and workers, or the one server) with their stat fields."""
        tree = process_tree(self.proc.pid)
        self._seen.update((pid, _start_time(fields)) for pid, fields in tree.items())
        return tree

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's process tree, children it has reaped included (a worker
        restarted by ovserve's supervisor): the CPU of a process moves to its parent's when it is reaped."""
        total = sum(sum(int(v) for v in fields[11:15]) for fields in self.tree().values())
        return total / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the server's process group (ovserve's supervisor passes it on to its workers,
        which run in sessions of their own), SIGKILL after 20 s; then whatever of its tree outlived
        it gets 10 s more and SIGKILL."""
        if self.proc.poll() is None:
            self.tree()
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 10
        while (left := self._leftovers()) and time.monotonic() < end:
            time.sleep(0.2)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._log.close()

    def _leftovers(self) -> list[int]:
        """Processes of the server's tree still running (the same pid *and* start time, not a reused pid)."""
        stats = _proc_stats()
        return [
            pid
            for pid, start in self._seen.items()
            if pid in stats and _start_time(stats[pid]) == start and stats[pid][0] != "Z"
        ]


def _require_free_port(port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"port {port} is taken (set BENCH_PORT_BASE): {exc}") from exc
