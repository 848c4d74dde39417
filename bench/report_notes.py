"""The report's descriptive sections: the machine, the versions, how the servers, pinning and
load generators were set up. The tables and targets are in bench/report.py."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path

import numpy as np
from kinds import FLOOR_ASGI, FLOOR_GRPC, OVSERVE_W2
from plan import ENVS, OTHER_LOAD_FLAG, ROOT, Report
from servers import ServerKind


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
        *(own_api_version(name, package) for name, package in OWN_API_PACKAGES),
        f"wrk {wrk}, h2load {h2load}, kernel {platform.release()}",
    ]


#: the own-API peers' venvs and their main package
OWN_API_PACKAGES = (("bentoml", "bentoml"), ("litserve", "litserve"), ("rayserve", "ray"))


def own_api_version(env: str, package: str) -> str:
    py = ENVS / env / "bin/python"
    return (
        f"{env} venv: {package} {_version(py, package)}, openvino {_version(py, 'openvino')}, "
        f"uvicorn {_version(py, 'uvicorn')}, uvloop {_version(py, 'uvloop')}, Python {_py_version(py)}"
    )


def _py_version(python: Path) -> str:
    if not python.exists():
        return "not installed"
    r = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    )
    return r.stdout.strip() or "?"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "cpu"


def intro(rep: Report, model_name: str) -> list[str]:
    s = rep.settings
    date = rep.started.strftime("%Y-%m-%d")
    return [
        f"# Benchmark {date}: {model_name}" + (" (BENCH_QUICK smoke run)" if s.quick else ""),
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


def machine_section(rep: Report, m: dict[str, str]) -> list[str]:
    lines = ["", "## Machine", ""]
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
    return [*lines, "", "## Versions", "", *(f"- {v}" for v in versions())]


def servers_section(rep: Report, kinds: dict[str, ServerKind]) -> list[str]:
    s = rep.settings
    lines = ["", "## Servers and pinning", ""]
    for name in s.servers:
        lines.append(f"- **{kinds[name].label}**: {kinds[name].notes}.")
    if rep.both:
        lines.append(f"- **{kinds[OVSERVE_W2].label}**: {kinds[OVSERVE_W2].notes}.")
    if rep.pairs:
        lines += [f"- **{kinds[name].label}**: {kinds[name].notes}." for name in (FLOOR_ASGI, FLOOR_GRPC)]
    lines.append(
        "- Peers' runtime (bench/peers/): compile once at load; per request an idle infer request from a pool of "
        "OPTIMAL_NUMBER_OF_INFER_REQUESTS, `start_async`, completion (OpenVINO's callback) awaited on the event "
        "loop, output copied out (ovserve's pool and hand-off, its completion through a waiter thread's `wait()`: "
        "the comparison is about the front ends)."
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
    return lines


def generators_section(rep: Report) -> list[str]:
    lines = ["", "## Load generators", ""]
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
    return lines + [f"- {c}" for c in rep.checks]
