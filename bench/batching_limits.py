"""Issue 16's batching case against its limits: dynamic batching at the highest concurrency against
OpenVINO's ``benchmark_app`` at the max batch size (the same model and plugin config, in-process,
no server), and the adaptive delay's latency at c=1 against no batching.

Used by bench/batching.py (which `make bench` runs); the lines go into its results file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from loadgen import benchmark_app, benchmark_app_fps


class Measured(Protocol):
    """One variant at one concurrency, as bench/batching.py measures it."""

    label: str
    batching: dict[str, object] | None
    concurrency: int

    @property
    def rps(self) -> float: ...

    def percentile(self, q: float) -> float: ...


def batch_fps(xml: Path, plugin: dict[str, object], batch: int, seconds: int, work: Path) -> float | None:
    """benchmark_app's throughput (images/s) with ``batch`` images per inference (None: no tool or no figure)."""
    options = ["-b", str(batch), "-t", str(seconds)]
    out = benchmark_app(xml, plugin, options, seconds + 180, work / "benchmark_app-batching.json")
    return benchmark_app_fps(out) if out is not None else None


def _default_variant(rows: Sequence[Measured]) -> Measured | None:
    """The variant with ovserve's default batching (the adaptive delay, or batching with no delay)."""
    batched = [r for r in rows if r.batching is not None]
    adaptive = [r for r in batched if r.batching and r.batching.get("adaptive_queue_delay") is True]
    plain = [r for r in batched if r.batching and "adaptive_queue_delay" not in r.batching]
    found = adaptive or plain or batched
    return found[0] if found else None


def limit_lines(
    results: Sequence[Measured], fps: dict[int, float | None], max_batch: int, target: float = 0.9
) -> list[str]:
    """The results file's section on issue 16's batching targets."""
    lines = ["", "## Against the limits (issue 16)", ""]
    one, full = fps.get(1), fps.get(max_batch)
    if one and full:
        lines.append(
            f"- benchmark_app (same model and plugin config, in-process): batch 1 {one:.1f} images/s, "
            f"batch {max_batch} {full:.1f} images/s: batches of {max_batch} run {full / one:.2f}× as fast "
            "on this CPU"
        )
    levels = sorted({r.concurrency for r in results})
    top = [r for r in results if r.concurrency == levels[-1]]
    chosen = _default_variant(top)
    if chosen is not None and full:
        ratio = chosen.rps / full
        verdict = "met" if ratio >= target else "not met"
        lines.append(
            f"- c={levels[-1]}, {chosen.label} ÷ benchmark_app batch {max_batch}: {chosen.rps:.1f} ÷ "
            f"{full:.1f} = {ratio:.2f}× (target ≥ {target}×): **{verdict}**"
        )
    elif chosen is not None:
        lines.append(f"- c={levels[-1]}: benchmark_app gave no throughput; no ratio")
    if levels[0] == 1:
        low = [r for r in results if r.concurrency == 1]
        plain = next((r for r in low if r.batching is None), None)
        chosen = _default_variant(low)
        if plain is not None and chosen is not None:
            ratio = chosen.percentile(50) / plain.percentile(50)
            verdict = "met" if ratio <= 1.05 else "not met"
            lines.append(
                f"- c=1 p50, {chosen.label} ÷ no batching: {chosen.percentile(50):.2f} ÷ "
                f"{plain.percentile(50):.2f} ms = {ratio:.2f}× (target: not worse; within 5 %): **{verdict}**"
            )
    return lines
