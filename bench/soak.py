"""Soak: hours-long behaviour in minutes. Memory, file descriptors and threads must end flat.

Usage (from the repository root)::

    .venv/bin/python bench/soak.py [--minutes 30] [--out bench/results] [--no-plot]

``make soak`` runs 30 minutes (not in CI); ``tests/integration/test_soak.py`` runs 2 minutes
in ``make test`` and asserts the same verdicts (flat, zero failed good requests), never
timings.

One ovserve (its CLI, 127.0.0.1 only) serves, from config.json with polling every second:
``tiny`` (y = 2x + 1), ``cnn`` (a small CNN), ``div32`` (needs H and W divisible by 32),
``churn`` (unloaded and loaded again through the repository API every cycle) and
``extra`` (added to and removed from config.json every other cycle). Two REST and two
gRPC clients (tritonclient) send good requests (answers compared with in-process
OpenVINO), bad ones (50x50 and a zero batch to ``div32``, an unknown model, a wrong
datatype: each must get its 4xx / gRPC status) and requests to the churning models.

Every few seconds the server's VmRSS, open file descriptors and threads are recorded
(/proc). Verdicts: no failed good, bad or control call, and each resource's median over
the last window within 10% of its median over the window right after the warm-up.
Writes ``<date>-soak.md``, ``.csv`` and (matplotlib) ``.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))  # before bench/: its models.py is another module
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))

import models  # noqa: E402  (tests/models.py: the opset-API test models)
from serverproc import ServerProcess  # noqa: E402
from soak_traffic import Call, Tally, control, traffic, write_config  # noqa: E402

RESOURCES = ("rss_mib", "fds", "threads")
FLAT = 0.10


@dataclass
class Soak:
    seconds: float
    samples: list[dict[str, float]] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    verdicts: dict[str, dict[str, float]] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [k for k in self.tally.counts if k.endswith("failed")]

    @property
    def flat(self) -> bool:
        return all(v["growth"] <= FLAT for v in self.verdicts.values())


def build(work: Path) -> tuple[dict[str, dict[str, Any]], list[Call]]:
    """The models (IR under ``work``), their config entries and the calls, with expected answers."""
    f32 = dict(models.F32)
    bases = {
        "tiny": models.save(models.add_scaled((-1, 4)), work / "tiny"),
        "cnn": models.save(models.small_cnn(), work / "cnn"),
        "div32": models.save(models.div32(), work / "div32"),
        "churn": models.save(models.add_scaled((-1, 4), scale=3.0), work / "churn"),
        "extra": models.save(models.add_scaled((-1, 4), scale=5.0), work / "extra"),
    }
    entries = {n: {"base_path": str(b), "plugin_config": f32} for n, b in bases.items()}
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    image = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    tile = rng.uniform(0, 1, (1, 3, 64, 32)).astype(np.float32)

    def ref(name: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
        result = models.reference(models.model_file(bases[name]), arrays)
        return next(iter(result.values()))

    calls = [
        Call("good", "tiny", x, ref("tiny", {"x": x})),
        Call("good", "cnn", image, ref("cnn", {"image": image}), name="image", out="probs"),
        Call("good", "div32", tile, ref("div32", {"image": tile}), name="image"),
        Call(
            "bad",
            "div32",
            np.ones((1, 3, 50, 50), np.float32),
            name="image",
            expect=("400", "INVALID_ARGUMENT"),
        ),
        Call(
            "bad",
            "div32",
            np.ones((0, 3, 64, 64), np.float32),
            name="image",
            expect=("400", "INVALID_ARGUMENT"),
        ),
        Call("bad", "no_such_model", x, expect=("404", "NOT_FOUND")),
        Call("bad", "tiny", x.astype(np.int32), dtype="INT32", expect=("400", "INVALID_ARGUMENT")),
        Call("churn", "churn", x, ref("churn", {"x": x})),
        Call("churn", "extra", x, ref("extra", {"x": x})),
    ]
    return entries, calls


def sample(pid: int, started: float, tally: Tally) -> dict[str, float]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    with tally.lock:
        good = tally.counts["good ok"]
    return {
        "t": round(time.monotonic() - started, 2),
        "rss_mib": int(status["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"]),
        "good_ok": good,
        "load1": os.getloadavg()[0],
    }


def judge(soak: Soak) -> None:
    """Median of each resource right after the warm-up against its median at the end."""
    warmup = max(20.0, soak.seconds * 0.2)
    window = max(15.0, soak.seconds * 0.1)
    early = [s for s in soak.samples if warmup <= s["t"] < warmup + window]
    late = [s for s in soak.samples if s["t"] >= soak.samples[-1]["t"] - window]
    for key in RESOURCES:
        base = statistics.median(s[key] for s in early)
        end = statistics.median(s[key] for s in late)
        soak.verdicts[key] = {"after_warmup": base, "end": end, "growth": (end - base) / base}


def run(
    seconds: float, work: Path, period: float = 6.0, sample_every: float = 2.0, pause: float = 0.01
) -> Soak:
    """Serve, drive and sample for ``seconds``; the server is stopped (by its PID) at the end."""
    work.mkdir(parents=True, exist_ok=True)
    entries, calls = build(work / "models")
    toggled = ("extra", entries.pop("extra"))
    config = work / "config.json"
    write_config(config, entries)
    server = ServerProcess(
        ["--config_path", str(config), "--file_system_poll_wait_seconds", "1"], work / "ovserve.log"
    ).start(120)
    soak = Soak(seconds)
    stop = threading.Event()
    assert server.process is not None
    pid = server.process.pid
    threads = [
        threading.Thread(
            target=traffic, args=(p, server.rest_port, server.grpc_port, calls, soak.tally, stop, pause)
        )
        for p in ("rest", "grpc", "rest", "grpc")
    ]
    threads.append(
        threading.Thread(
            target=control, args=(server.rest_url, config, entries, toggled, soak.tally, stop, period)
        )
    )
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        while (elapsed := time.monotonic() - started) < seconds:
            soak.samples.append(sample(pid, started, soak.tally))
            stop.wait(min(sample_every, max(seconds - elapsed, 0.01)))
        soak.samples.append(sample(pid, started, soak.tally))
    finally:
        stop.set()
        for thread in threads:
            thread.join(180)
        code = server.stop()
    if code != 0:
        soak.tally.add("server failed", f"ovserve exited with {code}")
    judge(soak)
    return soak


def report(soak: Soak, out: Path, plot: bool) -> Path:
    stamp = datetime.date.today().isoformat()
    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"{stamp}-soak.csv"
    keys = list(soak.samples[0])
    csv.write_text(
        "\n".join([",".join(keys)] + [",".join(str(s[k]) for k in keys) for s in soak.samples]) + "\n"
    )
    if plot:
        write_plot(soak, out / f"{stamp}-soak.png")
    lines = [
        f"# Soak ({stamp}, {soak.seconds / 60:g} minutes)",
        "",
        "Made by `make soak` (bench/soak.py). Samples: "
        f"`{csv.name}`; plot: `{stamp}-soak.png`. Machine: {os.cpu_count()} CPUs, load average "
        f"(1 min) during the run: median {statistics.median(s['load1'] for s in soak.samples):.2f}, "
        f"max {max(s['load1'] for s in soak.samples):.2f} (other work shared the machine).",
        "",
        "| resource | after warm-up (median) | end (median) | growth | flat (<= 10%) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, v in soak.verdicts.items():
        ok = "yes" if v["growth"] <= FLAT else "**no**"
        lines.append(
            f"| {key} | {v['after_warmup']:.1f} | {v['end']:.1f} | {v['growth'] * 100:+.1f}% | {ok} |"
        )
    lines += ["", "| outcome | calls |", "| --- | --- |"]
    lines += [f"| {k} | {n} |" for k, n in sorted(soak.tally.counts.items())]
    if soak.tally.failures:
        lines += ["", "Failures (first 20):", ""] + [f"- {f}" for f in soak.tally.failures]
    md = out / f"{stamp}-soak.md"
    md.write_text("\n".join(lines) + "\n")
    return md


def write_plot(soak: Soak, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] / 60 for s in soak.samples]
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(9, 7))
    for ax, key, label in zip(axes, RESOURCES, ("RSS (MiB)", "open fds", "threads"), strict=True):
        ax.plot(t, [s[key] for s in soak.samples], lw=1)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    fig.suptitle("ovserve soak: mixed REST/gRPC traffic, load/unload cycles, config.json edits")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--work", type=Path, default=BENCH / "work" / "soak")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    soak = run(args.minutes * 60, args.work)
    md = report(soak, args.out, not args.no_plot)
    print(md.read_text())
    return 0 if soak.flat and not soak.failed else 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["Soak", "report", "run"]
