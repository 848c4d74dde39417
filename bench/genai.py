#!/usr/bin/env python3
"""Text generation: ovserve's OpenAI endpoint against ContinuousBatchingPipeline called in-process.

Both sides run the same tiny predictable LLM (tests/genai_models.py: built locally, no
download) with the same scheduler settings. Each round starts ``c`` generations at once
(prompt "x", ``max_tokens`` new tokens, ``ignore_eos``) and measures:

- generated tokens per second: all tokens of the round / the round's wall time;
- time to first token: from starting a request to its first token (median and p90).

In-process, one thread adds the requests and steps the pipeline (as ovserve's engine does);
against ovserve, a minimal asyncio client streams ``c`` ``/v3/completions`` requests over
127.0.0.1 (one connection each, counting SSE chunks; no JSON parsing, to keep the client's
share of the CPU small). Writes bench/results/<date>-<cpu>-genai.md.

    .venv/bin/python bench/genai.py            # BENCH_GENAI_ROUNDS, BENCH_GENAI_TOKENS to change
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
from pathlib import Path

import openvino_genai as ov_genai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import genai_models  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

CONCURRENCY = (1, 8, 32)
ROUNDS = int(os.environ.get("BENCH_GENAI_ROUNDS", "3"))
TOKENS = int(os.environ.get("BENCH_GENAI_TOKENS", "128"))


def in_process(model: Path, concurrency: int) -> tuple[float, list[float]]:
    """(tokens/s, TTFT seconds of each request) for one round on the pipeline itself."""
    pipe = ov_genai.ContinuousBatchingPipeline(str(model), ov_genai.SchedulerConfig(), "CPU")
    tokenizer = pipe.get_tokenizer()
    ids = tokenizer.encode("x", add_special_tokens=True).input_ids
    best = (0.0, [0.0])
    for _ in range(ROUNDS + 1):  # the first round warms up
        config = pipe.get_config()
        config.max_new_tokens, config.ignore_eos = TOKENS, True
        start = time.perf_counter()
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
        if rate > best[0]:
            best = (rate, list(first.values()))
    return best


async def _stream(host: str, port: int) -> tuple[float, int]:
    """One streamed completion over a raw connection: (seconds to the first token, tokens)."""
    body = json.dumps(
        {"model": "tiny", "prompt": "x", "max_tokens": TOKENS, "ignore_eos": True, "stream": True}
    )
    head = f"POST /v3/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    request = (head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n" + body).encode()
    reader, writer = await asyncio.open_connection(host, port)
    start = time.perf_counter()
    writer.write(request)
    ttft, tokens, tail = 0.0, 0, b""
    while b"[DONE]" not in tail:
        data = await reader.read(65536)
        if not data:
            break
        found = (tail[-8:] + data).count(b"data: {")  # one chunk per token (no usage chunk asked)
        if found and not tokens:
            ttft = time.perf_counter() - start
        tokens += found
        tail = tail[-8:] + data
    writer.close()
    return ttft, tokens


def served(host: str, port: int, concurrency: int) -> tuple[float, list[float]]:
    async def round_() -> tuple[float, list[float]]:
        start = time.perf_counter()
        results = await asyncio.gather(*(_stream(host, port) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        return sum(t for _, t in results) / elapsed, [f for f, _ in results]

    best = (0.0, [0.0])
    for _ in range(ROUNDS + 1):
        rate, firsts = asyncio.run(round_())
        if rate > best[0]:
            best = (rate, firsts)
    return best


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f}"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ovserve-bench-genai-"))
    model = genai_models.build_llm(work / "tiny")
    rows = []
    proc = ServerProcess(
        ["--model_name", "tiny", "--model_path", str(model), "--task", "text_generation"],
        work / "ovserve.log",
    )
    proc.start()
    try:
        for c in CONCURRENCY:
            local_rate, local_ttft = in_process(model, c)
            server_rate, server_ttft = served("127.0.0.1", proc.rest_port, c)
            rows.append(
                f"| {c} | {local_rate:,.0f} | {server_rate:,.0f} | {server_rate / local_rate:.2f} | "
                f"{statistics.median(local_ttft) * 1000:.1f} / {_ms(local_ttft, 0.9)} | "
                f"{statistics.median(server_ttft) * 1000:.1f} / {_ms(server_ttft, 0.9)} |"
            )
            print(rows[-1], flush=True)
    finally:
        proc.stop()
    cpu = platform.processor() or platform.machine()
    today = datetime.date.today().isoformat()
    text = "\n".join(
        [
            f"# Text generation: ovserve against ContinuousBatchingPipeline in-process ({today})",
            "",
            f"`bench/genai.py`, tiny predictable LLM, {TOKENS} new tokens per request (ignore_eos), "
            f"best of {ROUNDS} rounds after a warm-up, {os.cpu_count()} CPUs ({cpu}).",
            "",
            "| concurrency | in-process tokens/s | ovserve tokens/s | ratio | in-process TTFT ms p50 / p90 | "
            "ovserve TTFT ms p50 / p90 |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )
    results = ROOT / "bench" / "results" / f"{today}-genai.md"
    results.write_text(text)
    print(f"wrote {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
