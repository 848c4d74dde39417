"""`make bench`: ovserve beside KServe and MLServer, and the in-process floor, on 127.0.0.1.

Runs with ovserve's .venv (it has OpenVINO, numpy, grpcio, tritonclient and ovmsclient for
the payloads and the answer checks). bench/setup.sh must have built bench/.envs first.
One server process runs at a time; each is started, checked against in-process OpenVINO
on every protocol it speaks, loaded case by case, and stopped. See bench/README.md.

Environment knobs (all optional):
  BENCH_SECONDS=6        measured seconds per case (integer)
  BENCH_WARMUP=2         warm-up seconds per case, not measured (integer, 0 = none)
  BENCH_QUICK=1          smoke run (~2 min): 2 s cases, fewer of them, result in bench/work/
  BENCH_SERVERS=ovserve,kserve,mlserver
  BENCH_MODELS=tiny,resnet50
  BENCH_PIN=auto         auto: pin the tiny model's cases (server core 1, generator core 0);
                         none: never pin; all: pin every case
  BENCH_SERVER_CPUS=1  BENCH_CLIENT_CPUS=0
  BENCH_PLUGIN_CONFIG='{"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}'
  BENCH_OVSERVE_ARGS='--rest_workers 2'   extra ovserve flags
  BENCH_BOTH_CORES=1     after the main cases, the tiny model's v2 cases again with nothing pinned:
                         ovserve, ovserve --rest_workers 2, KServe, MLServer (0 = skip)
  BENCH_QUIET_WAIT=20    before each measured run, wait up to this long for other processes to go idle
  BENCH_QUIET_BUDGET=240 ... and no longer than this in all (30 with BENCH_QUICK)
  BENCH_CASES=v2_grpc,v2_json:8,*:64   only these cases (protocol, protocol:c or *:c)
  BENCH_PORT_BASE=18100  BENCH_OUT=path.md
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import models
import numpy as np
from models import ModelSpec

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
ENVS = BENCH / ".envs"
MAIN_PY = Path(sys.executable)

PROTOCOLS = ("v2_json", "v2_binary", "v2_grpc", "tfs_rest", "tfs_grpc")
LABEL = {
    "v2_json": "v2 REST JSON",
    "v2_binary": "v2 REST binary",
    "v2_grpc": "v2 gRPC",
    "tfs_rest": "TFS REST",
    "tfs_grpc": "TFS gRPC",
}
#: the APIs of the both-cores phase: those every server speaks
BOTH_PROTOCOLS = ("v2_json", "v2_binary", "v2_grpc")
GRPC_PATH = {
    "v2_grpc": "/inference.GRPCInferenceService/ModelInfer",
    "tfs_grpc": "/tensorflow.serving.PredictionService/Predict",
}
#: other processes busier than this many cores during a case mark it as skewed
OTHER_LOAD_FLAG = 0.25
#: results of one phase: (model, protocol, c) -> server name -> result
Results = dict[tuple[str, str, int], dict[str, dict]]
DEFAULT_PLUGIN_CONFIG = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}


# --------------------------------------------------------------------------------------------
# settings and the case plan


@dataclass
class Settings:
    seconds: int
    warmup: int
    quick: bool
    servers: list[str]
    models: list[str]
    pin: str
    server_cpus: str
    client_cpus: str
    plugin_config: dict[str, str]
    ovserve_args: list[str]
    port_base: int
    out: Path | None
    quiet_wait: float
    quiet_budget: float
    cases: list[str]
    both_cores: bool

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        quick = env.get("BENCH_QUICK", "") not in ("", "0")
        out = env.get("BENCH_OUT")
        return cls(
            seconds=int(env.get("BENCH_SECONDS", "2" if quick else "6")),
            warmup=int(env.get("BENCH_WARMUP", "1" if quick else "2")),
            quick=quick,
            servers=env.get("BENCH_SERVERS", "ovserve,kserve,mlserver").split(","),
            models=env.get("BENCH_MODELS", "tiny,resnet50").split(","),
            pin=env.get("BENCH_PIN", "auto"),
            server_cpus=env.get("BENCH_SERVER_CPUS", "1"),
            client_cpus=env.get("BENCH_CLIENT_CPUS", "0"),
            plugin_config=json.loads(env.get("BENCH_PLUGIN_CONFIG", json.dumps(DEFAULT_PLUGIN_CONFIG))),
            ovserve_args=shlex.split(env.get("BENCH_OVSERVE_ARGS", "")),
            port_base=int(env.get("BENCH_PORT_BASE", "18100")),
            out=Path(out) if out else None,
            quiet_wait=float(env.get("BENCH_QUIET_WAIT", "20")),
            quiet_budget=float(env.get("BENCH_QUIET_BUDGET", "30" if quick else "240")),
            cases=[c for c in env.get("BENCH_CASES", "").split(",") if c],
            both_cores=env.get("BENCH_BOTH_CORES", "1") not in ("", "0"),
        )

    def pinned(self, model: str) -> bool:
        if self.pin == "none" or (os.cpu_count() or 1) < 2:
            return False
        return self.pin == "all" or model == "tiny"

    def plan(self, model: str) -> list[tuple[str, int]]:
        """(protocol, concurrency) cases for ``model``, in the order they run, after BENCH_CASES."""
        return [(p, c) for p, c in self._plan(model) if self._wanted(p, c)]

    def _wanted(self, protocol: str, c: int) -> bool:
        if not self.cases:
            return True
        return any(w in (protocol, f"{protocol}:{c}", f"*:{c}") for w in self.cases)

    def _plan(self, model: str) -> list[tuple[str, int]]:
        if self.quick:
            if model == "tiny":
                return [(p, c) for c in (1, 8) for p in PROTOCOLS]
            return [(p, 4) for p in ("v2_binary", "v2_grpc")]
        if model == "tiny":
            return [(p, c) for c in (1, 8, 64) for p in PROTOCOLS]
        # ResNet: c=4 is the throughput target; c=64 only where it tells most
        cases = [(p, c) for c in (1, 4, 8) for p in PROTOCOLS]
        return [*cases, ("v2_binary", 64), ("v2_grpc", 64)]

    def floor_concurrency(self, model: str) -> list[int]:
        return sorted({c for _, c in self.plan(model)})

    def both_plan(self) -> list[tuple[str, int]]:
        """The both-cores phase's cases (tiny model, nothing pinned), after BENCH_CASES."""
        counts = (8,) if self.quick else (8, 64)
        return [(p, c) for c in counts for p in BOTH_PROTOCOLS if self._wanted(p, c)]

    def both_skipped(self) -> str | None:
        """Why the both-cores phase does not run, or None when it does."""
        if not self.both_cores:
            return "BENCH_BOTH_CORES=0"
        if "tiny" not in self.models:
            return "BENCH_MODELS has no tiny"
        if "ovserve" not in self.servers:
            return "BENCH_SERVERS has no ovserve"
        if (os.cpu_count() or 1) < 2:
            return "fewer than 2 CPUs"
        if not self.both_plan():
            return "BENCH_CASES selects none of its cases"
        return None


# --------------------------------------------------------------------------------------------
# servers


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
        url = f"http://127.0.0.1:{self.kind.rest_port}/v2/models/{model}/ready"
        end = time.monotonic() + timeout
        ready = 0
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind.name} exited with {self.proc.returncode}: {self.log_tail()}")
            self.tree()  # the workers, for stop() should the server fail before it is ready
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    ready = ready + 1 if r.status == 200 else 0
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                ready = 0
            if ready >= streak:
                return
            time.sleep(0.05 if ready else 0.3)
        raise RuntimeError(f"{self.kind.name} not ready after {timeout:.0f} s: {self.log_tail()}")

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


# --------------------------------------------------------------------------------------------
# answer checks: one request per protocol with the exact bytes the generators send


def _http(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {}, exc.read()


def answer(protocol: str, port: int, spec: ModelSpec, body: bytes, hlen: str) -> np.ndarray:
    """Send ``body`` once and decode the output tensor; raises with the reason on any failure."""
    if protocol in GRPC_PATH:
        import grpc

        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            raw = channel.unary_unary(GRPC_PATH[protocol])(body[5:], timeout=120)
        if protocol == "v2_grpc":
            from tritonclient.grpc import service_pb2

            msg = service_pb2.ModelInferResponse.FromString(raw)
            out = msg.outputs[0]
            if msg.raw_output_contents:
                return np.frombuffer(msg.raw_output_contents[0], np.float32).reshape(list(out.shape))
            return np.array(out.contents.fp32_contents, np.float32).reshape(list(out.shape))
        from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2

        tensor = predict_pb2.PredictResponse.FromString(raw).outputs[spec.output_name]
        shape = [d.size for d in tensor.tensor_shape.dim]
        if tensor.tensor_content:
            return np.frombuffer(tensor.tensor_content, np.float32).reshape(shape)
        return np.array(tensor.float_val, np.float32).reshape(shape)

    if protocol == "tfs_rest":
        url = f"http://127.0.0.1:{port}/v1/models/{spec.name}:predict"
        status, _, data = _http(url, body, {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
        return np.asarray(json.loads(data)["predictions"], np.float32)

    url = f"http://127.0.0.1:{port}/v2/models/{spec.name}/infer"
    headers = {"Content-Type": "application/json"}
    if protocol == "v2_binary":
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": hlen}
    status, response_headers, data = _http(url, body, headers)
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {data[:160]!r}")
    json_len = int(response_headers.get("inference-header-content-length", len(data)))
    out = json.loads(data[:json_len])["outputs"][0]
    if "data" in out:
        return np.asarray(out["data"], np.float32).reshape(out["shape"])
    size = out["parameters"]["binary_data_size"]
    return np.frombuffer(data[json_len : json_len + size], np.float32).reshape(out["shape"])


# --------------------------------------------------------------------------------------------
# load generators


def _prefix(s: Settings, pinned: bool, cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if pinned else []


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    s: Settings, url: str, body: Path, ctype: str, hlen: str, c: int, seconds: int, pinned: bool
) -> dict:
    argv = [*_prefix(s, pinned, s.client_cpus), "wrk", "-t1", f"-c{c}", f"-d{seconds}s", "--timeout", "60s"]
    argv += ["-s", str(BENCH / "lua/post.lua"), url, "--", str(body), ctype, hlen]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out[-400:]}")
    r = json.loads(line.split(" ", 1)[1])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {
        "requests": r["requests"],
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_us": float(r["p50_us"]),
        "p99_us": float(r["p99_us"]),
        "errors": errors,
    }


def run_h2load(s: Settings, url: str, body: Path, c: int, seconds: int, pinned: bool, min_bytes: int) -> dict:
    log = WORK / f"h2load-{os.getpid()}.tsv"
    log.unlink(missing_ok=True)
    argv = [*_prefix(s, pinned, s.client_cpus), "h2load", "-t1", f"-c{c}", "-m1", f"-D{seconds}"]
    argv += ["-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers"]
    argv += [f"--log-file={log}", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    rows = [ln.split("\t") for ln in log.read_text().splitlines() if ln.strip()] if log.exists() else []
    ok = [int(r[2]) for r in rows if r[1] == "200"]
    data = re.search(r"\((\d+)\) data", out)
    data_bytes = int(data.group(1)) if data else 0
    errors = len(rows) - len(ok)
    # gRPC errors are HTTP 200 with a grpc-status trailer and no message: count missing bytes
    if ok and data_bytes < 0.99 * len(ok) * min_bytes:
        errors += len(ok) - int(data_bytes // max(min_bytes, 1))
    lat = np.asarray(ok, dtype=np.float64)
    log.unlink(missing_ok=True)
    return {
        "requests": len(ok),
        "rps": len(ok) / seconds,
        "p50_us": float(np.percentile(lat, 50)) if ok else float("nan"),
        "p99_us": float(np.percentile(lat, 99)) if ok else float("nan"),
        "errors": errors,
    }


def drain(server: RunningServer, timeout: float = 60.0) -> None:
    """Wait until the server is idle: a closed connection does not stop the work it had sent."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        own, t0 = server.cpu_seconds(), time.monotonic()
        time.sleep(0.3)
        if (server.cpu_seconds() - own) / (time.monotonic() - t0) < 0.1:
            return


def window(s: Settings, floor: dict | None, c: int) -> int:
    """Measured seconds for a case: BENCH_SECONDS, longer where c requests take long to cycle once
    (ResNet at c=64: the first round of answers is a fill-up transient), at most 30 s."""
    if not floor or not floor.get("rps"):
        return s.seconds
    cycle = c / floor["rps"]  # seconds for c requests at the in-process rate
    return max(s.seconds, min(30, round(4 * cycle)))


def wait_quiet(s: Settings, own_cpu: Callable[[], float] = lambda: 0.0) -> None:
    """Wait (within BENCH_QUIET_WAIT seconds per case, BENCH_QUIET_BUDGET in all) until other processes
    on the machine are idle, so that a shared machine skews fewer cases. ``own_cpu``: our server's CPU."""
    end = time.monotonic() + min(s.quiet_wait, s.quiet_budget)
    start = time.monotonic()
    while True:
        busy, own, t0 = _machine_busy(), own_cpu(), time.monotonic()
        time.sleep(0.5)
        wall = time.monotonic() - t0
        others = (_machine_busy() - busy - (own_cpu() - own)) / wall
        if others < OTHER_LOAD_FLAG or time.monotonic() >= end:
            break
    s.quiet_budget = max(0.0, s.quiet_budget - (time.monotonic() - start))


def run_case(
    s: Settings,
    server: RunningServer,
    spec: ModelSpec,
    protocol: str,
    c: int,
    files: dict[str, Path],
    pinned: bool,
    seconds: int,
) -> dict:
    """Warm up, let the server finish what the warm-up left, wait for a quiet machine, measure."""
    kind = server.kind
    body = files[protocol]
    hlen = (body.parent / (body.name + ".hlen")).read_text() if protocol == "v2_binary" else ""
    if protocol in GRPC_PATH:
        url = f"http://127.0.0.1:{kind.grpc_port}{GRPC_PATH[protocol]}"
        min_bytes = int(np.prod(spec.output_shape)) * 4

        def load(seconds: int) -> dict:
            return run_h2load(s, url, body, c, seconds, pinned, min_bytes)
    else:
        if protocol == "tfs_rest":
            url = f"http://127.0.0.1:{kind.rest_port}/v1/models/{spec.name}:predict"
        else:
            url = f"http://127.0.0.1:{kind.rest_port}/v2/models/{spec.name}/infer"
        ctype = "application/octet-stream" if protocol == "v2_binary" else "application/json"

        def load(seconds: int) -> dict:
            return run_wrk(s, url, body, ctype, hlen, c, seconds, pinned)

    if s.warmup > 0:
        load(s.warmup)
        drain(server)
    wait_quiet(s, server.cpu_seconds)
    server_cpu, client_cpu, busy, t0 = server.cpu_seconds(), _child_cpu(), _machine_busy(), time.monotonic()
    result = load(seconds)
    result["seconds"] = seconds
    wall = time.monotonic() - t0
    result["server_cpu"] = (server.cpu_seconds() - server_cpu) / wall
    result["client_cpu"] = (_child_cpu() - client_cpu) / wall
    # whatever else ran meanwhile (other users of the machine): it skews the figures
    result["other_cpu"] = max(
        0.0, (_machine_busy() - busy) / wall - result["server_cpu"] - result["client_cpu"]
    )
    return result


# --------------------------------------------------------------------------------------------
# the in-process floor


def run_floor(s: Settings, spec: ModelSpec, xml: Path, x_file: Path, pinned: bool) -> dict[int, dict]:
    argv = [*_prefix(s, pinned, s.server_cpus), str(MAIN_PY), str(BENCH / "floor.py"), "--xml", str(xml)]
    argv += ["--plugin-config", json.dumps(s.plugin_config), "--input", str(x_file)]
    argv += ["--concurrency", ",".join(map(str, s.floor_concurrency(spec.name)))]
    argv += ["--seconds", str(s.seconds), "--warmup", str(max(s.warmup, 1))]
    best: dict[int, dict] = {}
    for _attempt in range(2):  # a second try when other processes disturbed the first
        wait_quiet(s)
        busy, own, t0 = _machine_busy(), _child_cpu(), time.monotonic()
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600).stdout
        except subprocess.TimeoutExpired as exc:  # keep what it measured before it hung
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        wall = time.monotonic() - t0
        other = max(0.0, (_machine_busy() - busy - (_child_cpu() - own)) / wall)
        results = {}
        for line in out.splitlines():
            if line.startswith("BENCH_RESULT "):
                r = json.loads(line.split(" ", 1)[1])
                r["other_cpu"] = other
                results[r["concurrency"]] = r
        if not best or other < next(iter(best.values()))["other_cpu"]:
            best = results
        if other <= OTHER_LOAD_FLAG:
            break
    return best


def run_benchmark_app(s: Settings, xml: Path, pinned: bool) -> dict[str, dict]:
    tool = ROOT / ".venv/bin/benchmark_app"
    if not tool.exists():
        return {}
    config = WORK / "benchmark_app.json"
    config.write_text(json.dumps({"CPU": s.plugin_config}))
    results = {}
    for api in ("sync", "async"):
        argv = [*_prefix(s, pinned, s.server_cpus), str(tool), "-m", str(xml), "-d", "CPU"]
        argv += ["-load_config", str(config), "-api", api, "-t", str(s.seconds)]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=300).stdout
        except subprocess.TimeoutExpired:
            continue
        tput = re.search(r"Throughput:\s+([\d.]+)\s*FPS", out)
        median = re.search(r"Median:\s+([\d.]+)\s*(ms|us)", out)
        nireq = re.search(r"(\d+) inference requests", out)
        if tput and median:
            scale = 1000.0 if median.group(2) == "ms" else 1.0
            results[api] = {
                "rps": float(tput.group(1)),
                "p50_us": float(median.group(1)) * scale,
                "nireq": int(nireq.group(1)) if nireq else 1,
            }
    return results


# --------------------------------------------------------------------------------------------
# the report


def fmt_rps(v: float | None) -> str:
    if v is None or v != v:
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def fmt_ms(us: float | None) -> str:
    if us is None or us != us:
        return "—"
    ms = us / 1000.0
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def cell(r: dict | None) -> str:
    if r is None:
        return "—"
    if "skip" in r:
        return f"n/a ({r['skip']})"
    if not r.get("requests", 1):
        return f"0 answers in {r.get('seconds', '?')} s"
    text = f"{fmt_rps(r['rps'])} · {fmt_ms(r['p50_us'])} · {fmt_ms(r.get('p99_us'))}"
    if r.get("errors"):
        text += f" ⚠{r['errors']} err"
    return text + (" †" if r.get("other_cpu", 0.0) > OTHER_LOAD_FLAG else "")


def ratio(a: dict | None, b: dict | None) -> str:
    if not a or not b or "skip" in a or "skip" in b or not b.get("rps"):
        return "—"
    parts = [f"{a['rps'] / b['rps']:.2f}×"]
    for key in ("p50_us", "p99_us"):
        if a.get(key) and b.get(key):
            parts.append(f"{a[key] / b[key]:.2f}×")
    return " · ".join(parts)


@dataclass
class Report:
    settings: Settings
    started: datetime.datetime
    load_before: tuple[float, float, float]
    t_start: float
    cases: Results = field(default_factory=dict)
    #: the both-cores phase (tiny model, nothing pinned), apart from the main table
    both: Results = field(default_factory=dict)
    floors: dict[str, dict[int, dict]] = field(default_factory=dict)
    bapp: dict[str, dict[str, dict]] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    server_notes: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0


def machine() -> dict[str, str]:
    info: dict[str, str] = {"cpu": platform.processor() or "unknown"}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    flags = set(info.get("Flags", "").split())
    wanted = (
        "avx2",
        "avx512f",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "avx_vnni",
        "amx_tile",
        "amx_bf16",
        "amx_int8",
    )
    info["isa"] = ", ".join(f for f in wanted if f in flags) or "none of avx2/avx512/amx"
    info["model"] = info.get("Model name", info["cpu"])
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
    info["memory"] = f"{int(mem[1]) / 1024 / 1024:.1f} GiB"
    return info


def _version(python: Path, package: str) -> str:
    if not python.exists():
        return "not installed"
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def _tool_version(argv: list[str], pattern: str) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "not installed"
    m = re.search(pattern, r.stdout + r.stderr)
    return m.group(1) if m else "?"


def versions() -> list[str]:
    main = ROOT / ".venv/bin/python"
    ks, ml = ENVS / "kserve/bin/python", ENVS / "mlserver/bin/python"
    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    wrk = _tool_version(["wrk", "-v"], r"wrk (\S+)")
    h2load = _tool_version(["h2load", "--version"], r"nghttp2/(\S+)")
    return [
        f"ovserve {_version(main, 'ovserve')} (git {git.stdout.strip() or '?'}), Python {platform.python_version()}, "
        f"openvino {_version(main, 'openvino')}, uvicorn {_version(main, 'uvicorn')}, grpcio {_version(main, 'grpcio')}",
        f"KServe venv: kserve {_version(ks, 'kserve')}, openvino {_version(ks, 'openvino')}, "
        f"fastapi {_version(ks, 'fastapi')}, uvicorn {_version(ks, 'uvicorn')}, grpcio {_version(ks, 'grpcio')}",
        f"MLServer venv: mlserver {_version(ml, 'mlserver')}, openvino {_version(ml, 'openvino')}, "
        f"fastapi {_version(ml, 'fastapi')}, uvicorn {_version(ml, 'uvicorn')}, uvloop {_version(ml, 'uvloop')}, "
        f"grpcio {_version(ml, 'grpcio')}",
        f"wrk {wrk}, h2load {h2load}, kernel {platform.release()}",
    ]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "cpu"


def write_report(rep: Report, kinds: dict[str, ServerKind]) -> Path:
    s = rep.settings
    m = machine()
    date = rep.started.strftime("%Y-%m-%d")
    if s.out:
        path = s.out
    elif s.quick:
        path = WORK / f"{date}-{slug(m['model'])}-quick.md"
    else:
        path = BENCH / "results" / f"{date}-{slug(m['model'])}.md"
    peers = [k for k in ("kserve", "mlserver") if k in s.servers]
    pin_text = f"srv {s.server_cpus} · gen {s.client_cpus}"

    lines = [
        f"# Benchmark {date}: {m['model']}" + (" (BENCH_QUICK smoke run)" if s.quick else ""),
        "",
        "Made by `make bench` (bench/run.py). Each cell is **req/s · p50 ms · p99 ms**, measured by the load "
        "generator from 127.0.0.1 (wrk for REST, h2load for gRPC). Ratio cells are **ovserve ÷ other** for "
        "req/s · p50 · p99: req/s above 1× and latencies below 1× favour ovserve. The floor is a Python loop "
        "calling the compiled model in-process (at c=1 a sync loop of set input tensor, `infer()`, copy "
        "the output; above, an `AsyncInferQueue` of c jobs) "
        "with the same plugin config and pinning as the servers. ⚠ marks failed requests; † marks cases during "
        f"which other processes kept more than {OTHER_LOAD_FLAG} of a core busy.",
        "",
        f"Each case: {s.warmup} s warm-up, a wait for the server to finish what the warm-up left, then "
        f"{s.seconds} s measured (up to 30 s where c requests take long to cycle once: ResNet at c=64); "
        "concurrency c = connections, one request "
        f"in flight on each. Plugin config for every server and the floor: `{json.dumps(s.plugin_config)}`; "
        "one model per server process; one server runs at a time.",
        "",
    ]
    header = ["model", "API", "c", "pinning", "ovserve"]
    header += [kinds[p].label for p in peers] + ["floor (in-process)", "ovserve ÷ floor"]
    header += [f"ovserve ÷ {kinds[p].label}" for p in peers]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for model in s.models:
        for protocol, c in s.plan(model):
            by = rep.cases.get((model, protocol, c), {})
            floor = rep.floors.get(model, {}).get(c)
            row = [model, LABEL[protocol], str(c), pin_text if s.pinned(model) else "none"]
            row.append(cell(by.get("ovserve")))
            row += [cell(by.get(p)) for p in peers]
            row.append(cell(floor))
            row.append(ratio(by.get("ovserve"), floor))
            row += [ratio(by.get("ovserve"), by.get(p)) for p in peers]
            lines.append("| " + " | ".join(row) + " |")

    lines += both_section(rep, kinds)

    lines += ["", "## In-process floor: OpenVINO's benchmark_app", ""]
    if rep.bapp:
        lines += ["| model | API | infer requests | pinning | req/s | p50 ms |", "|---|---|---|---|---|---|"]
        for model, runs in rep.bapp.items():
            for api, r in runs.items():
                pin = f"core {s.server_cpus}" if s.pinned(model) else "none"
                lines.append(
                    f"| {model} | {api} | {r['nireq']} | {pin} | {fmt_rps(r['rps'])} | {fmt_ms(r['p50_us'])} |"
                )
        lines += ["", "Same plugin config (`-load_config`), random inputs, `-t` = the case duration."]
    else:
        lines.append("benchmark_app is not in .venv/bin: not measured.")

    lines += ["", "## Targets of issue 5 (this run)", ""]
    lines += targets(rep)

    lines += ["", "## Machine", ""]
    lines.append(
        f"- CPU: {m['model']}, {m.get('CPU(s)', '?')} CPUs, {m.get('Thread(s) per core', '?')} thread(s) per core, "
        f"{m.get('Hypervisor vendor', 'bare metal')} {m.get('Virtualization type', '')}".rstrip()
    )
    lines.append(
        f"- ISA flags of interest: {m['isa']} (no AMX/avx512_bf16 means f32 is OpenVINO's default precision)"
    )
    others = [
        r["other_cpu"]
        for results in (rep.cases, rep.both)
        for by in results.values()
        for r in by.values()
        if "other_cpu" in r
    ]
    busy = sum(1 for o in others if o > OTHER_LOAD_FLAG)
    lines.append(
        f"- Memory {m['memory']}; load average before {rep.load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    if others:
        lines.append(
            f"- Other processes on the machine during the measured runs: mean {np.mean(others):.2f}, max "
            f"{max(others):.2f} cores busy; {busy} of {len(others)} cases above {OTHER_LOAD_FLAG} (marked † in "
            "the table: their figures are skewed by work that was not the benchmark's)"
        )
    lines += ["", "## Versions", ""] + [f"- {v}" for v in versions()]

    lines += ["", "## Servers and pinning", ""]
    for name in s.servers:
        lines.append(f"- **{kinds[name].label}**: {kinds[name].notes}.")
    if rep.both:
        lines.append(f"- **{kinds[OVSERVE_W2].label}**: {kinds[OVSERVE_W2].notes}.")
    lines.append(
        "- Peers' runtime (bench/peers/): compile once at load; per request an idle infer request from a pool of "
        "OPTIMAL_NUMBER_OF_INFER_REQUESTS, `start_async`, completion awaited on the event loop, output copied out "
        "(the same mechanism as ovserve, so the comparison is about the front ends)."
    )
    if any(s.pinned(mdl) for mdl in s.models):
        lines.append(
            f"- Pinning: where the table says so, the server (and the floor, and benchmark_app) runs under "
            f"`taskset -c {s.server_cpus}` and the generator under `taskset -c {s.client_cpus}`: on 2 cores the "
            "tiny model's one-process server is bound by its front-end core, which pinning keeps free of the "
            "generator and of OpenVINO's threads. "
            "The ResNet cases are unpinned: the model needs both cores and the generator costs little there."
        )
    if rep.both:
        lines.append(
            "- Both cores (its own section): nothing pinned, neither the servers nor the generator, so that a "
            "server may use both cores; the generator shares them."
        )

    lines += ["", "## Load generators", ""]
    lines += [
        "- REST: `wrk -t1 -c<c>` with bench/lua/post.lua (a fixed body read from a file; binary adds "
        "`Inference-Header-Content-Length`); percentiles from wrk's latency histogram, non-2xx counted as errors.",
        "- gRPC: `h2load -t1 -c<c> -m1` (nghttp2, C) posting a length-prefixed protobuf (`content-type: "
        "application/grpc`, `te: trailers`) to the service path; percentiles from `--log-file`. Chosen over "
        "perf_analyzer because the one C generator drives all five gRPC targets alike (KServe v2 *and* TF Serving "
        "Predict), needs nothing from the server but the RPC itself (perf_analyzer's Triton mode first reads the model "
        "through Triton's ModelConfig RPC, which neither KServe's nor MLServer's servicer implements), "
        "and costs a fraction of a core: see the generator CPU column below. "
        "h2load does not read gRPC trailers, so a gRPC error would pass as HTTP 200: every response's DATA "
        "bytes are checked against the output tensor's size, and each server's answers are checked before "
        "its cases run.",
        "- Warm-up is a separate run of the same generator before each measured run.",
    ]

    lines += [
        "",
        "## Answer checks (one request per protocol, the generator's exact bytes, vs in-process OpenVINO)",
        "",
    ]
    lines += [f"- {c}" for c in rep.checks]

    lines += [
        "",
        "## Detail: CPU used during each measured run (cores busy = CPU seconds ÷ wall seconds)",
        "",
    ]
    lines += [
        "| server | model | API | c | seconds | requests | errors | server cores busy | generator cores busy | "
        "other processes, cores busy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    detail = [(key[0], key, by) for key, by in rep.cases.items()]
    detail += [(f"{key[0]}, both cores", key, by) for key, by in rep.both.items()]
    for model, (_, protocol, c), by in detail:
        for name, r in by.items():
            if "skip" in r:
                continue
            lines.append(
                f"| {kinds[name].label} | {model} | {LABEL[protocol]} | {c} | {r['seconds']} | {r['requests']} | "
                f"{r['errors']} | "
                f"{r['server_cpu']:.2f} | {r['client_cpu']:.2f} | {r['other_cpu']:.2f} |"
            )
    lines += [
        "",
        f"Run time {rep.elapsed / 60:.1f} min. Logs of the servers: bench/work/logs/ (not kept in git).",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def both_section(rep: Report, kinds: dict[str, ServerKind]) -> list[str]:
    """The both-cores phase's table: ovserve, ovserve ×2 and the peers, nothing pinned."""
    s = rep.settings
    lines = ["", "## Both cores, nothing pinned (tiny model)", ""]
    skipped = s.both_skipped()
    if skipped:
        return [*lines, f"Not run ({skipped}; `BENCH_BOTH_CORES=1` and the tiny model with ovserve run it)."]
    peers = [k for k in ("kserve", "mlserver") if k in s.servers]
    w2 = kinds[OVSERVE_W2].label
    lines += [
        f"The tiny model's v2 cases again with **no process pinned**, so that a server can use both cores: "
        f"ovserve with the main table's flags, **{w2}** (the same plus `--rest_workers 2`: a supervisor and 2 worker "
        "processes sharing both ports) and the peers as configured above. **The load generator shares the two "
        "cores with the server here**: the CPU it takes is CPU the server could have used, so these figures are "
        "below what the same server would reach with its generator on another machine; the detail table "
        f"shows the CPU each side used (the server's counts the supervisor and its workers). Ratio cells are "
        f"**{w2} ÷ other** for req/s · p50 · p99.",
        "",
    ]
    header = ["API", "c", "ovserve", w2, *(kinds[p].label for p in peers)]
    header += [f"{w2} ÷ {kinds[p].label}" for p in peers] + [f"{w2} ÷ ovserve"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for protocol, c in s.both_plan():
        by = rep.both.get(("tiny", protocol, c), {})
        row = [LABEL[protocol], str(c), cell(by.get("ovserve")), cell(by.get(OVSERVE_W2))]
        row += [cell(by.get(p)) for p in peers]
        row += [ratio(by.get(OVSERVE_W2), by.get(p)) for p in peers]
        row.append(ratio(by.get(OVSERVE_W2), by.get("ovserve")))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def targets(rep: Report) -> list[str]:
    def get(model: str, protocol: str, c: int, server: str, results: Results | None = None) -> dict | None:
        r = (rep.cases if results is None else results).get((model, protocol, c), {}).get(server)
        return None if r is None or "skip" in r else r

    out = []

    def against(label: str, a: dict | None, b: dict | None, want: float) -> None:
        if a and b:
            got = a["rps"] / b["rps"]
            verdict = "met" if got >= want else "not met"
            out.append(f"- {label}: {got:.2f}× (target ≥ {want:g}×): **{verdict}**")
        else:
            out.append(f"- {label}: not measured in this run")

    ov_json = get("tiny", "v2_json", 8, "ovserve")
    against(
        "tiny, v2 REST JSON, c=8, ovserve ÷ KServe req/s", ov_json, get("tiny", "v2_json", 8, "kserve"), 5
    )
    against(
        "tiny, v2 REST JSON, c=8, ovserve ÷ MLServer req/s", ov_json, get("tiny", "v2_json", 8, "mlserver"), 4
    )
    against(
        "tiny, v2 gRPC, c=8, ovserve ÷ KServe req/s",
        get("tiny", "v2_grpc", 8, "ovserve"),
        get("tiny", "v2_grpc", 8, "kserve"),
        3,
    )
    both = " (both cores, ovserve ×2)"
    w2_json = get("tiny", "v2_json", 8, OVSERVE_W2, rep.both)
    against(
        f"tiny, v2 REST JSON, c=8, ovserve ÷ KServe req/s{both}",
        w2_json,
        get("tiny", "v2_json", 8, "kserve", rep.both),
        5,
    )
    against(
        f"tiny, v2 REST JSON, c=8, ovserve ÷ MLServer req/s{both}",
        w2_json,
        get("tiny", "v2_json", 8, "mlserver", rep.both),
        4,
    )
    against(
        f"tiny, v2 gRPC, c=8, ovserve ÷ KServe req/s{both}",
        get("tiny", "v2_grpc", 8, OVSERVE_W2, rep.both),
        get("tiny", "v2_grpc", 8, "kserve", rep.both),
        3,
    )
    floor4 = rep.floors.get("resnet50", {}).get(4)
    best = max(
        (r for r in (get("resnet50", p, 4, "ovserve") for p in ("v2_grpc", "v2_binary")) if r),
        key=lambda r: r["rps"],
        default=None,
    )
    against(
        "resnet50, best of v2 gRPC / REST binary, c=4, ovserve ÷ in-process AsyncInferQueue(4)",
        best,
        floor4,
        0.95,
    )
    floor1 = rep.floors.get("tiny", {}).get(1)
    for protocol in ("v2_json", "v2_binary", "tfs_rest"):
        r = get("tiny", protocol, 1, "ovserve")
        if r and floor1:
            delta = r["p50_us"] - floor1["p50_us"]
            verdict = "met" if delta <= 150 else "not met"
            out.append(
                f"- tiny, {LABEL[protocol]}, c=1, p50 above the in-process sync call: {delta:.0f} µs "
                f"(target ≤ 150 µs): **{verdict}**"
            )
    return out


# --------------------------------------------------------------------------------------------


def _log(t_start: float, text: str) -> None:
    print(f"[bench {time.monotonic() - t_start:6.1f}s] {text}", flush=True)


@dataclass
class Phase:
    """A server's cases on one model: which, pinned or not, and where their results go."""

    plan: list[tuple[str, int]]
    pinned: bool
    results: Results
    #: "" for the main phase; else it prefixes the log lines and answer checks and names the logs
    title: str = ""

    @classmethod
    def main(cls, rep: Report, model: str) -> Phase:
        s = rep.settings
        return cls(s.plan(model), s.pinned(model), rep.cases)

    @classmethod
    def both_cores(cls, rep: Report) -> Phase:
        return cls(rep.settings.both_plan(), False, rep.both, "both cores")


def check_answers(
    rep: Report,
    server: RunningServer,
    spec: ModelSpec,
    files: dict[str, Path],
    expected: np.ndarray,
    phase: Phase | None = None,
) -> list[str]:
    """Ask once per protocol with the generator's bytes; returns the protocols answered right."""
    phase = phase or Phase.main(rep, spec.name)
    prefix = f"{phase.title}: " if phase.title else ""
    kind = server.kind
    good = []
    for protocol in kind.protocols:
        body = files[protocol]
        hlen_file = body.with_name(body.name + ".hlen")
        hlen = hlen_file.read_text() if hlen_file.exists() else ""
        port = kind.grpc_port if protocol in GRPC_PATH else kind.rest_port
        try:
            got = answer(protocol, port, spec, body.read_bytes(), hlen)
            if got.shape != expected.shape:
                raise RuntimeError(f"wrong answer: shape {list(got.shape)}, expected {list(expected.shape)}")
            diff = float(np.max(np.abs(got - expected)))
            if not np.allclose(got, expected, rtol=1e-4, atol=1e-6):
                raise RuntimeError(f"wrong answer: max |diff| {diff:.3g}")
            rep.checks.append(
                f"{prefix}{kind.label}, {spec.name}, {LABEL[protocol]}: ok (max |diff| {diff:.2g})"
            )
            good.append(protocol)
        except Exception as exc:  # a peer that lacks a protocol is reported, not fatal
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            rep.checks.append(f"{prefix}{kind.label}, {spec.name}, {LABEL[protocol]}: **failed**: {reason}")
            skip = {"skip": "answer check failed"}
            for p, c in phase.plan:
                if p == protocol:
                    phase.results.setdefault((spec.name, p, c), {})[kind.name] = skip
    return good


def measure_server(
    rep: Report,
    kind: ServerKind,
    spec: ModelSpec,
    base: Path,
    files: dict[str, Path],
    expected: np.ndarray,
    phase: Phase | None = None,
) -> None:
    """Start ``kind`` on ``spec``, check its answers, run the phase's cases (default: the main
    table's, pinned as Settings.pinned says), stop it."""
    s = rep.settings
    phase = phase or Phase.main(rep, spec.name)
    pinned = phase.pinned
    prefix = f"{phase.title}: " if phase.title else ""
    say = lambda text: _log(rep.t_start, text)  # noqa: E731
    say(f"{prefix}{spec.name}: starting {kind.label}" + (" (pinned)" if pinned else ""))
    server = None
    try:
        log_tag = f"-{slug(phase.title)}" if phase.title else ""
        server = RunningServer(kind, s, spec, base, pinned, log_tag)
        server.wait_ready(spec.name)
        good = check_answers(rep, server, spec, files, expected, phase)
        say(f"  answers checked: {', '.join(LABEL[p] for p in good) or 'none right'}")
        for protocol, c in phase.plan:
            if protocol not in good:
                continue
            seconds = window(s, rep.floors.get(spec.name, {}).get(c), c)
            try:
                r = run_case(s, server, spec, protocol, c, files, pinned, seconds)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, RuntimeError, OSError) as exc:
                r = {"skip": f"generator failed: {str(exc)[:80]}"}
            phase.results.setdefault((spec.name, protocol, c), {})[kind.name] = r
            say(f"  {kind.label} {LABEL[protocol]} c={c}: {cell(r)}")
            if server.proc.poll() is not None:
                raise RuntimeError(f"{kind.label} exited: {server.log_tail()}")
    except (RuntimeError, OSError) as exc:
        say(f"{prefix}{kind.label} on {spec.name}: {exc}")
        rep.checks.append(
            f"{prefix}{kind.label}, {spec.name}: **server failed**: {str(exc).splitlines()[0][:200]}"
        )
    finally:
        if server is not None:
            server.stop()


def main() -> int:
    s = Settings.from_env()
    kinds = server_kinds(s)
    for name in s.servers:
        if name not in kinds or name == OVSERVE_W2:
            known = ", ".join(k for k in kinds if k != OVSERVE_W2)
            raise SystemExit(
                f"BENCH_SERVERS: unknown server {name!r} (known: {known}; {OVSERVE_W2} runs in the "
                "both-cores phase when ovserve is listed)"
            )
    for name in s.models:
        if name not in models.SPECS:
            raise SystemExit(f"BENCH_MODELS: unknown model {name!r} (known: {', '.join(models.SPECS)})")
    rep = Report(s, datetime.datetime.now(), os.getloadavg(), time.monotonic())
    WORK.mkdir(parents=True, exist_ok=True)

    _log(rep.t_start, "building models and payloads")
    import openvino as ov

    bases = models.build(WORK)
    files: dict[str, dict[str, Path]] = {}
    expected: dict[str, np.ndarray] = {}
    inputs: dict[str, Path] = {}
    core = ov.Core()
    for name in s.models:
        spec = models.SPECS[name]
        x = models.sample_input(spec)
        files[name] = models.write_payloads(spec, x, WORK / "payloads")
        inputs[name] = WORK / "payloads" / f"{name}.npy"
        np.save(inputs[name], x)
        compiled = core.compile_model(str(bases[name] / spec.xml), "CPU", s.plugin_config)
        expected[name] = compiled.create_infer_request().infer({0: x})[0].copy()
        del compiled

    for name in s.models:
        spec = models.SPECS[name]
        _log(rep.t_start, f"{name}: in-process floor (Python loop) at c={s.floor_concurrency(name)}")
        rep.floors[name] = run_floor(s, spec, bases[name] / spec.xml, inputs[name], s.pinned(name))
        _log(rep.t_start, f"{name}: benchmark_app")
        rep.bapp[name] = run_benchmark_app(s, bases[name] / spec.xml, s.pinned(name))

    for name in s.models:
        for server_name in s.servers:
            measure_server(
                rep, kinds[server_name], models.SPECS[name], bases[name], files[name], expected[name]
            )

    skipped = s.both_skipped()
    if skipped:
        _log(rep.t_start, f"both cores, nothing pinned: not run ({skipped})")
    else:
        phase = Phase.both_cores(rep)
        tiny = models.SPECS["tiny"]
        for server_name in both_servers(s):
            measure_server(
                rep, kinds[server_name], tiny, bases["tiny"], files["tiny"], expected["tiny"], phase
            )

    rep.elapsed = time.monotonic() - rep.t_start
    path = write_report(rep, kinds)
    _log(rep.t_start, f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
