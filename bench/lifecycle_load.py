"""Latency of a small model while a large model loads and unloads in the same server, against idle.

Usage (from the repository root; about 4 minutes with the defaults)::

    .venv/bin/python bench/lifecycle_load.py [--reps 3] [--protocols v2_json,v2_grpc] [--concurrency 2]
        [--idle 8] [--settle 3] [--layers 2000] [--width 256] [--out PATH]

One ovserve, started from its CLI on 127.0.0.1, serves the ``tiny`` model of bench/models.py
(y = 2x + 1 on ``[1,10]`` FP32) from a config.json it polls every second. ``h2load`` keeps
``--concurrency`` connections busy on it (closed loop, one request in flight each; HTTP/1.1
for KServe v2 REST JSON, HTTP/2 for v2 gRPC) and logs every request's start and latency. During
each run the script

1. lets the tiny model run alone (the *idle* window, ``--idle`` seconds after a 1 s warm-up),
2. adds the large model to config.json (a stack of ``--layers`` MatMul+Add+Tanh blocks of
   ``--width``² FP32 weights: 2000 x 256 is 512 MiB and several seconds of read + compile), and
   waits until the status API (``GET /v1/models/large``, polled every 50 ms for the whole run)
   shows it AVAILABLE: the *loading* window runs from the last poll before it was seen START or
   LOADING to the first poll that saw it AVAILABLE,
3. waits ``--settle`` seconds, removes it from config.json and waits for END: the *unloading*
   window runs from the last poll that saw it AVAILABLE to the first that saw it END,
4. lets the tiny model run alone again for ``--settle`` seconds.

A request counts in a window when it was in flight during any part of it. The large model is
loaded and unloaded once before the measured runs (its time sets the runs' length, and its
files are then in the page cache, as they are for a model that was just copied in place).
Each answer is checked against in-process OpenVINO once before the load starts, and REST
answers must be HTTP 200 (gRPC errors would be HTTP 200 without the answer's bytes: the bytes
received are counted).

Writes the ``lifecycle_load`` section of ``bench/results/<date>-<cpu>-lifecycle.md`` (or
``--out``) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lifecycle_common import (
    DEFAULT_PLUGIN_CONFIG,
    WORK,
    Server,
    build_stack,
    build_tiny,
    config_doc,
    loadavg,
    machine_busy,
    machine_line,
    models,
    reference,
    results_path,
    versions_line,
    weights_mib,
    write_atomically,
    write_section,
)

SMALL, LARGE = "tiny", "large"
LABEL = {"v2_json": "KServe v2 REST JSON", "v2_grpc": "KServe v2 gRPC"}
GRPC_PATH = "/inference.GRPCInferenceService/ModelInfer"
POLL_STEP = 0.05
WINDOWS = ("idle", "loading", "unloading", "after")


# -- the status of the large model, polled for the whole run -----------------------------------
class StatusPoller:
    """Polls ``GET /v1/models/large`` every 50 ms on a thread; keeps (time.time(), state) samples."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatusPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            states = self.server.states(LARGE)
            state = "ABSENT" if not states else states.get("1", "ABSENT")
            self.samples.append((time.time(), state))
            self._stop.wait(POLL_STEP)

    def wait_for(self, state: str, since: float, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(t >= since and s == state for t, s in list(self.samples)):
                return
            time.sleep(POLL_STEP / 2)
        raise RuntimeError(f"{LARGE} not {state} within {timeout:.0f} s (see {self.server.proc.log_file})")

    def window(self, since: float, before: set[str], final: str) -> tuple[float, float]:
        """From the last sample (after ``since``) in a ``before`` state preceding the change,
        to the first sample in the ``final`` state."""
        samples = [(t, s) for t, s in self.samples if t >= since]
        end_index = next(i for i, (_, s) in enumerate(samples) if s == final)
        begin_index = max((i for i in range(end_index) if samples[i][1] in before), default=0)
        return samples[begin_index][0], samples[end_index][0]


# -- the load generator ---------------------------------------------------------------------
@dataclass
class Run:
    protocol: str
    rep: int
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)  # window -> ms
    requests: int = 0
    errors: int = 0
    other_cpu: float = 0.0
    server_cpu: float = 0.0

    def p(self, window: str, q: float) -> float:
        lat = self.latencies.get(window, [])
        return float(np.percentile(lat, q)) if lat else float("nan")


def h2load_argv(server: Server, protocol: str, body: Path, c: int, seconds: int, log: Path) -> list[str]:
    argv = ["h2load", "-t1", f"-c{c}", "-m1", f"-D{seconds}", "-d", str(body), f"--log-file={log}"]
    if protocol == "v2_grpc":
        argv += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
        return [*argv, f"http://127.0.0.1:{server.grpc_port}{GRPC_PATH}"]
    argv += ["--h1", "-H", "content-type: application/json"]
    return [*argv, f"{server.rest}/v2/models/{SMALL}/infer"]


def measure(
    server: Server,
    config: Path,
    docs: dict[str, str],
    protocol: str,
    rep: int,
    body: Path,
    args: argparse.Namespace,
    expected: float,
) -> Run:
    run = Run(protocol, rep)
    log = WORK / f"h2load-{protocol}.tsv"
    log.unlink(missing_ok=True)
    # h2load runs for a fixed time: long enough for twice the calibrated load and unload
    seconds = int(np.ceil(1 + args.idle + 2 * expected + 10 + 2 * args.settle))
    budget = seconds - args.idle - args.settle
    argv = h2load_argv(server, protocol, body, args.concurrency, seconds, log)
    busy, own, srv = machine_busy(), _child_cpu(), server.cpu_seconds()
    began = time.time()
    with StatusPoller(server) as poller:
        generator = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(1 + args.idle)
            added = time.time()
            run.windows["idle"] = (began + 1, added)
            write_atomically(config, docs["both"])
            poller.wait_for("AVAILABLE", added, timeout=budget)
            run.windows["loading"] = poller.window(added, {"ABSENT", "END"}, "AVAILABLE")
            time.sleep(args.settle)
            removed = time.time()
            write_atomically(config, docs["small"])
            poller.wait_for("END", removed, timeout=budget)
            run.windows["unloading"] = poller.window(removed, {"AVAILABLE"}, "END")
            run.windows["after"] = (run.windows["unloading"][1] + 1, began + seconds - 0.5)
            out, _ = generator.communicate(timeout=seconds + 120)
        finally:
            if generator.poll() is None:
                generator.kill()
                generator.wait()
    wall = time.time() - began
    run.server_cpu = (server.cpu_seconds() - srv) / wall
    run.other_cpu = max(0.0, (machine_busy() - busy - (_child_cpu() - own)) / wall - run.server_cpu)
    if generator.returncode != 0:
        raise RuntimeError(f"h2load failed: {out[-600:]}")
    if run.windows["after"][1] - run.windows["after"][0] < 1:
        raise RuntimeError(f"h2load's {seconds} s ended before the large model was unloaded")
    rows = [line.split("\t") for line in log.read_text().splitlines() if line.strip()]
    spans = [(int(r[0]) / 1e6, int(r[2]) / 1e6, r[1]) for r in rows]  # start s, latency s, status
    run.requests = len(spans)
    run.errors = sum(1 for _, _, status in spans if status != "200")
    if protocol == "v2_grpc":  # a gRPC error is an HTTP 200 without the answer's bytes
        data = re.search(r"\((\d+)\) data", out)
        min_bytes = 40  # the [1,10] FP32 output alone
        answered = int(data.group(1)) // min_bytes if data else 0
        run.errors += max(0, len(spans) - answered)
    for name, (lo, hi) in run.windows.items():
        run.latencies[name] = [
            lat * 1000 for start, lat, st in spans if st == "200" and start < hi and start + lat > lo
        ]
    return run


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the report --------------------------------------------------------------------------------
def ms(v: float) -> str:
    if v != v:
        return "—"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def report(runs: list[Run], info: dict[str, object], args: argparse.Namespace) -> str:
    lines = [
        "## p99 of a small model while a large model loads and unloads",
        "",
        f"Made by `bench/lifecycle_load.py`: one ovserve (started from its CLI, config.json polled every "
        f"second) serves `tiny` ([1,10] FP32, y = 2x + 1) under a closed-loop load of {args.concurrency} "
        f"connections from `h2load` (one request in flight each), while `large` ({args.layers} "
        f"MatMul+Add+Tanh blocks of {args.width}x{args.width} FP32, {info['weights_mib']:.0f} MiB of weights; "
        f"alone it took {info['load_s']:.1f} s to load and {info['unload_s']:.2f} s to unload) is added to "
        "config.json and later removed. Windows come from the status API (polled every 50 ms for the whole "
        "run): *loading* from the last poll before `large` was START/LOADING to the first that saw it "
        "AVAILABLE, *unloading* from the last poll that saw it AVAILABLE to the first that saw it END; *idle* "
        f"is the {args.idle} s before the config edit, *after* from 1 s after the unload to the end of the run. "
        "A request counts in every window it was in flight "
        f"during. {args.reps} runs per API; the first table pools their requests. Plugin config of both "
        f"models `{json.dumps(DEFAULT_PLUGIN_CONFIG)}`; nothing pinned (server, generator and the load's "
        "compile threads share the 2 cores).",
        "",
        "| API | window | seconds (median) | requests | p50 ms | p99 ms | max ms | p99 ÷ idle p99 | p50 ÷ idle p50 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for protocol in args.protocols:
        mine = [r for r in runs if r.protocol == protocol]
        pooled = {w: [v for r in mine for v in r.latencies[w]] for w in WINDOWS}
        idle50, idle99 = np.percentile(pooled["idle"], 50), np.percentile(pooled["idle"], 99)
        for w in WINDOWS:
            lat = pooled[w]
            p50, p99 = (float(np.percentile(lat, q)) for q in (50, 99)) if lat else (float("nan"),) * 2
            span = float(np.median([r.windows[w][1] - r.windows[w][0] for r in mine]))
            lines.append(
                f"| {LABEL[protocol]} | {w} | {span:.2f} | {len(lat):,} | {ms(p50)} | {ms(p99)} | "
                f"{ms(max(lat, default=float('nan')))} | {p99 / idle99:.2f}× | {p50 / idle50:.2f}× |"
            )
    lines += [
        "",
        "Per run (p50 / p99 ms; ratios against the same run's idle p99):",
        "",
        "| API | run | idle | loading (s) | loading | ÷ idle p99 | unloading (s) | unloading | ÷ idle p99 | "
        "requests | errors | server cores | other processes, cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        idle99 = r.p("idle", 99)
        cells = [LABEL[r.protocol], str(r.rep), f"{ms(r.p('idle', 50))} / {ms(idle99)}"]
        for w in ("loading", "unloading"):
            lo, hi = r.windows[w]
            cells += [f"{hi - lo:.2f}", f"{ms(r.p(w, 50))} / {ms(r.p(w, 99))}", f"{r.p(w, 99) / idle99:.2f}×"]
        cells += [f"{r.requests:,}", str(r.errors), f"{r.server_cpu:.2f}", f"{r.other_cpu:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Load average (1/5/15 min) before {info['load_before']}, after {info['load_after']}; other processes "
        "(other engineers' jobs on this shared machine) kept the CPU busy as the last column says, which "
        "skews every figure here. Answers of `tiny` checked against in-process OpenVINO over both APIs "
        f"before the runs; errors during the runs: {sum(r.errors for r in runs)}.",
        f"Machine: {machine_line()}. {versions_line()}; h2load {info['h2load']}.",
    ]
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------
def check_answers(server: Server, x: np.ndarray, expected: np.ndarray) -> None:
    import tritonclient.grpc as grpcclient

    np.testing.assert_allclose(server.infer_v2(SMALL, x), expected, rtol=1e-6)
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    try:
        tensor = grpcclient.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        np.testing.assert_allclose(client.infer(SMALL, [tensor]).as_numpy("y"), expected, rtol=1e-6)
    finally:
        client.close()


def calibrate(server: Server, config: Path, docs: dict[str, str]) -> tuple[float, float]:
    """Load and unload the large model once (unmeasured): its times, and its files in the page cache."""
    with StatusPoller(server) as poller:
        added = time.time()
        write_atomically(config, docs["both"])
        poller.wait_for("AVAILABLE", added, timeout=900)
        lo, hi = poller.window(added, {"ABSENT", "END"}, "AVAILABLE")
        removed = time.time()
        write_atomically(config, docs["small"])
        poller.wait_for("END", removed, timeout=300)
        ulo, uhi = poller.window(removed, {"AVAILABLE"}, "END")
    return hi - lo, uhi - ulo


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--protocols", default="v2_json,v2_grpc")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--idle", type=int, default=8)
    parser.add_argument("--settle", type=int, default=3)
    parser.add_argument("--layers", type=int, default=2000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.protocols = [p for p in args.protocols.split(",") if p]
    if not set(args.protocols) <= set(LABEL) or args.reps < 1:
        parser.error(f"--protocols is a list of {', '.join(LABEL)}; --reps at least 1")

    WORK.mkdir(parents=True, exist_ok=True)
    small, large = build_tiny(), build_stack(LARGE, args.layers, args.width)
    x = models.sample_input(models.TINY)
    expected = reference(small, x, DEFAULT_PLUGIN_CONFIG)
    payloads = models.write_payloads(models.TINY, x, WORK / "payloads")
    config = WORK / "load-config.json"
    docs = {
        "small": config_doc({SMALL: (small, DEFAULT_PLUGIN_CONFIG)}),
        "both": config_doc({SMALL: (small, DEFAULT_PLUGIN_CONFIG), LARGE: (large, DEFAULT_PLUGIN_CONFIG)}),
    }
    write_atomically(config, docs["small"])
    version = subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout
    info: dict[str, object] = {
        "weights_mib": weights_mib(large),
        "load_before": loadavg(),
        "h2load": (re.findall(r"nghttp2/(\S+)", version) or ["?"])[0],
    }
    runs: list[Run] = []
    server = Server(config, WORK / "load-ovserve.log").start()
    try:
        check_answers(server, x, expected)
        load_s, unload_s = calibrate(server, config, docs)
        info["load_s"], info["unload_s"] = load_s, unload_s
        print(f"large model alone: load {load_s:.1f} s, unload {unload_s:.2f} s", flush=True)
        for rep in range(1, args.reps + 1):
            for protocol in args.protocols:
                run = measure(
                    server, config, docs, protocol, rep, payloads[protocol], args, load_s + unload_s
                )
                runs.append(run)
                print(
                    f"{protocol} run {rep}: p99 idle {ms(run.p('idle', 99))} ms, loading "
                    f"{ms(run.p('loading', 99))} ms, unloading {ms(run.p('unloading', 99))} ms; "
                    f"{run.requests} requests, {run.errors} errors, other processes {run.other_cpu:.2f} cores",
                    flush=True,
                )
    finally:
        info["exit"] = server.stop()
    info["load_after"] = loadavg()
    text = report(runs, info, args)
    path = write_section(results_path(args.out), "lifecycle_load", text)
    print(text)
    print(f"written to {path}", file=sys.stderr)
    return 0 if info["exit"] == 0 and not any(r.errors for r in runs) else 1


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    sys.exit(main())
