"""Two ovserve source trees and the raw ASGI floor, interleaved: CPU per KServe v2 REST JSON request.

For a change to ovserve's REST path: the server from another source tree (``--base``, e.g. a
``git archive`` of the commit before; run with ``PYTHONPATH``) and from this one, and the raw
ASGI floor (``bench/floors/asgi_app.py``), all serving the tiny model of bench/models.py with the
same plugin config, each pinned to core 1 and started once. Then for ``--rounds`` rounds each is
loaded in turn (the order rotating) by ``wrk -t1 -c<c>`` on core 0 for ``--seconds``; per turn the
server's CPU seconds (``/proc/<pid>/stat``) ÷ its answers is its CPU per request. The medians over
the rounds, and floor ÷ each, are printed as Markdown. CPU per request holds when other jobs take
cores: what they take is wall time, not the server's CPU.

    .venv/bin/python bench/ab_rest.py --base /tmp/base/src [--rounds 6] [--seconds 4] [-c 8]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import models
from abtools import (
    BENCH,
    PLUGIN,
    WORK,
    cpu_seconds,
    http_ready,
    server_command,
    start_logged,
    write_config,
    wrk_requests,
)


def start(name: str, argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    ready = http_ready(f"http://127.0.0.1:{port}/v2/models/tiny/ready")
    return start_logged(f"ab_rest-{name}", ["taskset", "-c", "1", *argv], env, ready)


def command(
    name: str, port: int, config: Path, base: Path, other_src: Path
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``name``: ovserve from the other tree or this one, or the floor."""
    flags = ["--rest_port", str(port), "--port", "0", "--rest_bind_address", "127.0.0.1"]
    return server_command(name, port, "floors/asgi_app.py", flags, base / models.TINY.xml, config, other_src)


def load(port: int, body: Path, c: int, seconds: int) -> int:
    argv = ["taskset", "-c", "0", "wrk", "-t1", f"-c{c}", f"-d{seconds}s", "-s", str(BENCH / "lua/post.lua")]
    argv += [f"http://127.0.0.1:{port}/v2/models/tiny/infer", "--", str(body), "application/json", ""]
    return wrk_requests(argv)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--base", type=Path, required=True, help="the other tree's src/ (put on PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("-c", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (bench/setup.sh)")
    base = models.build(WORK)["tiny"]
    body = models.write_payloads(models.TINY, models.sample_input(models.TINY), WORK / "payloads")["v2_json"]
    config = write_config(WORK / "ab_rest.json", "tiny", base, PLUGIN)
    servers = {"base": 18971, "this tree": 18973, "floor": 18975}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, port in servers.items():
            procs[name] = start(name, *command(name, port, config, base, args.base), port)
        per: dict[str, list[float]] = {name: [] for name in servers}
        names = list(servers)
        for round_ in range(args.rounds):
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                load(servers[name], body, args.c, 1)  # warm-up
                cpu0 = cpu_seconds(procs[name].pid)
                answered = load(servers[name], body, args.c, args.seconds)
                per[name].append((cpu_seconds(procs[name].pid) - cpu0) / answered * 1e6)
            print(
                f"round {round_ + 1}: " + ", ".join(f"{n} {v[-1]:.0f} µs" for n, v in per.items()), flush=True
            )
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(30)
    med = {name: statistics.median(v) for name, v in per.items()}
    rounds = args.rounds
    print(
        f"\n| server | µs CPU per request (median of {rounds} rounds) | floor ÷ server, median of the rounds' ratios |"
    )
    print("|---|---|---|")
    for name in servers:
        ratio = statistics.median(f / s for f, s in zip(per["floor"], per[name], strict=True))
        print(f"| {name} | {med[name]:.0f} | {ratio:.2f}× |")
    change = statistics.median(t / b for t, b in zip(per["this tree"], per["base"], strict=True))
    print(f"\nthis tree ÷ base, CPU per request, median of the rounds' ratios: {change:.3f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
