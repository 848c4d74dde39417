"""Two ovserve source trees and the bare grpc.aio floor, interleaved: KServe v2 gRPC ModelInfer.

For a change to ovserve's gRPC path: the server from another source tree (``--base``, e.g. a
worktree of the commit before; put on ``PYTHONPATH``) and from this one, and the bare
``grpc.aio`` floor (``bench/floors/grpc_handler.py``), all serving the tiny model of
bench/models.py with the same plugin config, each pinned to core 1 and started once. Then for
``--rounds`` rounds each is loaded in turn (the order rotating) by ``h2load -t1 -c<c> -m1`` on
core 0 for ``--seconds``; per turn the server's CPU seconds (``/proc/<pid>/stat``) ÷ its
answers is its CPU per request, h2load's log gives the p50, and answers ÷ seconds its rate. Printed as Markdown: the medians
over the rounds, and per round the ratios floor ÷ each (CPU) and the p50 differences each −
floor, as medians. CPU per request holds when other jobs take cores; the p50 difference of
turns run back to back holds better than either p50 alone.

    .venv/bin/python bench/ab_grpc.py --base /work/wt/x-base/src [--rounds 6] [--seconds 3] [-c 1 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import models
from abtools import PLUGIN, WORK, cpu_seconds, server_command, start_logged, write_config

PATH = "/inference.GRPCInferenceService/ModelInfer"


def start(name: str, argv: list[str], env: dict[str, str], port: int, body: Path) -> subprocess.Popen[bytes]:
    import grpc

    def ready() -> bool:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=1)
            except grpc.FutureTimeoutError:
                return False
        return bool(load(port, body, 1, 1)[0])

    return start_logged(f"ab_grpc-{name}", ["taskset", "-c", "1", *argv], env, ready)


def command(
    name: str, port: int, config: Path, base: Path, other_src: Path
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``name``: ovserve from the other tree or this one, or the floor."""
    flags = ["--port", str(port), "--rest_port", "0", "--grpc_bind_address", "127.0.0.1"]
    return server_command(
        name, port, "floors/grpc_handler.py", flags, base / models.TINY.xml, config, other_src
    )


def load(port: int, body: Path, c: int, seconds: int) -> tuple[int, float]:
    """Answers and p50 (µs) of ``seconds`` of h2load at ``c``; a failed call raises."""
    log = WORK / f"ab_grpc-h2load-{os.getpid()}.tsv"
    log.unlink(missing_ok=True)
    argv = ["taskset", "-c", "0", "h2load", "-t1", f"-c{c}", "-m1", f"-D{seconds}", "-d", str(body)]
    argv += ["-H", "content-type: application/grpc", "-H", "te: trailers", f"--log-file={log}"]
    subprocess.run([*argv, f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True, check=True)
    rows = [ln.split("\t") for ln in log.read_text().splitlines() if ln.strip()] if log.exists() else []
    log.unlink(missing_ok=True)
    times = sorted(int(r[2]) for r in rows if r[1] == "200")
    if len(times) != len(rows):
        raise RuntimeError(f"HTTP errors from port {port}")
    return len(times), float(times[len(times) // 2]) if times else float("nan")


def measure(
    servers: dict[str, int],
    procs: dict[str, subprocess.Popen[bytes]],
    body: Path,
    c: int,
    args: argparse.Namespace,
) -> dict[str, list[tuple[float, float, float]]]:
    """Per server, per round: (µs CPU per request, p50 µs, requests per second)."""
    per: dict[str, list[tuple[float, float, float]]] = {name: [] for name in servers}
    names = list(servers)
    for round_ in range(args.rounds):
        for name in names[round_ % 3 :] + names[: round_ % 3]:
            load(servers[name], body, c, 1)  # warm-up
            cpu0 = cpu_seconds(procs[name].pid)
            answered, p50 = load(servers[name], body, c, args.seconds)
            cpu = (cpu_seconds(procs[name].pid) - cpu0) / answered * 1e6
            per[name].append((cpu, p50, answered / args.seconds))
        print(
            f"c={c} round {round_ + 1}: "
            + ", ".join(f"{n} {v[-1][0]:.0f} µs CPU, p50 {v[-1][1]:.0f} µs" for n, v in per.items()),
            flush=True,
        )
    return per


def report(c: int, per: dict[str, list[tuple[float, float, float]]]) -> None:
    # a turn whose CPU did not register (the clock ticks are 10 ms) is left out of every ratio
    keep = [i for i in range(len(per["floor"])) if all(values[i][0] > 0 for values in per.values())]
    per = {name: [values[i] for i in keep] for name, values in per.items()}
    rounds = len(per["floor"])
    print(f"\nc={c}, {rounds} rounds (medians):\n")
    print(
        "| server | µs CPU per request | p50 µs | floor ÷ server CPU (median of ratios) | p50 − floor's µs "
        "| req/s ÷ floor's (median of ratios) |"
    )
    print("|---|---|---|---|---|---|")
    for name, values in per.items():
        cpu = statistics.median(v[0] for v in values)
        p50 = statistics.median(v[1] for v in values)
        ratio = statistics.median(f[0] / s[0] for f, s in zip(per["floor"], values, strict=True))
        delta = statistics.median(s[1] - f[1] for f, s in zip(per["floor"], values, strict=True))
        rate = statistics.median(s[2] / f[2] for f, s in zip(per["floor"], values, strict=True))
        print(f"| {name} | {cpu:.0f} | {p50:.0f} | {ratio:.2f}× | {delta:+.0f} | {rate:.2f}× |")
    change = statistics.median(t[0] / b[0] for t, b in zip(per["this tree"], per["base"], strict=True))
    print(f"\nc={c}: this tree ÷ base, CPU per request, median of the rounds' ratios: {change:.3f}×")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--base", type=Path, required=True, help="the other tree's src/ (put on PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("-c", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        raise SystemExit("h2load is not installed (bench/setup.sh)")
    base = models.build(WORK)["tiny"]
    body = models.write_payloads(models.TINY, models.sample_input(models.TINY), WORK / "payloads")["v2_grpc"]
    config = write_config(WORK / "ab_grpc.json", "tiny", base, PLUGIN)
    servers = {"base": 18981, "this tree": 18983, "floor": 18985}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, port in servers.items():
            procs[name] = start(name, *command(name, port, config, base, args.base), port, body)
        results = {c: measure(servers, procs, body, c, args) for c in args.c}
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(30)
    for c, per in results.items():
        report(c, per)
    return 0


if __name__ == "__main__":
    sys.exit(main())
