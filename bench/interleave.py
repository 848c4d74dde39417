"""The interleaved phase: ovserve against the limits of a Python server, in turn.

For each :class:`Pair` (A measured against B) and concurrency, A and B run in turn for
BENCH_ROUNDS rounds (A then B, then B then A, ...), each turn its own warm-up and measured
window; every server of the phase runs all along, pinned like the tiny model's main cases,
and only the one whose turn it is gets traffic. Reported per pair and c: the **median of the
per-round ratios** of req/s (A ÷ B) and of the per-round p50 differences (A − B), so that a
drift of the machine (other processes, frequency) between rounds cancels out.

The pairs: ovserve's KServe REST JSON against a raw ASGI app on uvicorn + orjson
(bench/floors/asgi_app.py), ovserve's KServe gRPC against a bare grpc.aio handler
(bench/floors/grpc_handler.py), and ovserve's TF Serving REST and gRPC against its own KServe
counterparts.
"""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass
from pathlib import Path

from fmt import cell
from kinds import FLOOR_ASGI, FLOOR_GRPC
from loadgen import run_case
from models import ModelSpec
from plan import LABEL, Report
from servers import RunningServer, ServerKind


@dataclass(frozen=True)
class Pair:
    """A (server, protocol) measured against B; the targets of issue 16 (None: none set)."""

    a: tuple[str, str]
    b: tuple[str, str]
    #: A ÷ B req/s wanted at every concurrency
    want_ratio: float
    #: A − B p50 wanted at c=1, in µs
    want_p50_us: float | None = None


PAIRS = (
    Pair(("ovserve", "v2_json"), (FLOOR_ASGI, "v2_json"), 0.95, 50),
    Pair(("ovserve", "v2_grpc"), (FLOOR_GRPC, "v2_grpc"), 0.9, 100),
    Pair(("ovserve", "tfs_rest"), ("ovserve", "v2_json"), 0.9),
    Pair(("ovserve", "tfs_grpc"), ("ovserve", "v2_grpc"), 0.9),
)
COUNTS = (1, 8)
#: (pair index, c) -> [(A's result, B's result) per round]
PairResults = dict[tuple[int, int], list[tuple[dict, dict]]]


def skipped(rep: Report) -> str | None:
    """Why the phase does not run, or None when it does."""
    s = rep.settings
    if not s.pairs:
        return "BENCH_PAIRS=0"
    if "tiny" not in s.models or "ovserve" not in s.servers:
        return "it needs the tiny model and ovserve in BENCH_MODELS / BENCH_SERVERS"
    return None


def run_pairs(
    rep: Report,
    spec: ModelSpec,
    files: dict[str, Path],
    good: dict[str, list[str]],
    servers: dict[str, RunningServer],
) -> PairResults:
    """Every pair at every c for BENCH_ROUNDS rounds; ``good``: the protocols each server answered right."""
    s = rep.settings
    pinned = s.pinned(spec.name)
    results: PairResults = {}
    for index, pair in enumerate(PAIRS):
        if any(p not in good.get(name, []) for name, p in (pair.a, pair.b)):
            continue
        for c in COUNTS:
            rounds = results.setdefault((index, c), [])
            for i in range(s.rounds):
                order = (pair.a, pair.b) if i % 2 == 0 else (pair.b, pair.a)
                got = {}
                for name, protocol in order:
                    got[(name, protocol)] = run_case(
                        s, servers[name], spec, protocol, c, files, pinned, s.pair_seconds, warmup=1
                    )
                rounds.append((got[pair.a], got[pair.b]))
    return results


def start_all(
    rep: Report, kinds: dict[str, ServerKind], spec: ModelSpec, base: Path, stack: contextlib.ExitStack
) -> dict[str, RunningServer]:
    """ovserve and the two floors, all started (pinned like the tiny model's cases) and ready."""
    s = rep.settings
    servers = {}
    for name in ("ovserve", FLOOR_ASGI, FLOOR_GRPC):
        server = RunningServer(kinds[name], s, spec, base, s.pinned(spec.name), "-interleaved")
        stack.callback(server.stop)
        servers[name] = server
    for server in servers.values():
        server.wait_ready(spec.name)
    return servers


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def section(
    rep: Report, kinds: dict[str, ServerKind], results: PairResults, why_not: str | None
) -> list[str]:
    lines = ["", "## ovserve against the limits of a Python server (interleaved)", ""]
    if why_not:
        return [*lines, f"Not run ({why_not})."]
    s = rep.settings
    lines += [
        f"Tiny model, pinned like its main cases. Per pair and c, A and B in turn for {s.rounds} rounds "
        f"(1 s warm-up and {s.pair_seconds} s measured per turn, the order alternating); the columns give the "
        "medians of A's and B's req/s · p50 · p99, then the **median of the per-round ratios** A ÷ B of req/s "
        "(min–max over the rounds) and the median of the per-round p50 differences A − B: drift of the "
        "machine between rounds cancels out of both. B ÷ A CPU per request (the servers' own CPU seconds per "
        "answer, median of the rounds) is the cost ratio, which holds even when other processes take CPU from "
        "both; the verdict is on req/s and p50 as the targets are set.",
        "",
        "| A | B | c | rounds | A | B | A ÷ B req/s (min–max) | A − B p50 µs | B ÷ A CPU per request | target | "
        "verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (index, c), rounds in sorted(results.items()):
        lines.append(_row(kinds, PAIRS[index], c, rounds))
    return lines


@dataclass
class Summary:
    """One pair at one c over its rounds: medians and the verdict."""

    rounds: int
    ratios: list[float]
    ratio: float
    delta_us: float
    target: str
    met: bool
    a: dict
    b: dict
    #: median per round of B's server CPU per request ÷ A's (1 = the same cost; holds on a busy machine)
    cpu_ratio: float

    @property
    def verdict(self) -> str:
        return ("**met**" if self.met else "**not met**") if self.rounds else "not measured"


def summarize(pair: Pair, c: int, rounds: list[tuple[dict, dict]]) -> Summary:
    ok = [(a, b) for a, b in rounds if a.get("rps") and b.get("rps")]
    ratios = [a["rps"] / b["rps"] for a, b in ok]
    ratio, delta = _median(ratios), _median([a["p50_us"] - b["p50_us"] for a, b in ok])

    def med(side: int) -> dict:
        keys = ("rps", "p50_us", "p99_us")
        return {k: _median([r[side][k] for r in ok]) for k in keys} | {"requests": len(ok)}

    if c == 1 and pair.want_p50_us is not None:
        target, met = f"p50 within {pair.want_p50_us:g} µs", delta <= pair.want_p50_us
    else:
        target, met = f"≥ {pair.want_ratio:g}×", ratio >= pair.want_ratio
    cpu_ratio = _median([_cpu_per_request(b) / _cpu_per_request(a) for a, b in ok])
    return Summary(len(ok), ratios, ratio, delta, target, met, med(0), med(1), cpu_ratio)


def _cpu_per_request(r: dict) -> float:
    """The server's CPU seconds per request answered in a measured window."""
    return float(r["server_cpu"] * r["seconds"] / max(r["requests"], 1))


def _side(kinds: dict[str, ServerKind], side: tuple[str, str]) -> str:
    """A pair's side as the report names it: the server's label and the API."""
    return f"{kinds[side[0]].label} {LABEL[side[1]]}"


def verdicts(kinds: dict[str, ServerKind], results: PairResults) -> list[str]:
    """One line per pair and c, for the report's list of targets."""
    out = []
    for (index, c), rounds in sorted(results.items()):
        pair, got = PAIRS[index], summarize(PAIRS[index], c, rounds)
        title = f"{_side(kinds, pair.a)} ÷ {_side(kinds, pair.b)}"
        out.append(
            f"- tiny, c={c}, {title}: {got.ratio:.2f}× req/s, p50 {got.delta_us:+.0f} µs, "
            f"{got.cpu_ratio:.2f}× by CPU per request "
            f"(median of {got.rounds} interleaved rounds; target {got.target}): {got.verdict}"
        )
    return out


def _row(kinds: dict[str, ServerKind], pair: Pair, c: int, rounds: list[tuple[dict, dict]]) -> str:
    got = summarize(pair, c, rounds)
    spread = f"{min(got.ratios):.2f}–{max(got.ratios):.2f}" if got.ratios else "—"
    a, b = (cell(got.a), cell(got.b)) if got.rounds else ("—", "—")
    return (
        f"| {_side(kinds, pair.a)} | {_side(kinds, pair.b)} | {c} | {got.rounds} | {a} | {b} | {got.ratio:.2f}× ({spread}) | "
        f"{got.delta_us:+.0f} | {got.cpu_ratio:.2f}× | {got.target} | {got.verdict} |"
    )
