#!/usr/bin/env python3
"""Text generation: ovserve's OpenAI endpoint against ContinuousBatchingPipeline called in-process.

Both sides run the same tiny predictable LLM (tests/genai_models.py: built locally, no
download) with the same scheduler settings. Each round starts ``c`` generations at once
(prompt "x", ``max_tokens`` new tokens, ``ignore_eos``) and measures:

- generated tokens per second: all tokens of the round / the round's wall time;
- time to first token: from starting a request to its first token (median and p90).

Beside them, the obvious hand-written server (bench/peers/fastapi_llm.py: FastAPI and
LLMPipeline behind a lock, in its own venv bench/.envs/fastapi-genai, built on first use).
In-process, one thread adds the requests and steps the pipeline (as ovserve's engine does);
against ovserve, a minimal asyncio client streams ``c`` ``/v3/completions`` requests over
127.0.0.1 (one connection each, counting SSE chunks; no JSON parsing, to keep the client's
share of the CPU small). Writes bench/results/<date>-genai.md.

    .venv/bin/python bench/genai.py            # BENCH_GENAI_ROUNDS, BENCH_GENAI_TOKENS to change
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openvino_genai as ov_genai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import genai_models  # noqa: E402
from serverproc import ServerProcess, free_port  # noqa: E402

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


PEER_ENV = ROOT / "bench" / ".envs" / "fastapi-genai"
PEER_REQUIREMENTS = (
    "fastapi",
    "uvicorn",
    "openvino==2026.4.1",
    "openvino-genai==2026.4.1.0",
    "openvino-tokenizers==2026.4.1.0",
)


def peer_python() -> Path:
    """The venv of the FastAPI + LLMPipeline peer (built once, with pip, when missing)."""
    python = PEER_ENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_ENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
    return python


def start_peer(model: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The hand-written FastAPI server on a free port, once it answers."""
    port = free_port()
    script = ROOT / "bench" / "peers" / "fastapi_llm.py"
    proc = subprocess.Popen(
        [str(peer_python()), str(script), str(model), str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            asyncio.run(_stream("127.0.0.1", port))
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the FastAPI peer did not start:\n{log.read_text()}")


def _ttft(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} / {_ms(values, 0.9)}"


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f}"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ovserve-bench-genai-"))
    model = genai_models.build_llm(work / "tiny")
    rows = []
    measured: dict[int, list[tuple[float, list[float]]]] = {c: [in_process(model, c)] for c in CONCURRENCY}
    proc = ServerProcess(
        ["--model_name", "tiny", "--model_path", str(model), "--task", "text_generation"],
        work / "ovserve.log",
    )
    proc.start()
    try:
        for c in CONCURRENCY:
            measured[c].append(served("127.0.0.1", proc.rest_port, c))
    finally:
        proc.stop()
    peer, port = start_peer(model, work / "peer.log")
    try:
        for c in CONCURRENCY:
            measured[c].append(served("127.0.0.1", port, c))
    finally:
        peer.terminate()
        peer.wait(30)
    for c, ((local, local_ttft), (ours, ours_ttft), (theirs, their_ttft)) in measured.items():
        rows.append(
            f"| {c} | {local:,.0f} | {ours:,.0f} ({ours / local:.2f}) | {theirs:,.0f} ({theirs / local:.2f}) | "
            f"{_ttft(local_ttft)} | {_ttft(ours_ttft)} | {_ttft(their_ttft)} |"
        )
        print(rows[-1], flush=True)
    cpu = platform.processor() or platform.machine()
    today = datetime.date.today().isoformat()
    text = "\n".join(
        [
            f"# Text generation: ovserve against ContinuousBatchingPipeline in-process and FastAPI + LLMPipeline ({today})",
            "",
            f"`bench/genai.py`, tiny predictable LLM, {TOKENS} new tokens per request (ignore_eos), "
            f"best of {ROUNDS} rounds after a warm-up, {os.cpu_count()} CPUs ({cpu}).",
            "",
            "| concurrency | in-process tokens/s | ovserve tokens/s (ratio) | FastAPI + LLMPipeline tokens/s (ratio) | "
            "in-process TTFT ms p50 / p90 | ovserve TTFT ms p50 / p90 | FastAPI TTFT ms p50 / p90 |",
            "| --- | --- | --- | --- | --- | --- | --- |",
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
