#!/usr/bin/env python3
"""Text generation: ovserve's OpenAI endpoint against ContinuousBatchingPipeline called in-process.

Both sides run the same tiny predictable LLM (tests/genai_models.py: built locally, no
download) with the same scheduler settings. Each round starts ``c`` generations at once
(prompt "x", ``max_tokens`` new tokens, ``ignore_eos``) and measures:

- generated tokens per second: all tokens of the round / the round's wall time;
- time to first token: from starting a request to its first token (median and p90).

- CPU time per token: the process's (all threads) over the measured rounds, which a busy
  shared machine disturbs less than the rates.

Beside them, the peers of bench/genai_peers.py, each in its own venv: the obvious
hand-written server (FastAPI + LLMPipeline behind a lock) and llama-cpp-python's OpenAI
server on the same architecture as GGUF (its wheel is built from source on first use).
In-process, one thread adds the requests and steps the pipeline (as ovserve's engine does);
against the servers, a minimal asyncio client streams ``c`` completions over 127.0.0.1 (one
connection each, counting SSE chunks; no JSON parsing, to keep the client's share of the CPU
small). Writes bench/results/<date>-genai.md.

    .venv/bin/python bench/genai.py   # BENCH_GENAI_ROUNDS, BENCH_GENAI_TOKENS; BENCH_GENAI_LLAMA=0: no llama peer
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino_genai as ov_genai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import genai_models  # noqa: E402
from genai_peers import Peer, start_fastapi, start_llama  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

CONCURRENCY = (1, 8, 32)
ROUNDS = int(os.environ.get("BENCH_GENAI_ROUNDS", "3"))
TOKENS = int(os.environ.get("BENCH_GENAI_TOKENS", "128"))


@dataclass
class Measured:
    """One side at one concurrency: best tokens/s, its round's TTFTs, CPU µs per token (or None)."""

    rate: float
    ttft: list[float]
    cpu_us: float | None = None


def in_process(model: Path, concurrency: int) -> Measured:
    """One round's tokens/s and TTFTs on the pipeline itself (best of ROUNDS after a warm-up), and
    the process's CPU time per token over the measured rounds."""
    pipe = ov_genai.ContinuousBatchingPipeline(str(model), ov_genai.SchedulerConfig(), "CPU")
    tokenizer = pipe.get_tokenizer()
    ids = tokenizer.encode("x", add_special_tokens=True).input_ids
    best, total, cpu = Measured(0.0, [0.0]), 0, 0.0
    for warm in [True] + [False] * ROUNDS:
        config = pipe.get_config()
        config.max_new_tokens, config.ignore_eos = TOKENS, True
        cpu_start, start = time.process_time(), time.perf_counter()
        handles = [pipe.add_request(i, ids, config) for i in range(concurrency)]
        first: dict[int, float] = {}
        tokens = 0
        while pipe.has_non_finished_requests():
            pipe.step()
            now = time.perf_counter()
            for i, handle in enumerate(handles):
                while handle.can_read():
                    for output in handle.read().values():
                        tokens += len(output.generated_ids)
                        first.setdefault(i, now - start)
        rate = tokens / (time.perf_counter() - start)
        if not warm:
            total, cpu = total + tokens, cpu + time.process_time() - cpu_start
            if rate > best.rate:
                best = Measured(rate, list(first.values()))
    best.cpu_us = cpu / total * 1e6
    return best


async def _stream(
    host: str, port: int, path: str = "/v3/completions", extra: dict[str, Any] | None = None
) -> tuple[float, int]:
    """One streamed completion over a raw connection: (seconds to the first token, tokens).

    Tokens are counted as SSE chunks (one per token; no usage chunk asked), at most ``TOKENS``
    (a peer may close with a chunk of no text that only carries the finish reason)."""
    fields = {"model": "tiny", "prompt": "x", "max_tokens": TOKENS, "ignore_eos": True, "stream": True}
    body = json.dumps({**fields, **(extra or {})})
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    request = (head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n" + body).encode()
    reader, writer = await asyncio.open_connection(host, port)
    start = time.perf_counter()
    writer.write(request)
    ttft, tokens, tail = 0.0, 0, b""
    while b"[DONE]" not in tail:
        data = await reader.read(65536)
        if not data:
            break
        found = (tail[-8:] + data).count(b"data: {")
        if found and not tokens:
            ttft = time.perf_counter() - start
        tokens += found
        tail = tail[-8:] + data
    writer.close()
    return ttft, min(tokens, TOKENS)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(port: int, concurrency: int, peer: Peer | None = None, pid: int | None = None) -> Measured:
    """The best of ROUNDS rounds (after a warm-up) of ``concurrency`` streams; with ``pid``, that
    process's CPU time per token over all the measured rounds."""
    path, extra = (peer.path, peer.body) if peer is not None else ("/v3/completions", None)

    async def round_() -> tuple[float, list[float], int]:
        start = time.perf_counter()
        results = await asyncio.gather(*(_stream("127.0.0.1", port, path, extra) for _ in range(concurrency)))
        tokens = sum(t for _, t in results)
        return tokens / (time.perf_counter() - start), [f for f, _ in results], tokens

    asyncio.run(round_())
    best, total = Measured(0.0, [0.0]), 0
    cpu = _cpu_seconds(pid) if pid is not None else 0.0
    for _ in range(ROUNDS):
        rate, firsts, tokens = asyncio.run(round_())
        total += tokens
        if rate > best.rate:
            best = Measured(rate, firsts)
    if pid is not None and total:
        best.cpu_us = (_cpu_seconds(pid) - cpu) / total * 1e6
    return best


def _ttft(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} / {_ms(values, 0.9)}"


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f}"


def measure_all(model: Path, work: Path) -> dict[str, dict[int, Measured]]:
    """Every side at every concurrency, one side after the other (each server alone on the machine)."""
    sides: dict[str, dict[int, Measured]] = {"in-process": {c: in_process(model, c) for c in CONCURRENCY}}
    proc = ServerProcess(
        ["--model_name", "tiny", "--model_path", str(model), "--task", "text_generation"],
        work / "ovserve.log",
    )
    proc.start()
    try:
        assert proc.process is not None
        sides["ovserve"] = {c: served(proc.rest_port, c, pid=proc.process.pid) for c in CONCURRENCY}
    finally:
        proc.stop()
    starters = [lambda: start_fastapi(model, work / "fastapi.log")]
    if os.environ.get("BENCH_GENAI_LLAMA", "1") != "0":
        starters.append(lambda: start_llama(model, work, work / "llama.log"))
    for start in starters:
        peer = start()
        try:
            assert peer.process is not None
            sides[peer.name] = {c: served(peer.port, c, peer, peer.process.pid) for c in CONCURRENCY}
        finally:
            peer.stop()
    return sides


def report(sides: dict[str, dict[int, Measured]]) -> str:
    """The results file: tokens/s (ratio to in-process), TTFT p50 / p90, CPU µs per token, per side."""
    names = list(sides)
    local = sides["in-process"]
    rows = []
    for c in CONCURRENCY:
        rates = [f"{sides[n][c].rate:,.0f} ({sides[n][c].rate / local[c].rate:.2f})" for n in names]
        ttfts = [_ttft(sides[n][c].ttft) for n in names]
        cpus = [f"{sides[n][c].cpu_us:.0f}" if sides[n][c].cpu_us is not None else "–" for n in names]
        rows.append(f"| {c} | " + " | ".join(rates + ttfts + cpus) + " |")
        print(rows[-1], flush=True)
    cpu = platform.processor() or platform.machine()
    today = datetime.date.today().isoformat()
    header = (
        [f"{n} tokens/s (ratio)" for n in names]
        + [f"{n} TTFT ms p50 / p90" for n in names]
        + [f"{n} CPU µs/token" for n in names]
    )
    return "\n".join(
        [
            f"# Text generation: ovserve against ContinuousBatchingPipeline in-process and its peers ({today})",
            "",
            f"`bench/genai.py`, tiny predictable LLM, {TOKENS} new tokens per request (ignore_eos), "
            f"best of {ROUNDS} rounds after a warm-up, {os.cpu_count()} CPUs ({cpu}). CPU µs/token: the "
            "process's CPU time (all its threads) over the measured rounds / their tokens (the client's not counted).",
            "",
            "| concurrency | " + " | ".join(header) + " |",
            "| --- |" + " --- |" * len(header),
            *rows,
            "",
        ]
    )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ovserve-bench-genai-"))
    model = genai_models.build_llm(work / "tiny")
    text = report(measure_all(model, work))
    results = ROOT / "bench" / "results" / f"{datetime.date.today().isoformat()}-genai.md"
    results.write_text(text)
    print(f"wrote {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
