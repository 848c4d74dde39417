"""Load generators (wrk for REST, h2load for gRPC), the CPU accounting around each measured run,
and the in-process figures (bench/floor.py and OpenVINO's benchmark_app)."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from models import ModelSpec
from plan import BENCH, GRPC_PATH, MAIN_PY, OTHER_LOAD_FLAG, OWN, ROOT, WORK, Settings
from servers import RunningServer, ServerKind


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


def rest_url(kind: ServerKind, spec: ModelSpec, protocol: str) -> str:
    """The URL a REST protocol posts to on ``kind`` (the peers' own APIs: ``kind.own_path``)."""
    base = f"http://127.0.0.1:{kind.rest_port}"
    if protocol == "tfs_rest":
        return f"{base}/v1/models/{spec.name}:predict"
    if protocol == OWN:
        return base + kind.own_path
    return f"{base}/v2/models/{spec.name}/infer"


def loader(
    s: Settings,
    kind: ServerKind,
    spec: ModelSpec,
    protocol: str,
    c: int,
    files: dict[str, Path],
    pinned: bool,
) -> Callable[[int], dict]:
    """A function that loads ``kind`` with ``protocol`` at concurrency ``c`` for so many seconds."""
    body = files[protocol]
    if protocol in GRPC_PATH:
        url = f"http://127.0.0.1:{kind.grpc_port}{GRPC_PATH[protocol]}"
        min_bytes = int(np.prod(spec.output_shape)) * 4
        return lambda seconds: run_h2load(s, url, body, c, seconds, pinned, min_bytes)
    hlen = (body.parent / (body.name + ".hlen")).read_text() if protocol == "v2_binary" else ""
    ctype = "application/octet-stream" if protocol == "v2_binary" else "application/json"
    url = rest_url(kind, spec, protocol)
    return lambda seconds: run_wrk(s, url, body, ctype, hlen, c, seconds, pinned)


def run_case(
    s: Settings,
    server: RunningServer,
    spec: ModelSpec,
    protocol: str,
    c: int,
    files: dict[str, Path],
    pinned: bool,
    seconds: int,
    warmup: int | None = None,
) -> dict:
    """Warm up (``warmup`` seconds, default BENCH_WARMUP), let the server finish what the warm-up
    left, wait for a quiet machine, measure."""
    load = loader(s, server.kind, spec, protocol, c, files, pinned)
    warmup = s.warmup if warmup is None else warmup
    if warmup > 0:
        load(warmup)
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


#: OpenVINO's benchmark_app, from the openvino wheel
BENCHMARK_APP = ROOT / ".venv/bin/benchmark_app"


def benchmark_app(
    xml: Path,
    plugin: dict[str, object],
    options: list[str],
    timeout: float,
    config: Path,
    prefix: list[str] | None = None,
) -> str | None:
    """benchmark_app's output for ``xml`` on CPU with ``plugin`` (written to ``config``) and
    ``options`` (``prefix``: a command to run it under); None when the tool is missing or hung."""
    if not BENCHMARK_APP.exists():
        return None
    config.write_text(json.dumps({"CPU": plugin}))
    argv = [*(prefix or []), str(BENCHMARK_APP), "-m", str(xml), "-d", "CPU", "-load_config", str(config)]
    try:
        return subprocess.run([*argv, *options], capture_output=True, text=True, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return None


def benchmark_app_fps(out: str) -> float | None:
    """The throughput (FPS) benchmark_app printed, if it did."""
    found = re.search(r"Throughput:\s+([\d.]+)\s*FPS", out)
    return float(found.group(1)) if found else None


def run_benchmark_app(s: Settings, xml: Path, pinned: bool) -> dict[str, dict]:
    if not BENCHMARK_APP.exists():
        return {}
    results = {}
    for api in ("sync", "async"):
        prefix = _prefix(s, pinned, s.server_cpus)
        options = ["-api", api, "-t", str(s.seconds)]
        out = benchmark_app(xml, s.plugin_config, options, 300, WORK / "benchmark_app.json", prefix)
        if out is None:
            continue
        tput = benchmark_app_fps(out)
        median = re.search(r"Median:\s+([\d.]+)\s*(ms|us)", out)
        nireq = re.search(r"(\d+) inference requests", out)
        if tput is not None and median:
            scale = 1000.0 if median.group(2) == "ms" else 1.0
            results[api] = {
                "rps": tput,
                "p50_us": float(median.group(1)) * scale,
                "nireq": int(nireq.group(1)) if nireq else 1,
            }
    return results
