#!/usr/bin/env python3
"""Text generation, interleaved: ContinuousBatchingPipeline in-process, ovserve from another source
tree (``--base``, e.g. a worktree of the commit before) and ovserve from this one.

For a change to ovserve's generation path on a machine that others share. Both servers serve
one of bench/genai.py's models at a time and run all along; the pipeline in-process is built
once. Then for each model and concurrency, ``--rounds`` rounds, the order of the three
sides rotating each round; a side's turn is one bench/genai.py round (``c`` streams of
``BENCH_GENAI_TOKENS`` tokens, checked by the usage chunk) after one warm-up round per side.
One model at a time (one pipeline per process). Per turn: tokens/s, time to first token, and CPU µs per token (the server's, from
``/proc/<pid>/stat``; in-process: this process's). Printed as Markdown: the medians per side and
the **medians of the per-round ratios** of tokens/s, so that a drift of the machine between
rounds cancels out. CPU per token holds when other jobs take cores: what they take is wall time.

    .venv/bin/python bench/genai_ab.py --base /work/wt/NAME-base/src [--rounds 5] [--models tiny,small] [-c 1,8,32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import genai
from serverproc import ServerProcess

SIDES = ("in-process", "base", "new")


def start(name: str, config: Path, work: Path, source: str | None) -> ServerProcess:
    env = {"PYTHONPATH": source} if source else {}
    return ServerProcess(["--config_path", str(config)], work / f"{name}.log", env=env).start(120)


def turn(
    side: str, servers: dict[str, ServerProcess], pipes: dict[str, Any], model: str, c: int
) -> dict[str, float]:
    """One round of ``c`` streams on ``side``: tokens/s, median TTFT (ms), CPU µs per token."""
    if side == "in-process":
        rate, firsts, tokens, cpu = genai.in_process_round(pipes[model], c)
    else:
        server = servers[side]
        assert server.process is not None
        rate, firsts, tokens, cpu = genai.served_round(server.rest_port, server.process.pid, c, model)
    return {"rate": rate, "ttft": statistics.median(firsts) * 1000, "cpu": cpu / tokens * 1e6}


def measure(
    servers: dict[str, ServerProcess], pipes: dict[str, Any], model: str, c: int, rounds: int
) -> dict[str, list[dict[str, float]]]:
    for side in SIDES:
        turn(side, servers, pipes, model, c)  # warm-up
    seen: dict[str, list[dict[str, float]]] = defaultdict(list)
    for index in range(rounds):
        order = SIDES[index % 3 :] + SIDES[: index % 3]
        for side in order:
            seen[side].append(turn(side, servers, pipes, model, c))
    return seen


def row(model: str, c: int, seen: dict[str, list[dict[str, float]]]) -> str:
    def med(side: str, key: str) -> float:
        return statistics.median(t[key] for t in seen[side])

    def ratio(a: str, b: str) -> float:
        return statistics.median(x["rate"] / y["rate"] for x, y in zip(seen[a], seen[b], strict=True))

    cells = [f"{med(s, 'rate'):,.0f}" for s in SIDES]
    cells += [
        f"{ratio('base', 'in-process'):.2f}",
        f"{ratio('new', 'in-process'):.2f}",
        f"{ratio('new', 'base'):.2f}",
    ]
    cells += [f"{med(s, 'cpu'):.0f}" for s in SIDES] + [f"{med(s, 'ttft'):.1f}" for s in SIDES]
    return f"| {model} | {c} | " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the other tree's src directory (PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default="tiny,small")
    parser.add_argument("-c", default="1,8,32")
    args = parser.parse_args()
    models, levels = args.models.split(","), [int(c) for c in args.c.split(",")]
    work = Path(tempfile.mkdtemp(prefix="ovserve-genai-ab-"))
    print(
        "| model | c | in-process tokens/s | base tokens/s | new tokens/s | base ÷ in-process "
        "| new ÷ in-process | new ÷ base | in-process CPU µs/token | base CPU µs/token "
        "| new CPU µs/token | in-process TTFT ms | base TTFT ms | new TTFT ms |"
    )
    print("| --- " * 14 + "|", flush=True)
    for model in models:  # one model at a time: one pipeline per process, as bench/genai.py runs it
        path = genai.build_model(model, work)
        config = work / f"{model}.json"
        entry = {"config": {"name": model, "base_path": str(path), "task": "text_generation"}}
        config.write_text(json.dumps({"model_config_list": [entry]}))
        servers = {
            "base": start(f"base-{model}", config, work, args.base),
            "new": start(f"new-{model}", config, work, None),
        }
        try:
            pipes = {model: genai.pipeline(path)}
            for c in levels:
                print(row(model, c, measure(servers, pipes, model, c, args.rounds)), flush=True)
            del pipes
        finally:
            for server in servers.values():
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
