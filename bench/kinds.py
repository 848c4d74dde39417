"""The servers `make bench` runs: ovserve (one process, and ×2 workers), the front-end floors,
and the peers (KServe, MLServer, BentoML, LitServe, Ray Serve): each one's command line,
ports and set-up notes, as :class:`ServerKind` rows."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from models import ModelSpec
from plan import BENCH, BOTH_PROTOCOLS, ENVS, OWN, PROTOCOLS, ROOT, WORK, Settings
from servers import ServerKind


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
    return {k.name: k for k in [*kinds, *floor_kinds(s), *own_api_kinds(s)]}


#: the front-end floors: not in BENCH_SERVERS, run by the interleaved phase (bench/interleave.py)
FLOOR_ASGI = "floor_asgi"
FLOOR_GRPC = "floor_grpc"


def _floor_command(
    kind: ServerKind, s: Settings, spec: ModelSpec, base: Path
) -> tuple[list[str], dict[str, str], Path]:
    script, port = (
        ("asgi_app.py", kind.rest_port) if kind.name == FLOOR_ASGI else ("grpc_handler.py", kind.grpc_port)
    )
    argv = [str(ROOT / ".venv/bin/python"), str(BENCH / "floors" / script)]
    argv += ["--model", f"{spec.name}={base / spec.xml}", "--port", str(port)]
    return argv, {"BENCH_PLUGIN_CONFIG": json.dumps(s.plugin_config)}, WORK


def floor_kinds(s: Settings) -> list[ServerKind]:
    p = s.port_base
    same_call = "the same OpenVINO call as ovserve for a fast model (bench/floors/ovcall.py: copy in, `infer()` inline, copy out)"
    return [
        ServerKind(
            FLOOR_ASGI,
            "raw ASGI floor",
            ("v2_json",),
            p + 30,
            p + 31,
            _floor_command,
            "bench/floors/asgi_app.py: a raw ASGI app (no framework) on uvicorn with uvloop and httptools, orjson "
            f"decoding the KServe v2 JSON request and encoding the answer, {same_call}",
        ),
        ServerKind(
            FLOOR_GRPC,
            "bare grpc.aio floor",
            ("v2_grpc",),
            p + 32,
            p + 33,
            _floor_command,
            "bench/floors/grpc_handler.py: a bare `grpc.aio` server on uvloop with one generic handler "
            "(no servicer class, no interceptor) parsing the ModelInferRequest, "
            f"{same_call}, answering with `raw_output_contents`",
            ready_path=None,
        ),
    ]


#: the peers that speak no KServe v2: each serves the tiny model on its own REST JSON API
OWN_API_PEERS = ("bentoml", "litserve", "rayserve")


def _own_api_command(
    kind: ServerKind, s: Settings, spec: ModelSpec, base: Path
) -> tuple[list[str], dict[str, str], Path]:
    xml, port, peers = str(base / spec.xml), str(kind.rest_port), BENCH / "peers"
    env = {"BENCH_PLUGIN_CONFIG": json.dumps(s.plugin_config)}
    if kind.name == "bentoml":
        argv = [str(ENVS / "bentoml/bin/bentoml"), "serve", "bentoml_service:Model"]
        argv += ["--host", "127.0.0.1", "--port", port]
        return argv, {**env, "BENCH_XML": xml, "BENTOML_DO_NOT_TRACK": "True"}, peers
    script = {"litserve": "litserve_server.py", "rayserve": "rayserve_app.py"}[kind.name]
    argv = [str(ENVS / kind.name / "bin/python"), str(peers / script), "--xml", xml, "--port", port]
    if kind.name == "rayserve":
        env |= {"RAY_USAGE_STATS_ENABLED": "0", "RAY_SERVE_LOG_TO_STDERR": "0"}
    return argv, env, WORK


def own_api_kinds(s: Settings) -> list[ServerKind]:
    p = s.port_base
    return [
        ServerKind(
            "bentoml",
            "BentoML",
            (OWN,),
            p + 40,
            p + 41,
            _own_api_command,
            "bentoml 1.4.40, bench/peers/bentoml_service.py: one `@bentoml.api` async method taking and "
            "returning a numpy array (BentoML's JSON codec), `workers=1`, access log and metrics off, "
            "uvloop and httptools installed",
            ready_path="/readyz",
        ),
        ServerKind(
            "litserve",
            "LitServe",
            (OWN,),
            p + 50,
            p + 51,
            _own_api_command,
            "litserve 0.2.19, bench/peers/litserve_server.py: a `LitAPI` (decode, synchronous OpenVINO predict, "
            "encode) with 1 API server and 1 inference worker process, `fast_queue=True` (ZeroMQ), no timeout, "
            "uvicorn with uvloop + httptools and no access log",
            ready_path="/health",
        ),
        ServerKind(
            "rayserve",
            "Ray Serve",
            (OWN,),
            p + 60,
            p + 61,
            _own_api_command,
            "ray[serve] 2.60.0, bench/peers/rayserve_app.py: a local Ray instance (no dashboard, usage stats "
            "off), one deployment with 1 replica, `max_ongoing_requests=256`, an async `__call__` on the "
            "Starlette request; client -> Ray's HTTP proxy actor -> replica actor; access log off",
            ready_path="/predict",
        ),
    ]
