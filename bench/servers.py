"""The servers `make bench` measures: how each is started (:class:`ServerKind`: its command,
ports and notes), and one running server process tree (:class:`RunningServer`): ready, CPU
used, logs, stopped with everything it started."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
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
from plan import BENCH, BOTH_PROTOCOLS, ENVS, PROTOCOLS, ROOT, WORK, Settings


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


def _ovserve_command(
    kind: ServerKind, s: Settings, spec: ModelSpec, base: Path
) -> tuple[list[str], dict[str, str], Path]:
    config = WORK / f"ovserve-{spec.name}.json"
    entry = {"name": spec.name, "base_path": str(base), "plugin_config": s.plugin_config}
    config.write_text(json.dumps({"model_config_list": [{"config": entry}]}, indent=2))
    argv = [str(ROOT / ".venv/bin/python"), "-m", "ovserve", "--config_path", str(config)]
    argv += ["--port", str(kind.grpc_port), "--rest_port", str(kind.rest_port)]
    argv += ["--grpc_bind_address", "127.0.0.1", "--rest_bind_address", "127.0.0.1", *s.ovserve_args]
    return [*argv, *kind.extra_args], {}, WORK


KSERVE_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"err": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {
        "kserve": {"handlers": ["err"], "level": "WARNING", "propagate": False},
        "kserve.trace": {"handlers": ["err"], "level": "WARNING", "propagate": False},
        "uvicorn": {"handlers": ["err"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["err"], "level": "WARNING", "propagate": False},
    },
}


def _kserve_command(
    kind: ServerKind, s: Settings, spec: ModelSpec, base: Path
) -> tuple[list[str], dict[str, str], Path]:
    logging_json = WORK / "kserve-logging.json"
    logging_json.write_text(json.dumps(KSERVE_LOGGING, indent=2))
    argv = [str(ENVS / "kserve/bin/python"), str(BENCH / "peers/kserve_server.py")]
    argv += ["--bench_model", f"{spec.name}={base / spec.xml}"]
    argv += ["--http_port", str(kind.rest_port), "--grpc_port", str(kind.grpc_port)]
    argv += ["--enable_latency_logging", "false", "--log_config_file", str(logging_json)]
    return argv, {"BENCH_PLUGIN_CONFIG": json.dumps(s.plugin_config)}, WORK


def _mlserver_command(
    kind: ServerKind, s: Settings, spec: ModelSpec, base: Path
) -> tuple[list[str], dict[str, str], Path]:
    repo = WORK / f"mlserver-{spec.name}"
    (repo / spec.name).mkdir(parents=True, exist_ok=True)
    settings = {
        "host": "127.0.0.1",
        "http_port": kind.rest_port,
        "grpc_port": kind.grpc_port,
        "metrics_port": kind.grpc_port + 1,
        "parallel_workers": 0,
        "debug": False,
        "metrics_endpoint": None,
        "gzip_enabled": False,
    }
    (repo / "settings.json").write_text(json.dumps(settings, indent=2))
    model_settings = {
        "name": spec.name,
        "implementation": "mlserver_runtime.OpenVINORuntime",
        "parameters": {"uri": str(base / spec.xml)},
    }
    (repo / spec.name / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    argv = [str(ENVS / "mlserver/bin/mlserver"), "start", str(repo)]
    env = {"BENCH_PLUGIN_CONFIG": json.dumps(s.plugin_config), "PYTHONPATH": str(BENCH / "peers")}
    return argv, env, repo


#: runs only in the both-cores phase, when ovserve is in BENCH_SERVERS
OVSERVE_W2 = "ovserve_w2"


def both_servers(s: Settings) -> list[str]:
    """The both-cores phase's servers, in the order they run: ovserve, ovserve ×2, then the peers."""
    return ["ovserve", OVSERVE_W2, *(p for p in ("kserve", "mlserver") if p in s.servers)]


def server_kinds(s: Settings) -> dict[str, ServerKind]:
    p = s.port_base
    ovserve_flags = "default flags" + (f" plus `{shlex.join(s.ovserve_args)}`" if s.ovserve_args else "")
    kinds = [
        ServerKind("ovserve", "ovserve", PROTOCOLS, p, p + 1, _ovserve_command, ovserve_flags),
        ServerKind(
            OVSERVE_W2,
            "ovserve ×2",
            BOTH_PROTOCOLS,
            p + 2,
            p + 3,
            _ovserve_command,
            f"ovserve's {ovserve_flags} then `--rest_workers 2`: a supervisor and 2 worker processes sharing "
            "the REST port (one inherited listening socket) and the gRPC port (SO_REUSEPORT); both-cores "
            "phase only",
            ("--rest_workers", "2"),
        ),
        ServerKind(
            "kserve",
            "KServe",
            ("v2_json", "v2_binary", "v2_grpc"),
            p + 10,
            p + 11,
            _kserve_command,
            "kserve 0.21 ModelServer, 1 worker, `--enable_latency_logging false`, access and timing log "
            "lines off (log config at WARNING); binds 0.0.0.0, traffic only to 127.0.0.1",
        ),
        ServerKind(
            "mlserver",
            "MLServer",
            ("v2_json", "v2_binary", "v2_grpc"),
            p + 20,
            p + 21,
            _mlserver_command,
            "mlserver 1.7.1, `parallel_workers: 0` (inference in the server process, like the others), "
            "`debug: false`, metrics and gzip off, host 127.0.0.1",
        ),
    ]
    return {k.name: k for k in kinds}


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
