#!/usr/bin/env python3
"""Text generation: ovserve's OpenAI endpoint against ContinuousBatchingPipeline called in-process.

Three models, all the predictable LLM of tests/genai_models.py (built locally, no download):
``tiny`` (one layer, hidden 16: a step for all requests costs ~0.15-0.6 ms, so the serving
work per token shows), ``small`` (6 layers, hidden 512, feed-forward 2048: a step costs 1.5-4
ms) and ``medium`` (8 layers, hidden 1024, feed-forward 4096: ~15 ms at c=1, the pace of a real
small LLM on a CPU, which is slower still). Both sides run the same model with the same
scheduler settings. Each round starts ``c`` generations at once (prompt "x", ``max_tokens`` new
tokens, ``ignore_eos``) and measures:

- generated tokens per second: all tokens of the round / the round's wall time;
- time to first token: from starting a request to its first token (median and p90);
- CPU time per token: the process's (all threads) over the measured rounds, which a busy
  shared machine disturbs less than the rates.

In-process and ovserve are measured in turn, round by round (the ratio is the median of the
rounds' ratios), each pair followed by a round against the harness floor (bench/peers/null_sse.py:
a server that streams a finished completion at once, no model) and by the model's tokenizer
encoding the round's prompts in one call. The in-process side is given token ids; a server is
given text, which it must encode, and its answers come through this client. So no server
measured here can reach more than in-process time ÷ (in-process time + floor round + encoding)
of the in-process rate: the **ceiling**, reported beside ovserve's ratio and its ratio to it.

Beside them, the peers of bench/genai_peers.py, each in its own venv: the obvious hand-written
server (FastAPI + LLMPipeline behind a lock, tiny and small) and llama-cpp-python's OpenAI server
on the tiny architecture written as GGUF (its wheel is built from source on first use).
In-process, one thread adds the requests and steps the pipeline (as ovserve's engine does);
against the servers, a minimal asyncio client streams ``c`` completions over 127.0.0.1 (one
connection each; the body is scanned, not parsed). Tokens are counted by the
server's usage chunk (``stream_options.include_usage``; a chunk may carry several tokens) and
checked against ``max_tokens``; llama-cpp-python sends no usage chunk: its chunks (one per
token) are counted. Writes bench/results/<date>-genai.md.

    .venv/bin/python bench/genai.py   # BENCH_GENAI_ROUNDS, BENCH_GENAI_TOKENS, BENCH_GENAI_MODELS
                                      # (tiny,small,medium), BENCH_GENAI_PAIRS, BENCH_GENAI_OUT (the
                                      # results file); BENCH_GENAI_LLAMA=0: no llama peer
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
from abtools import cpu_seconds  # noqa: E402
from genai_peers import Peer, start_fastapi, start_floor, start_llama  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

CONCURRENCY = (1, 8, 32)
ROUNDS = int(os.environ.get("BENCH_GENAI_ROUNDS", "3"))
TOKENS = int(os.environ.get("BENCH_GENAI_TOKENS", "128"))


@dataclass
class Measured:
    """One side at one concurrency: best tokens/s, the TTFTs of all its rounds, CPU µs per token (or None);
    ``ratio``: the median of the per-round ratios to in-process when measured interleaved with it;
    ``ceiling``: the most of in-process's rate that any server measured by this client can reach
    here (:func:`ceiling`), the median over the same rounds, with the harness floor's round and the
    prompts' encoding (ms, medians)."""

    rate: float
    ttft: list[float]
    cpu_us: float | None = None
    ratio: float | None = None
    ceiling: float | None = None
    floor_ms: float | None = None
    encode_ms: float | None = None


def ceiling(local_s: float, floor_s: float, encode_s: float) -> float:
    """in-process's round time ÷ (it + the harness floor's round + encoding the round's prompts):
    the ratio a server would reach if serving cost it no more than the floor and the encoding.

    These and the steps do not overlap: the connections are made, the requests sent and the
    prompts encoded before the first step, the last chunk is read after the last, and on 2 CPUs
    the steps keep both busy in between."""
    return local_s / (local_s + floor_s + encode_s)


def encode_seconds(pipe: Any, concurrency: int) -> float:
    """The pipeline's tokenizer encoding the round's ``concurrency`` prompts in one call (as
    ovserve encodes the prompts that came together), right after the floor's round: the tokenizer
    idle for that long, as a server's is between requests."""
    tokenizer, prompts = pipe.get_tokenizer(), ["x"] * concurrency
    start = time.perf_counter()
    tokenizer.encode(prompts, add_special_tokens=True)
    return time.perf_counter() - start


#: the bench's models: genai_models.build_llm's size arguments and a description
MODELS: dict[str, tuple[dict[str, int], str]] = {
    "tiny": ({}, "one layer, hidden 16"),
    "small": (
        {"heads": 8, "head_dim": 64, "layers": 6, "ffn": 2048},
        "6 layers, hidden 512, feed-forward 2048",
    ),
    "medium": (
        {"heads": 16, "head_dim": 64, "layers": 8, "ffn": 4096},
        "8 layers, hidden 1024, feed-forward 4096: ~100 M weights, a step of ~15 ms at c=1 on 2 cores, "
        "still faster than the smallest real LLMs (0.5-1 B weights) on a CPU",
    ),
}
#: the models the peers also serve (a hand-written server behind a lock takes c × as long)
PEER_MODELS = ("tiny", "small")
#: rounds of in-process and ovserve taken in turn (after a warm-up each), per concurrency
PAIRS = int(os.environ.get("BENCH_GENAI_PAIRS", "5"))


def build_model(name: str, work: Path) -> Path:
    return genai_models.build_llm(work / name, **MODELS[name][0])


def pipeline(model: Path) -> Any:
    """The in-process pipeline, with ovserve's (OVMS's) scheduler defaults: GenAI's, but prefix caching on."""
    config = ov_genai.SchedulerConfig()
    config.enable_prefix_caching = True
    return ov_genai.ContinuousBatchingPipeline(str(model), config, "CPU")


def in_process_round(pipe: Any, concurrency: int) -> tuple[float, list[float], int, float]:
    """``concurrency`` generations at once on the pipeline, stepped by this thread:
    (tokens/s, each one's time to its first token, tokens, this process's CPU seconds)."""
    ids = pipe.get_tokenizer().encode("x", add_special_tokens=True).input_ids
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
    return rate, list(first.values()), tokens, time.process_time() - cpu_start


async def _stream(
    host: str,
    port: int,
    path: str = "/v3/completions",
    extra: dict[str, Any] | None = None,
    *,
    usage: bool = True,
    model: str = "tiny",
) -> tuple[float, int]:
    """One streamed completion over a raw connection: (seconds to the first chunk, tokens).

    With ``usage`` the tokens are the usage chunk's ``completion_tokens`` (``stream_options``
    asked): a server may send several tokens in one chunk. Without (a server that has no usage
    chunk), SSE chunks are counted, at most ``TOKENS`` (a peer may close with a chunk of no text
    that only carries the finish reason). The body is only scanned, not parsed, except the usage
    chunk: the client's share of the CPU stays small."""
    fields: dict[str, Any] = {"model": model, "prompt": "x", "max_tokens": TOKENS, "ignore_eos": True}
    fields["stream"] = True
    if usage:
        fields["stream_options"] = {"include_usage": True}
    body = json.dumps({**fields, **(extra or {})})
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    request = (head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n" + body).encode()
    reader, writer = await asyncio.open_connection(host, port)
    start = time.perf_counter()
    writer.write(request)
    ttft, chunks, tail = 0.0, 0, b""
    while b"[DONE]" not in tail[-64:]:
        data = await reader.read(65536)
        if not data:
            break
        found = (tail[-8:] + data).count(b"data: {")
        if found and not chunks:
            ttft = time.perf_counter() - start
        chunks += found
        tail = (tail + data)[-TAIL_BYTES:]
    writer.close()
    return ttft, _usage_tokens(tail) if usage else min(chunks, TOKENS)


#: the end of a streamed body kept by the client (the usage chunk and [DONE] fit in it)
TAIL_BYTES = 4096


def _usage_tokens(tail: bytes) -> int:
    """``usage.completion_tokens`` of the last chunk in ``tail`` (the usage chunk, before [DONE])."""
    at = tail.rfind(b"data: {")
    if at < 0:
        raise RuntimeError(f"no usage chunk at the end of the stream: {tail[-300:]!r}")
    event = tail[at + len(b"data: ") : tail.index(b"\n\n", at)]
    return int(json.loads(event)["usage"]["completion_tokens"])


def served(
    port: int, concurrency: int, peer: Peer | None = None, pid: int | None = None, model: str = "tiny"
) -> Measured:
    """The best of ROUNDS rounds (after a warm-up) of ``concurrency`` streams, with the times to
    first token of all of them; with ``pid``, that process's CPU time per token over all the
    measured rounds."""
    best, total, every = Measured(0.0, [0.0]), 0, []
    one_round(port, concurrency, peer, model)
    cpu = cpu_seconds(pid) if pid is not None else 0.0
    for _ in range(ROUNDS):
        rate, firsts, tokens = one_round(port, concurrency, peer, model)
        total += tokens
        every += firsts
        if rate > best.rate:
            best = Measured(rate, firsts)
    best.ttft = every
    if pid is not None and total:
        best.cpu_us = (cpu_seconds(pid) - cpu) / total * 1e6
    return best


def one_round(
    port: int, concurrency: int, peer: Peer | None = None, model: str = "tiny"
) -> tuple[float, list[float], int]:
    """``concurrency`` streams at once: (tokens/s, each one's time to the first chunk, tokens).

    Every stream must have made its ``TOKENS`` tokens (ignore_eos), as counted by the server's usage."""
    path, extra, usage = (
        (peer.path, peer.body, peer.usage) if peer is not None else ("/v3/completions", None, True)
    )

    async def round_() -> tuple[float, list[float], int]:
        start = time.perf_counter()
        streams = (
            _stream("127.0.0.1", port, path, extra, usage=usage, model=model) for _ in range(concurrency)
        )
        results = await asyncio.gather(*streams)
        counts = [t for _, t in results]
        if usage and counts != [TOKENS] * concurrency:
            raise RuntimeError(f"streams made {counts} tokens, not {TOKENS} each")
        return sum(counts) / (time.perf_counter() - start), [f for f, _ in results], sum(counts)

    return asyncio.run(round_())


def served_round(port: int, pid: int, concurrency: int, model: str) -> tuple[float, list[float], int, float]:
    """:func:`one_round` on ovserve: (tokens/s, times to the first chunk, tokens, the server
    process's CPU seconds), as :func:`in_process_round` gives them in-process."""
    before = cpu_seconds(pid)
    rate, firsts, tokens = one_round(port, concurrency, model=model)
    return rate, firsts, tokens, cpu_seconds(pid) - before


def _ttft(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} / {_ms(values, 0.9)}"


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f}"


def interleaved(
    pipe: Any, port: int, pid: int, concurrency: int, model: str, floor: Peer
) -> tuple[Measured, Measured]:
    """In-process and ovserve in turn, PAIRS rounds after a warm-up each (the order alternating),
    each pair followed by a round against the harness floor: each side's best rate, the times to
    first token of all its rounds, CPU per token over all its rounds, ovserve's ratio as the median
    of the rounds' ratios, so that a drift of the machine cancels out, and the ceiling likewise."""
    in_process_round(pipe, concurrency)
    one_round(port, concurrency, model=model)
    one_round(floor.port, concurrency, floor, model)
    local, remote = Measured(0.0, [0.0]), Measured(0.0, [0.0])
    ratios: list[float] = []
    ceilings: list[float] = []
    floor_ms: list[float] = []
    encode_ms: list[float] = []
    cpu = {"local": 0.0, "remote": 0.0}
    tokens = {"local": 0, "remote": 0}
    firsts_all: dict[str, list[float]] = {"local": [], "remote": []}
    for index in range(PAIRS):
        rates: dict[str, float] = {}
        for side in ("local", "remote") if index % 2 == 0 else ("remote", "local"):
            if side == "local":
                rate, firsts, made, seconds = in_process_round(pipe, concurrency)
            else:
                rate, firsts, made, seconds = served_round(port, pid, concurrency, model)
            cpu[side] += seconds
            tokens[side] += made
            firsts_all[side] += firsts
            rates[side] = rate
            best = local if side == "local" else remote
            best.rate = max(best.rate, rate)
        ratios.append(rates["remote"] / rates["local"])
        floor_rate, _, floor_tokens = one_round(floor.port, concurrency, floor, model)
        encode_s = encode_seconds(pipe, concurrency)
        ceilings.append(ceiling(floor_tokens / rates["local"], floor_tokens / floor_rate, encode_s))
        floor_ms.append(floor_tokens / floor_rate * 1000)
        encode_ms.append(encode_s * 1000)
    local.ttft, remote.ttft = firsts_all["local"], firsts_all["remote"]
    local.cpu_us = cpu["local"] / tokens["local"] * 1e6
    remote.cpu_us = cpu["remote"] / tokens["remote"] * 1e6
    remote.ratio = statistics.median(ratios)
    remote.ceiling, remote.floor_ms = statistics.median(ceilings), statistics.median(floor_ms)
    remote.encode_ms = statistics.median(encode_ms)
    return local, remote


def measure_all(name: str, model: Path, work: Path) -> dict[str, dict[int, Measured]]:
    """Every side at every concurrency on one model: in-process and ovserve interleaved (both
    loaded, one measured at a time), then each peer alone."""
    proc = ServerProcess(
        ["--model_name", name, "--model_path", str(model), "--task", "text_generation"],
        work / f"ovserve-{name}.log",
    )
    proc.start()
    floor = start_floor(TOKENS, work / "floor.log")
    sides: dict[str, dict[int, Measured]] = {"in-process": {}, "ovserve": {}}
    try:
        assert proc.process is not None
        pipe = pipeline(model)
        for c in CONCURRENCY:
            local, served_ = interleaved(pipe, proc.rest_port, proc.process.pid, c, name, floor)
            sides["in-process"][c], sides["ovserve"][c] = local, served_
            print(
                f"{name} c={c}: ovserve ÷ in-process {served_.ratio:.2f}, ceiling {served_.ceiling:.2f}",
                flush=True,
            )
        del pipe
    finally:
        floor.stop()
        proc.stop()
    if name not in PEER_MODELS:
        return sides
    starters = [lambda: start_fastapi(model, work / f"fastapi-{name}.log")]
    if os.environ.get("BENCH_GENAI_LLAMA", "1") != "0" and name == "tiny":  # GGUF: the tiny architecture only
        starters.append(lambda: start_llama(model, work, work / "llama.log"))
    for start in starters:
        peer = start()
        try:
            assert peer.process is not None
            sides[peer.name] = {c: served(peer.port, c, peer, peer.process.pid, name) for c in CONCURRENCY}
        finally:
            peer.stop()
    return sides


def table(sides: dict[str, dict[int, Measured]]) -> list[str]:
    """Tokens/s (ratio to in-process), ovserve's ceiling (the floor's round, the encoding) and its ratio to it,
    TTFT p50 / p90, CPU µs per token, per side and concurrency."""
    names = list(sides)
    local = sides["in-process"]
    header = (
        [f"{n} tokens/s (ratio)" for n in names]
        + ["ceiling (floor + encoding ms)", "ovserve ÷ ceiling"]
        + [f"{n} TTFT ms p50 / p90" for n in names]
        + [f"{n} CPU µs/token" for n in names]
    )
    rows = ["| concurrency | " + " | ".join(header) + " |", "| --- |" + " --- |" * len(header)]
    for c in CONCURRENCY:
        rates = [f"{sides[n][c].rate:,.0f} ({_ratio(sides[n][c], local[c]):.2f})" for n in names]
        served_ = sides["ovserve"][c]
        assert served_.ceiling is not None and served_.ratio is not None
        spent = f"{served_.floor_ms:.1f} + {served_.encode_ms:.2f}"
        rates += [f"{served_.ceiling:.2f} ({spent})", f"{served_.ratio / served_.ceiling:.2f}"]
        ttfts = [_ttft(sides[n][c].ttft) for n in names]
        cpus = [f"{sides[n][c].cpu_us:.0f}" if sides[n][c].cpu_us is not None else "–" for n in names]
        rows.append(f"| {c} | " + " | ".join(rates + ttfts + cpus) + " |")
        print(rows[-1], flush=True)
    return rows


def _ratio(side: Measured, local: Measured) -> float:
    return side.ratio if side.ratio is not None else side.rate / local.rate


def report(results: dict[str, dict[str, dict[int, Measured]]]) -> str:
    """The results file: one table per model."""
    cpu = platform.processor() or platform.machine()
    today = datetime.date.today().isoformat()
    lines = [
        f"# Text generation: ovserve against ContinuousBatchingPipeline in-process and its peers ({today})",
        "",
        f"`bench/genai.py`, {TOKENS} new tokens per request (ignore_eos; counted by the servers' usage "
        f"chunk), {os.cpu_count()} CPUs ({cpu}). In-process and ovserve: {PAIRS} rounds each, taken in turn "
        "after a warm-up (both loaded, one measured at a time); each side's best tokens/s, TTFT over all its "
        "measured rounds, ovserve's ratio the **median of the per-round ratios**. Peers (tiny and small only): best of "
        f"{ROUNDS} rounds after a warm-up, each alone, ratio to the in-process best. CPU µs/token: the "
        "process's CPU time (all its threads) over the measured rounds / their tokens (the client's not counted).",
    ]
    for name, sides in results.items():
        lines += ["", f"## `{name}`: {MODELS[name][1]}", "", *table(sides)]
    return "\n".join([*lines, ""])


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ovserve-bench-genai-"))
    names = os.environ.get("BENCH_GENAI_MODELS", ",".join(MODELS)).split(",")
    results = {name: measure_all(name, build_model(name, work), work) for name in names}
    text = report(results)
    default = ROOT / "bench" / "results" / f"{datetime.date.today().isoformat()}-genai.md"
    path = Path(os.environ.get("BENCH_GENAI_OUT", str(default)))
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
