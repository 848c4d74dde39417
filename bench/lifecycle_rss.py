"""Server memory over many load/unload cycles of one model: RSS after cycle 10 against after cycle 100.

Usage (from the repository root; about 2 minutes with the defaults)::

    .venv/bin/python bench/lifecycle_rss.py [--cycles 100] [--samples 1,2,5,10,20,50,100]
        [--layers 16] [--width 1024] [--api repository|config] [--out PATH]

One ovserve, started from its CLI on 127.0.0.1, serves a mid-size model from config.json
(bench/lifecycle_common.py's ``matmul_stack``: 16 blocks of 1024x1024 FP32 weights, 64 MiB).
Each cycle unloads the model and loads it again, through Triton's repository API
(``POST /v2/repository/models/mid/unload`` then ``/load``, each answered once the model is
END / AVAILABLE) or, with ``--api config``, by removing it from config.json and putting it
back (the server polls the file every second; the script waits for END / AVAILABLE in the
status API). After every load one inference is compared with in-process OpenVINO. The
server's VmRSS, RssAnon and thread count (/proc/<pid>/status) are sampled after the load
and after the unload of the cycles in ``--samples``; cycle 0 is the state after start-up.

Writes the table to the ``lifecycle_rss`` section of ``bench/results/<date>-<cpu>-lifecycle.md``
(or ``--out``) and prints it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lifecycle_common import (
    DEFAULT_PLUGIN_CONFIG,
    WORK,
    Server,
    build_stack,
    config_doc,
    http,
    loadavg,
    machine_line,
    reference,
    results_path,
    versions_line,
    wait_until,
    weights_mib,
    write_atomically,
    write_section,
)

MODEL = "mid"


@dataclass
class Sample:
    cycle: int
    loaded: dict[str, int]
    unloaded: dict[str, int] | None
    seconds: float  # since the first cycle began


class Cycler:
    """Unloads and loads the model one way or the other."""

    def __init__(self, server: Server, api: str, config: Path, served: str, empty: str) -> None:
        self.server, self.api, self.config = server, api, config
        self.served, self.empty = served, empty

    def unload(self) -> None:
        if self.api == "repository":
            status, body = http("POST", f"{self.server.rest}/v2/repository/models/{MODEL}/unload", b"")
            if status != 200:
                raise RuntimeError(f"unload: HTTP {status}: {body}")
        else:
            write_atomically(self.config, self.empty)
        wait_until(lambda: self._state() == "END", 120, "the model to be END")

    def load(self) -> None:
        if self.api == "repository":
            status, body = http("POST", f"{self.server.rest}/v2/repository/models/{MODEL}/load", b"")
            if status != 200:
                raise RuntimeError(f"load: HTTP {status}: {body}")
        else:
            write_atomically(self.config, self.served)
        wait_until(lambda: self._state() == "AVAILABLE", 300, "the model to be AVAILABLE")

    def _state(self) -> str | None:
        states = self.server.states(MODEL)
        return states.get("1") if states else None


def run(args: argparse.Namespace) -> tuple[list[Sample], dict[str, object]]:
    WORK.mkdir(parents=True, exist_ok=True)
    base = build_stack(MODEL, args.layers, args.width)
    plugin = DEFAULT_PLUGIN_CONFIG
    x = (np.arange(args.width, dtype=np.float32).reshape(1, args.width) % 17 - 8) / 8
    expected = reference(base, x, plugin)
    config = WORK / "rss-config.json"
    served = config_doc({MODEL: (base, plugin)})
    empty = config_doc({})
    write_atomically(config, served)
    wanted = {int(c) for c in args.samples.split(",") if c} | {args.cycles}
    info: dict[str, object] = {"weights_mib": weights_mib(base), "load_before": loadavg()}
    samples: list[Sample] = []
    server = Server(config, WORK / "rss-ovserve.log").start()
    try:
        cycler = Cycler(server, args.api, config, served, empty)
        np.testing.assert_allclose(server.infer_v2(MODEL, x), expected, rtol=1e-4, atol=1e-5)
        samples.append(Sample(0, server.memory(), None, 0.0))
        started = time.monotonic()
        checked = 0
        for cycle in range(1, args.cycles + 1):
            cycler.unload()
            after_unload = server.memory() if cycle in wanted else None
            cycler.load()
            got = server.infer_v2(MODEL, x)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=f"cycle {cycle}")
            checked += 1
            if cycle in wanted:
                samples.append(Sample(cycle, server.memory(), after_unload, time.monotonic() - started))
                print(
                    f"cycle {cycle}: RSS loaded {samples[-1].loaded['VmRSS'] / 1024:.0f} MiB, "
                    f"unloaded {after_unload['VmRSS'] / 1024 if after_unload else 0:.0f} MiB",
                    flush=True,
                )
        info["checked"] = checked
        info["seconds"] = time.monotonic() - started
    finally:
        code = server.stop()
        info["exit"] = code
    info["load_after"] = loadavg()
    return samples, info


def mib(kib: int | None) -> str:
    return "—" if kib is None else f"{kib / 1024:,.0f}"


def report(samples: list[Sample], info: dict[str, object], args: argparse.Namespace) -> str:
    by_cycle = {s.cycle: s for s in samples}
    lines = [
        f"## RSS over load/unload cycles ({'repository API' if args.api == 'repository' else 'config.json edits'}"
        + (f", {args.label})" if args.label else ")"),
        "",
        f"Made by `bench/lifecycle_rss.py`: one ovserve serving `{MODEL}` (a stack of {args.layers} "
        f"MatMul+Add+Tanh blocks of {args.width}x{args.width} FP32 weights, {info['weights_mib']:.0f} MiB "
        f"of weights, plugin config `{DEFAULT_PLUGIN_CONFIG}`), unloaded and loaded again {args.cycles} times "
        + (
            "through the repository API (`POST /v2/repository/models/mid/unload`, then `/load`)."
            if args.api == "repository"
            else "by removing it from config.json and putting it back (the server polls every second)."
        )
        + f" After every load one inference was compared with in-process OpenVINO ({info.get('checked', 0)} "
        "checks, all equal). Memory of the server process from /proc/<pid>/status, in MiB.",
        "",
        "| cycle | VmRSS loaded | VmRSS after the unload | RssAnon loaded | threads | seconds |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for s in samples:
        lines.append(
            f"| {s.cycle} | {mib(s.loaded['VmRSS'])} | {mib(s.unloaded['VmRSS'] if s.unloaded else None)} | "
            f"{mib(s.loaded.get('RssAnon'))} | {s.loaded.get('Threads', 0)} | {s.seconds:.0f} |"
        )
    first, last = by_cycle.get(10), by_cycle.get(args.cycles)
    if first and last and args.cycles > 10:
        grown = (last.loaded["VmRSS"] - first.loaded["VmRSS"]) / 1024
        per = grown / (args.cycles - 10)
        lines += [
            "",
            f"**RSS after cycle {args.cycles} − after cycle 10 (model loaded): {grown:+,.0f} MiB, "
            f"{per:+.2f} MiB per cycle** (the model's weights are {info['weights_mib']:.0f} MiB).",
        ]
    lines += [
        "",
        f"Run: {info.get('seconds', 0):.0f} s for {args.cycles} cycles; server exit code {info.get('exit')}. "
        f"Load average (1/5/15 min) before {info['load_before']}, after {info['load_after']} "
        "(a shared machine: other engineers' jobs ran meanwhile; memory figures are the server's own and "
        "not skewed by them).",
        f"Machine: {machine_line()}. {versions_line()}.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--samples", default="1,2,5,10,20,30,50,75,100")
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--api", choices=("repository", "config"), default="repository")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--label", default="", help="a note for the heading, e.g. 'before the fix'")
    args = parser.parse_args()
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")
    samples, info = run(args)
    text = report(samples, info, args)
    key = f"lifecycle_rss-{args.api}" + (
        f"-{re.sub(r'[^a-z0-9]+', '-', args.label.lower()).strip('-')}" if args.label else ""
    )
    path = write_section(results_path(args.out), key, text)
    print(text)
    print(f"written to {path}", file=sys.stderr)
    return 0 if info.get("exit") == 0 else 1


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    sys.exit(main())
