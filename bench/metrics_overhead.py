"""What metrics cost: req/s of the tiny model with and without ``--metrics_enable``, in one run.

    .venv/bin/python bench/metrics_overhead.py [--seconds 5] [--rounds 8] [--connections 8] [--no-pin]

Two ovserve processes serve the same tiny model (y = 2x + 1 on ``[1,10]`` FP32), one with
metrics enabled. ``wrk`` sends KServe v2 REST JSON infer requests to one, then the other,
alternating for ``--rounds`` rounds (in alternating order) so that drift of the machine
hits both alike; the median req/s of each is reported with their ratio, and the server
process's CPU time per request (from /proc), which is less sensitive to other load on
the machine than throughput. With ``taskset`` available the
servers run on CPU 0 and wrk on CPU 1 (on a 2-core machine they would otherwise fight
over both).

Before that, a micro-benchmark prices what one inference records (two counters, a
gauge up and down, three histogram observations) in ovserve's own registry and in
``prometheus_client`` with pre-bound label children, in ns per inference.

The script needs ``wrk`` (Debian package). It prints a markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from serverproc import ServerProcess  # noqa: E402

LUA = HERE / "lua" / "post.lua"


def tiny_model(base: Path) -> Path:
    x = ops.parameter([1, 10], ov.Type.f32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    y = ops.add(ops.multiply(x, ops.constant(np.float32(2))), ops.constant(np.float32(1)))
    y.output(0).get_tensor().set_names({"y"})
    (base / "1").mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Model([y], [x], "tiny"), str(base / "1" / "model.xml"), compress_to_fp16=False)
    return base


# -- micro-benchmark ---------------------------------------------------------------------
def micro(iterations: int = 200_000) -> dict[str, float]:
    """ns per inference recorded, by implementation."""
    from ovserve.config.types import MetricsConfig
    from ovserve.core.ids import ServableId
    from ovserve.metrics import MetricsRegistry
    from ovserve.metrics.calls import KSERVE_REST_INFER as CALL
    from ovserve.metrics.families import LATENCY_BUCKETS_US

    series = MetricsRegistry.from_config(MetricsConfig(enable=True)).version(ServableId("tiny", 1))

    def own() -> None:
        series.current += 1
        series.observe_backend(4_321, 56_789)
        series.current -= 1
        series.success[CALL.index] += 1
        series.request_time[CALL.interface_index].observe(98)

    results = {"ovserve registry": _ns_per_call(own, iterations)}
    try:
        import prometheus_client as prom
    except ImportError:
        return results
    registry = prom.CollectorRegistry()
    labels = ("api", "interface", "method", "name", "version")
    success = prom.Counter("ovms_requests_success", "", labels, registry=registry)
    success_child = success.labels("KServe", "REST", "ModelInfer", "tiny", "1")
    buckets = [float(b) for b in LATENCY_BUCKETS_US]
    request_time = prom.Histogram(
        "ovms_request_time_us", "", ("interface", "name", "version"), registry=registry, buckets=buckets
    ).labels("REST", "tiny", "1")
    inference = prom.Histogram(
        "ovms_inference_time_us", "", ("name", "version"), registry=registry, buckets=buckets
    ).labels("tiny", "1")
    wait = prom.Histogram(
        "ovms_wait_for_infer_req_time_us", "", ("name", "version"), registry=registry, buckets=buckets
    ).labels("tiny", "1")
    current = prom.Gauge("ovms_current_requests", "", ("name", "version"), registry=registry).labels(
        "tiny", "1"
    )

    def client() -> None:
        current.inc()
        wait.observe(4.321)
        inference.observe(56.789)
        current.dec()
        success_child.inc()
        request_time.observe(98)

    results["prometheus_client"] = _ns_per_call(client, iterations)
    return results


def request_path_cost(calls: int = 50_000) -> dict[str, float]:
    """ns per ``request_path.infer`` call on an in-process echo servable, metrics off and on."""
    import asyncio

    from ovserve.api import request_path
    from ovserve.api.context import ServingContext
    from ovserve.config.types import MetricsConfig
    from ovserve.core.ids import ServableId
    from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
    from ovserve.core.servable import Servable
    from ovserve.metrics import MetricsRegistry
    from ovserve.metrics.calls import KSERVE_REST_INFER
    from ovserve.tensors import Dim, InferRequest, InferResponse, TensorSpec

    spec = TensorSpec("x", np.dtype(np.float32), (Dim.static(1), Dim.static(10)))

    class Echo(Servable):
        async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"x": inputs["x"]}

    class Loader:
        def load(self) -> Servable:
            return Echo(ServableId("tiny", 1), [spec], [spec])

    data = {"x": np.zeros((1, 10), np.float32)}

    def decode(servable: Servable) -> InferRequest:
        return InferRequest(data)

    def encode(servable: Servable, request: InferRequest, response: InferResponse) -> int:
        return 0

    async def context(metrics: bool) -> ServingContext:
        manager = ServableManager()
        registry = MetricsRegistry.from_config(MetricsConfig(enable=True)) if metrics else None
        if registry is not None:
            registry.attach(manager)
        await manager.apply({"tiny": AspiredStream((AspiredVersion(1, Loader()),))})
        return ServingContext(manager, metrics=registry)

    async def measure() -> dict[str, float]:
        contexts = {"metrics off": await context(False), "metrics on": await context(True)}
        best = dict.fromkeys(contexts, float("inf"))
        for _ in range(7):  # alternate, keep the best of each
            for label, ctx in contexts.items():
                start = time.perf_counter_ns()
                for _ in range(calls):
                    await request_path.infer(ctx, KSERVE_REST_INFER, "tiny", None, decode, encode)
                best[label] = min(best[label], (time.perf_counter_ns() - start) / calls)
        return best

    return asyncio.run(measure())


def _ns_per_call(fn: object, iterations: int) -> float:
    timer = timeit.Timer(fn)  # type: ignore[arg-type]
    best = min(timer.repeat(repeat=5, number=iterations))
    return best / iterations * 1e9


# -- end to end ----------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, body: Path, seconds: int, connections: int, cpu: str | None) -> tuple[float, int]:
    """req/s and number of requests of one wrk run."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(LUA), url]
    command += ["--", str(body), "application/json"]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"BENCH_RESULT (\{.*\})", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result = json.loads(match.group(1))
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    if errors:
        raise RuntimeError(f"wrk saw errors: {result}")
    return float(result["requests"]) / (result["duration_us"] / 1e6), int(result["requests"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and wrk to CPUs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/metrics_overhead: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    pin = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    wrk_cpu = "1" if pin else None

    recorded = micro()
    print("## Metrics overhead\n")
    print("Recording one inference (ns, best of 5):\n")
    for name, ns in recorded.items():
        print(f"- {name}: {ns:.0f} ns")
    path_cost = request_path_cost()
    print(
        "\nOne `request_path.infer` call on an in-process echo servable (ns, best of 7, no backend timing):\n"
    )
    for name, ns in path_cost.items():
        print(f"- {name}: {ns:.0f} ns")
    print(f"- added by metrics: {path_cost['metrics on'] - path_cost['metrics off']:.0f} ns")

    work = Path(tempfile.mkdtemp(prefix="ovserve-metrics-bench-"))
    model = tiny_model(work / "tiny")
    body = work / "body.json"
    body.write_text(
        json.dumps({"inputs": [{"name": "x", "shape": [1, 10], "datatype": "FP32", "data": list(range(10))}]})
    )
    servers: dict[str, ServerProcess] = {}
    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpu_us: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for label, extra in (("off", []), ("on", ["--metrics_enable"])):
            proc = ServerProcess(
                ["--model_name", "tiny", "--model_path", str(model), "--log_level", "WARNING", *extra],
                work / f"ovserve-{label}.log",
            )
            if pin:
                proc.args = ["taskset", "-c", "0", *proc.args]
            servers[label] = proc.start()
        for proc in servers.values():  # warm-up
            run_wrk(f"{proc.rest_url}/v2/models/tiny/infer", body, 2, args.connections, wrk_cpu)
        for round_ in range(args.rounds):
            # alternate the order, so a trend of the machine's load hits both alike
            for label in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                proc = servers[label]
                assert proc.process is not None
                before = cpu_seconds(proc.process.pid)
                rate, requests = run_wrk(
                    f"{proc.rest_url}/v2/models/tiny/infer", body, args.seconds, args.connections, wrk_cpu
                )
                rates[label].append(rate)
                cpu_us[label].append((cpu_seconds(proc.process.pid) - before) / requests * 1e6)
        with urllib.request.urlopen(f"{servers['on'].rest_url}/metrics", timeout=10) as answer:
            scraped = answer.read().decode()
    finally:
        for proc in servers.values():
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)
    counted = re.search(
        r'ovms_requests_success\{api="KServe",interface="REST",method="ModelInfer",name="tiny",version="1"\} (\d+)',
        scraped,
    )
    ratios = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    cpu_off, cpu_on = statistics.median(cpu_us["off"]), statistics.median(cpu_us["on"])
    print(
        f"\nKServe v2 REST JSON, tiny model, wrk c={args.connections}, {args.rounds} rounds of {args.seconds}s "
        f"per server, alternating{', servers on CPU 0 and wrk on CPU 1' if pin else ''}:\n"
    )
    best = {label: max(rates[label]) for label in rates}
    least = {label: min(cpu_us[label]) for label in cpu_us}
    print("| metrics | req/s median | req/s best round | server CPU µs/request median | … least |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| off | {off:,.0f} | {best['off']:,.0f} | {cpu_off:.1f} | {least['off']:.1f} |")
    print(f"| on  | {on:,.0f} | {best['on']:,.0f} | {cpu_on:.1f} | {least['on']:.1f} |")
    print(
        f"\nthroughput on/off: median {on / off:.3f}, best round {best['on'] / best['off']:.3f}, "
        f"median of the paired rounds {statistics.median(ratios):.3f}"
    )
    print(f"CPU per request on/off: median {cpu_on / cpu_off:.3f}, least {least['on'] / least['off']:.3f}")
    print(f"rounds req/s off: {', '.join(f'{r:,.0f}' for r in rates['off'])}")
    print(f"rounds req/s on:  {', '.join(f'{r:,.0f}' for r in rates['on'])}")
    if counted is not None:
        print(f"requests counted by /metrics on the metrics server: {int(counted.group(1)):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
