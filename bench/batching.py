"""The gain of server-side dynamic batching: the ResNet-50-shaped model at c=64, with and without it.

Usage (from the repository root; about 2 minutes, 3.5 with --rounds 2)::

    .venv/bin/python bench/batching.py [--seconds 30] [--warmup 8] [--tail 8] [--rounds 1]
        [--concurrency 64 | 1,64] [--max-batch 16] [--delay-us 0] [--plugin-config JSON]
        [--model resnet50|cnn|tiny] [--out PATH]

One ovserve serves the model of ``bench/models.py`` (built under ``bench/work/batching``,
reused when there) under several names from the same files: ``resnet50`` plain and
``resnet50_batched`` with ``dynamic_batching`` in config.json; with ``--delay-us`` above 0
``resnet50_batched`` keeps Triton's fixed delay (``adaptive_queue_delay: false``),
``resnet50_adaptive`` learns it (the default) and ``resnet50_nodelay`` batches with no delay
(what batching costs by itself). Each is checked once against in-process
OpenVINO (tritonclient, gRPC). Then, for each concurrency and round, each is loaded in
turn (interleaved, so the machine's drift touches every variant alike) over KServe v2
gRPC by ``h2load -c<concurrency> -m1`` (every connection keeps one request in
flight; a C generator, so its own cost stays far below the server's). Only answers that
complete inside the measured window count: with c=64 a request takes seconds, and work
still in flight when the load stops (two whole batches, with batching) must not count
against either side. Per-request latencies come from h2load's log; a gRPC error is an
HTTP 200 whose DATA is missing, so answers are also counted by the bytes received.

Prints a markdown table (req/s, p50, p99, server CPU and CPU per answer, the ratios to no
batching), then, with the server stopped, runs ``benchmark_app`` on the same model and plugin
config at batch 1 and at ``--max-batch`` and adds issue 16's ratios (bench/batching_limits.py:
batching at the highest concurrency ÷ benchmark_app at the max batch, c=1 p50 with ÷ without
batching), and writes it to
``bench/results/<date>-<cpu>-batching.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work" / "batching"  # its own copy of the model: `make bench` may rebuild bench/work/models
sys.path.insert(0, str(BENCH))

import models  # noqa: E402  (bench/models.py: the model builders the whole suite shares)
from abtools import cpu_seconds  # noqa: E402
from batching_limits import batch_fps, limit_lines  # noqa: E402
from lifecycle_common import cpu_name  # noqa: E402

GRPC_PATH = "/inference.GRPCInferenceService/ModelInfer"
SPEC = models.RESNET  # --model tiny switches to models.TINY
DEFAULT_PLUGIN_CONFIG = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}


@dataclass
class Phase:
    """One load phase on one model: completions inside the measured window, and the server's CPU."""

    model: str
    concurrency: int
    completed: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    server_cpu: float
    order: int = 0
    #: rows per batch run during the phase (ovserve_batch_size's sum ÷ count); None: no batching
    mean_batch: float | None = None


@dataclass
class Result:
    label: str
    batching: dict[str, object] | None
    phases: list[Phase]
    concurrency: int = 64

    @property
    def rps(self) -> float:
        return sum(p.completed for p in self.phases) / sum(p.seconds for p in self.phases)

    def percentile(self, q: float) -> float:
        lat = [v for p in self.phases for v in p.latencies_ms]
        return float(np.percentile(lat, q)) if lat else float("nan")

    @property
    def errors(self) -> int:
        return sum(p.errors for p in self.phases)

    @property
    def server_cpu(self) -> float:
        return sum(p.server_cpu * p.seconds for p in self.phases) / sum(p.seconds for p in self.phases)

    @property
    def mean_batch(self) -> float | None:
        sizes = [p.mean_batch for p in self.phases if p.mean_batch is not None]
        return float(np.median(sizes)) if sizes else None

    @property
    def cpu_ms_per_answer(self) -> float:
        """The server's CPU per answer: median over the rounds (holds when other work takes cores)."""
        per = [p.server_cpu * p.seconds / p.completed * 1e3 for p in self.phases if p.completed]
        return float(np.median(per)) if per else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One ovserve process serving both variants of the model; stopped with SIGTERM."""

    def __init__(self, config: Path, log: Path) -> None:
        self.grpc_port, self.rest_port = free_port(), free_port()
        argv = [sys.executable, "-m", "ovserve", "--config_path", str(config)]
        argv += ["--port", str(self.grpc_port), "--rest_port", str(self.rest_port)]
        argv += ["--grpc_bind_address", "127.0.0.1", "--rest_bind_address", "127.0.0.1", "--metrics_enable"]
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, names: list[str], timeout: float = 240.0) -> None:
        end = time.monotonic() + timeout
        for name in names:
            url = f"http://127.0.0.1:{self.rest_port}/v2/models/{name}/ready"
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"ovserve exited:\n{self.log.read_text(errors='replace')[-2000:]}")
                if time.monotonic() > end:
                    raise RuntimeError(f"ovserve did not get {name} ready")
                try:
                    with urllib.request.urlopen(url, timeout=1) as answer:
                        if answer.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.2)

    def batches(self, model: str) -> tuple[float, float]:
        """``ovserve_batch_size``'s sum and count for ``model`` so far (0, 0 without batching)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        found = {"sum": 0.0, "count": 0.0}
        for part in found:
            match = re.search(rf'^ovserve_batch_size_{part}{{name="{model}",version="1"}} (\S+)$', text, re.M)
            if match:
                found[part] = float(match.group(1))
        return found["sum"], found["count"]

    def cpu_seconds(self) -> float:
        try:
            return cpu_seconds(self.proc.pid)
        except OSError:
            return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


def variants(max_batch: int, delay_us: int) -> dict[str, dict[str, object] | None]:
    """Model name → its dynamic_batching (None: none): plain and batched; with a delay, batched without
    one, with the fixed delay and with the adaptive one."""
    batching: dict[str, object] = {"max_batch_size": max_batch, "max_queue_delay_microseconds": delay_us}
    if not delay_us:
        return {SPEC.name: None, f"{SPEC.name}_batched": batching}
    return {
        SPEC.name: None,
        f"{SPEC.name}_nodelay": {**batching, "max_queue_delay_microseconds": 0},
        f"{SPEC.name}_batched": {**batching, "adaptive_queue_delay": False},
        f"{SPEC.name}_adaptive": {**batching, "adaptive_queue_delay": True},
    }


def write_config(
    path: Path, base: Path, plugin: dict[str, str], named: dict[str, dict[str, object] | None]
) -> Path:
    """One model entry per variant, all on the same files."""
    entries = []
    for name, batching in named.items():
        entry: dict[str, object] = {"name": name, "base_path": str(base), "plugin_config": plugin}
        if batching is not None:
            entry["dynamic_batching"] = batching
        entries.append({"config": entry})
    path.write_text(json.dumps({"model_config_list": entries}, indent=2))
    return path


def grpc_payload(model: str, x: np.ndarray, out: Path) -> Path:
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = SPEC.input_name, "FP32"
    tensor.shape.extend(x.shape)
    request.raw_input_contents.append(x.tobytes())
    out.write_bytes(models.grpc_frame(request.SerializeToString()))
    return out


def check_answer(server: Server, model: str, x: np.ndarray, expected: np.ndarray) -> None:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    try:
        tensor = grpcclient.InferInput(SPEC.input_name, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        got = client.infer(model, [tensor]).as_numpy(SPEC.output_name)
    finally:
        client.close()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def reference(xml: Path, x: np.ndarray, plugin: dict[str, str]) -> np.ndarray:
    import openvino as ov

    compiled = ov.Core().compile_model(str(xml), "CPU", plugin)
    return np.array(compiled.create_infer_request().infer([x])[0], copy=True)


def run_phase(server: Server, model: str, body: Path, concurrency: int, args: argparse.Namespace) -> Phase:
    """h2load for warm-up + measured + tail seconds; counts what completes inside the measured window.

    Only completions inside the window count, so neither the ramp-up nor the work still in
    flight when the load stops (a whole batch, with batching) skews the figure.
    """
    log = WORK / "h2load.tsv"
    log.unlink(missing_ok=True)
    total = args.warmup + args.seconds + args.tail
    argv = ["h2load", "-t1", f"-c{concurrency}", "-m1", f"-D{total}", "-d", str(body)]
    argv += ["-H", "content-type: application/grpc", "-H", "te: trailers", f"--log-file={log}"]
    argv.append(f"http://127.0.0.1:{server.grpc_port}{GRPC_PATH}")
    began = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(args.warmup)
    cpu0, t0, batches0 = server.cpu_seconds(), time.monotonic(), server.batches(model)
    time.sleep(args.seconds)
    server_cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    batched_rows, runs = (b - a for a, b in zip(batches0, server.batches(model), strict=True))
    out, _ = proc.communicate(timeout=total + 300)
    if proc.returncode != 0:
        raise RuntimeError(f"h2load failed: {out[-500:]}")
    rows = [line.split("\t") for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    window_start = (began + args.warmup) * 1e6
    window_end = window_start + args.seconds * 1e6
    done = [(int(r[0]) + int(r[2]), int(r[2])) for r in rows if r[1] == "200"]
    inside = [latency / 1000 for end, latency in done if window_start <= end < window_end]
    # a gRPC error is an HTTP 200 without the answer's bytes: compare the DATA received
    data = re.search(r"\((\d+)\) data", out)
    answered = int(data.group(1)) // (int(np.prod(SPEC.output_shape)) * 4) if data else 0
    errors = sum(1 for r in rows if r[1] != "200") + max(0, len(done) - answered)
    mean_batch = batched_rows / runs if runs else None
    return Phase(
        model, concurrency, len(inside), float(args.seconds), inside, errors, server_cpu, 0, mean_batch
    )


def describe(r: Result) -> str:
    if r.batching is None:
        return "no batching"
    return f"dynamic_batching `{json.dumps(r.batching)}`"


def report(
    results: list[Result],
    args: argparse.Namespace,
    load_before: float,
    load_after: float,
    fps: dict[int, float | None] | None = None,
) -> str:
    phase_seconds = args.warmup + args.seconds + args.tail
    lines = [
        f"# Dynamic batching, {datetime.date.today()}: {cpu_name()}, {os.cpu_count()} CPUs",
        "",
        f"Made by `bench/batching.py`. Model `{SPEC.name}` (bench/models.py, FP32, {list(SPEC.shape)} per "
        f"request) served {len(results) // len(args.concurrency)} times by one ovserve (the same files, plugin "
        f"config `{json.dumps(args.plugin_config)}`), without and with `dynamic_batching`. KServe v2 gRPC, "
        f"`h2load -t1 -c<c> -m1`, one model at a time, {args.rounds} round(s) per concurrency, the variants "
        f"loaded in turn within each round (interleaved); each phase runs {phase_seconds} s and counts the "
        f"answers completed between {args.warmup} s and {args.warmup + args.seconds} s (no ramp-up, no work "
        "cut off at the end). Nothing pinned: client and server share the cores. CPU per answer (the "
        "server's CPU seconds ÷ its answers, median of the rounds) holds when other work takes cores.",
        "",
        "| c | ovserve | req/s | p50 ms | p99 ms | errors | server CPU (cores) | CPU ms per answer "
        "| rows per batch | ÷ no batching: req/s · p50 · CPU per answer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in args.concurrency:
        rows = [r for r in results if r.concurrency == c]
        plain = rows[0]
        for r in rows:
            ratios = (
                f"{r.rps / plain.rps:.2f}× · {r.percentile(50) / plain.percentile(50):.2f}× · "
                f"{r.cpu_ms_per_answer / plain.cpu_ms_per_answer:.2f}×"
                if r is not plain and plain.rps
                else "—"
            )
            lines.append(
                f"| {c} | {describe(r)} | {r.rps:.1f} | {r.percentile(50):.2f} | {r.percentile(99):.2f} "
                f"| {r.errors} | {r.server_cpu:.2f} | {r.cpu_ms_per_answer:.2f} "
                f"| {'—' if r.mean_batch is None else f'{r.mean_batch:.1f}'} | {ratios} |"
            )
    lines += [
        "",
        "Phases in order: "
        + "; ".join(
            f"c={p.concurrency} {p.model} {p.completed / p.seconds:.1f} req/s on {p.server_cpu:.2f} cores"
            for p in sorted((p for r in results for p in r.phases), key=lambda p: p.order)
        )
        + ".",
        "",
        f"Load average before {load_before:.2f}, after {load_after:.2f} (other work on the machine skews "
        "req/s and latency; compare within a round).",
    ]
    if fps is not None:
        lines += limit_lines(results, fps, args.max_batch)
    return "\n".join(lines) + "\n"


def concurrencies(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=30, help="measured seconds per phase")
    parser.add_argument("--warmup", type=int, default=8, help="seconds of load before the window")
    parser.add_argument("--tail", type=int, default=8, help="seconds of load after the window")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per concurrency, variants interleaved")
    parser.add_argument("--concurrency", type=concurrencies, default=[64], help="one or more, e.g. 1,64")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--delay-us", type=int, default=0, help="above 0: fixed and adaptive delay both run")
    parser.add_argument("--plugin-config", type=json.loads, default=DEFAULT_PLUGIN_CONFIG)
    parser.add_argument("--model", choices=sorted(models.SPECS), default=models.RESNET.name)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--benchmark-app-seconds",
        type=int,
        default=15,
        help="benchmark_app at batch 1 and --max-batch after the phases, for the ratios to it (0: skip)",
    )
    args = parser.parse_args()
    global SPEC
    SPEC = models.SPECS[args.model]

    WORK.mkdir(parents=True, exist_ok=True)
    base = models.build(WORK)[SPEC.name]
    x = models.sample_input(SPEC)
    expected = reference(base / SPEC.xml, x, args.plugin_config)
    named = variants(args.max_batch, args.delay_us)
    bodies = {name: grpc_payload(name, x, WORK / f"{name}.v2.grpc") for name in named}
    results = [Result(name, batching, [], c) for c in args.concurrency for name, batching in named.items()]
    config = write_config(WORK / "config.json", base, args.plugin_config, named)
    load_before = os.getloadavg()[0]
    server = Server(config, WORK / "ovserve.log")
    order = 0
    try:
        server.wait_ready(list(named))
        for name in named:
            check_answer(server, name, x, expected)
        for c in args.concurrency:
            for round_ in range(args.rounds):
                for result in (r for r in results if r.concurrency == c):
                    phase = run_phase(server, result.label, bodies[result.label], c, args)
                    phase.order = order
                    order += 1
                    result.phases.append(phase)
                    print(
                        f"c={c} round {round_ + 1} {result.label}: {phase.completed / phase.seconds:.1f} req/s, "
                        f"{phase.server_cpu:.2f} server cores, {phase.errors} errors",
                        flush=True,
                    )
    finally:
        server.stop()
    fps = None
    if args.benchmark_app_seconds > 0:  # after the server stopped: each has the machine alone
        seconds = args.benchmark_app_seconds
        fps = {
            b: batch_fps(base / SPEC.xml, args.plugin_config, b, seconds, WORK) for b in {1, args.max_batch}
        }
        print(f"benchmark_app images/s by batch size: {fps}", flush=True)
    text = report(results, args, load_before, os.getloadavg()[0], fps)
    cpu = re.sub(r"[^a-z0-9]+", "-", cpu_name().lower()).strip("-")
    name = f"{datetime.date.today()}-{cpu}-batching{'' if SPEC is models.RESNET else '-' + SPEC.name}.md"
    out = args.out or BENCH / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
