"""ovserve variants and in-process ``AsyncInferQueue(c)``, interleaved: a model's throughput and CPU.

For a change to ovserve's OpenVINO backend: servers from other source trees (``--variant
name=SRC[:NIREQ[:nopin]]``: ``SRC`` is a ``src/`` directory put on ``PYTHONPATH``, ``.`` for
this tree; ``NIREQ`` sets the model's ``nireq``, 0 or left out for the default; ``nopin`` adds
``ENABLE_CPU_PINNING: false`` to the model's plugin config) serve one model of
bench/models.py (``cnn`` or ``resnet50``) with the bench's plugin config, all started once,
nothing pinned (as ``make bench`` runs these models). Then for ``--rounds`` rounds each variant and
the in-process floor (bench/floor.py: ``AsyncInferQueue(c)``, inputs shared, outputs copied)
run in turn, the order rotating, for ``--seconds`` each, loaded by ``wrk`` (KServe v2 REST binary)
or ``h2load`` (KServe v2 gRPC) at concurrency ``c``. Per turn: req/s, the ratio to the floor's
req/s of the same round, and the server's CPU seconds (``/proc/<pid>/stat``) ÷ its answers.
Medians over the rounds are printed as Markdown. On a machine shared with other jobs the
per-round ratios and the CPU per request hold; single req/s figures do not.

    .venv/bin/python bench/ab_exec.py --model cnn --protocol v2_binary -c 8 \
        --variant base=/work/wt/base/src --variant new=. [--rounds 5] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import models
from abtools import (
    BENCH,
    PLUGIN,
    PYTHON,
    WORK,
    cpu_seconds,
    http_ready,
    start_logged,
    write_config,
    wrk_requests,
)

GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"
FLOOR = "in-process"


def start(
    name: str, variant: tuple[str, int, bool], model: str, base: Path, port: int
) -> subprocess.Popen[bytes]:
    """One ovserve server from ``src`` serving ``model`` on REST ``port`` and gRPC ``port + 1``."""
    src, nireq, nopin = variant
    plugin = {**PLUGIN, "ENABLE_CPU_PINNING": False} if nopin else PLUGIN
    extra: dict[str, object] = {"nireq": nireq} if nireq else {}
    config = write_config(WORK / f"ab_exec-{name}.json", model, base, plugin, **extra)
    argv = [PYTHON, "-m", "ovserve", "--config_path", str(config), "--rest_port", str(port)]
    argv += ["--port", str(port + 1), "--rest_bind_address", "127.0.0.1", "--grpc_bind_address", "127.0.0.1"]
    env = dict(os.environ)
    if src != ".":
        env["PYTHONPATH"] = str(Path(src).resolve())
    ready = http_ready(f"http://127.0.0.1:{port}/v2/models/{model}/ready")
    return start_logged(f"ab_exec-{name}", argv, env, ready, timeout=240)


def load(protocol: str, port: int, spec: models.ModelSpec, body: Path, c: int, seconds: int) -> int:
    """Answers to ``c`` connections in ``seconds`` (errors raise)."""
    if protocol == "v2_grpc":
        argv = ["h2load", "-t1", f"-c{c}", "-m1", f"-D{seconds}", "-d", str(body)]
        argv += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
        out = subprocess.run(
            [*argv, f"http://127.0.0.1:{port + 1}{GRPC_INFER}"], capture_output=True, text=True
        )
        done = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", out.stdout)
        if done is None or int(done.group(2)) or int(done.group(3)):
            raise RuntimeError(f"h2load on port {port + 1}: {out.stdout[-600:]}")
        return int(done.group(1))
    hlen = (body.parent / (body.name + ".hlen")).read_text()
    argv = ["wrk", "-t1", f"-c{c}", f"-d{seconds}s", "--timeout", "60s", "-s", str(BENCH / "lua/post.lua")]
    argv += [f"http://127.0.0.1:{port}/v2/models/{spec.name}/infer", "--", str(body)]
    return wrk_requests([*argv, "application/octet-stream", hlen])


def floor(xml: Path, c: int, seconds: int) -> tuple[float, float]:
    """In-process ``AsyncInferQueue(c)``: (req/s, µs CPU per request)."""
    argv = [PYTHON, str(BENCH / "floor.py"), "--xml", str(xml), "--plugin-config", json.dumps(PLUGIN)]
    argv += ["--concurrency", str(c), "--seconds", str(seconds), "--warmup", "1"]
    before = os.times()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    after = os.times()
    result = json.loads(
        next(ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT ")).split(" ", 1)[1]
    )
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    # the floor's CPU includes its compile and warm-up: an upper bound, shown for scale only
    return float(result["rps"]), cpu / max(result["requests"], 1) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--model", default="cnn", choices=("cnn", "resnet50"))
    parser.add_argument("--protocol", default="v2_binary", choices=("v2_binary", "v2_grpc"))
    parser.add_argument("--variant", action="append", required=True, help="name=SRC[:NIREQ]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("-c", type=int, default=8)
    args = parser.parse_args()
    spec = models.SPECS[args.model]
    base = models.build(WORK)[args.model]
    body = models.write_payloads(spec, models.sample_input(spec), WORK / "payloads")[args.protocol]
    variants: dict[str, tuple[str, int, bool]] = {}
    for item in args.variant:
        name, _, rest = item.partition("=")
        src, _, options = rest.partition(":")
        nireq, _, pin = options.partition(":")
        variants[name] = (src, int(nireq or 0), pin == "nopin")
    ports = {name: 19100 + 10 * i for i, name in enumerate(variants)}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    rps: dict[str, list[float]] = {name: [] for name in [FLOOR, *variants]}
    cpu: dict[str, list[float]] = {name: [] for name in [FLOOR, *variants]}
    try:
        for name, variant in variants.items():
            procs[name] = start(name, variant, args.model, base, ports[name])
        names = [FLOOR, *variants]
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                if name == FLOOR:
                    r, per = floor(base / spec.xml, args.c, args.seconds)
                else:
                    load(args.protocol, ports[name], spec, body, args.c, 1)  # warm-up
                    cpu0, t0 = cpu_seconds(procs[name].pid), time.monotonic()
                    answered = load(args.protocol, ports[name], spec, body, args.c, args.seconds)
                    r = answered / (time.monotonic() - t0)
                    per = (cpu_seconds(procs[name].pid) - cpu0) / answered * 1e6
                rps[name].append(r)
                cpu[name].append(per)
            print(
                f"round {round_ + 1}: " + ", ".join(f"{n} {v[-1]:.1f}/s" for n, v in rps.items()), flush=True
            )
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(60)
    report(args, rps, cpu)
    return 0


def report(args: argparse.Namespace, rps: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    print(f"\n{args.model}, {args.protocol}, c={args.c}, {args.rounds} rounds of {args.seconds} s")
    print(
        "\n| variant | req/s (median) | ÷ in-process, median of the rounds' ratios (range) | µs CPU per request |"
    )
    print("|---|---|---|---|")
    for name in rps:
        ratios = [v / f for v, f in zip(rps[name], rps[FLOOR], strict=True)]
        spread = f"{min(ratios):.2f}–{max(ratios):.2f}"
        print(
            f"| {name} | {statistics.median(rps[name]):.1f} | {statistics.median(ratios):.2f}× ({spread}) "
            f"| {statistics.median(cpu[name]):.0f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
