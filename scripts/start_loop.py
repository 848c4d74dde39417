"""Start ovserve on a 10-model config.json many times, under disk, memory and CPU pressure.

Usage (from the repository root)::

    .venv/bin/python scripts/start_loop.py [--starts 50] [--stall 30] [--limit 120]
        [--stress] [--out bench/results/<date>-start-loop.md]

Each start runs ovserve from its CLI on 127.0.0.1 and waits until every model version is
AVAILABLE (TF Serving status) and the server is ready. A start that takes longer than
``--stall`` seconds gets a ``py-spy dump`` of the server (every thread's Python stack, plus
native frames) written next to the report; a start is given up after ``--limit`` seconds.
The server is stopped by its PID after each start.

``--stress`` runs ``stress-ng --hdd 1 --vm 1 --vm-bytes 25% --cpu 2`` (Debian ``stress-ng``)
for the whole loop and ends it by its PID. Bounded: at most ``starts * limit`` seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import models  # noqa: E402  (tests/models.py)
from serverproc import ServerProcess  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"


def build(root: Path) -> Path:
    """Ten models, two of them with two versions served (policy: all), and their config.json."""
    bases = {
        "first": models.save(models.small_cnn(seed=1), root / "first", (1, 2)),
        "cnn": models.save(models.small_cnn(), root / "cnn"),
        "tiny": models.save(models.add_scaled((-1, 10)), root / "tiny"),
        "div32": models.save(models.div32(), root / "div32"),
        "classifier": models.save(models.pooled_classifier(), root / "classifier"),
        "multi_io": models.save(models.multi_io(), root / "multi_io"),
        "strings": models.save(models.string_identity(), root / "strings"),
        "bf16": models.save(models.bf16_scale(), root / "bf16"),
        "slow": models.save(models.slow(256, 16), root / "slow", (1, 2)),
        "text": models.save(models.text_rows(), root / "text"),
    }
    entries = []
    for name, base in bases.items():
        config: dict[str, object] = {"name": name, "base_path": str(base), "plugin_config": dict(models.F32)}
        if name in ("first", "slow"):
            config["model_version_policy"] = {"all": {}}
        entries.append({"config": config})
    path = root / "config.json"
    path.write_text(json.dumps({"model_config_list": entries}, indent=1))
    return path


def all_available(server: ServerProcess, names: list[str]) -> bool:
    try:
        with urllib.request.urlopen(f"{server.rest_url}/v2/health/ready", timeout=2) as answer:
            if answer.status != 200:
                return False
        for name in names:
            with urllib.request.urlopen(f"{server.rest_url}/v1/models/{name}", timeout=2) as answer:
                body = json.loads(answer.read())
            if any(s["state"] != "AVAILABLE" for s in body["model_version_status"]):
                return False
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, KeyError):
        return False


def dump(pid: int, path: Path) -> None:
    done = subprocess.run(
        [str(PY_SPY), "dump", "--native", "--pid", str(pid)], capture_output=True, text=True
    )
    path.write_text(done.stdout + done.stderr)


def one_start(
    config: Path, names: list[str], work: Path, i: int, stall: float, limit: float
) -> dict[str, object]:
    server = ServerProcess(["--config_path", str(config)], work / f"start-{i}.log")
    started = time.monotonic()
    server.start_process()
    assert server.process is not None
    dumped = ""
    ready = None
    try:
        while (elapsed := time.monotonic() - started) < limit:
            if all_available(server, names):
                ready = elapsed
                break
            if elapsed > stall and not dumped:
                dumped = str(work / f"stall-{i}.txt")
                dump(server.process.pid, Path(dumped))
            time.sleep(0.1)
    finally:
        code = server.stop()
    if ready is None and not dumped:
        dumped = "(exited before a dump)"
    return {
        "start": i,
        "ready_s": ready,
        "stalled": ready is None or ready > stall,
        "dump": dumped,
        "exit": code,
    }


def start_stress(seconds: float) -> subprocess.Popen[bytes]:
    command = ["stress-ng", "--hdd", "1", "--vm", "1", "--vm-bytes", "25%", "--cpu", "2"]
    command += ["--timeout", f"{int(seconds)}s", "--temp-path", "/tmp"]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def report(results: list[dict[str, object]], stress: bool, out: Path) -> str:
    times = [float(r["ready_s"]) for r in results if r["ready_s"] is not None]  # type: ignore[arg-type]
    stalled = [r for r in results if r["stalled"]]
    lines = [
        f"# Start loop ({datetime.date.today()})",
        "",
        f"scripts/start_loop.py: {len(results)} starts of a 10-model config.json (12 versions)"
        + (", under stress-ng --hdd 1 --vm 1 --vm-bytes 25% --cpu 2" if stress else ", no added stress"),
        f"on {os.cpu_count()} CPUs (load average at the end: {os.getloadavg()[0]:.2f}).",
        "",
        f"- all versions AVAILABLE: {len(times)} of {len(results)} starts",
        f"- seconds to ready: median {statistics.median(times):.2f}, max {max(times):.2f}"
        if times
        else "- none ready",
        f"- stalled (past the threshold): {len(stalled)}",
    ]
    lines += [f"  - start {r['start']}: ready {r['ready_s']}, dump {r['dump']}" for r in stalled]
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(text + "\n")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--stall", type=float, default=30.0)
    parser.add_argument("--limit", type=float, default=120.0)
    parser.add_argument("--stress", action="store_true")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "start-loop")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / f"{datetime.date.today()}-start-loop.md"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups: server and stress-ng
    args.work.mkdir(parents=True, exist_ok=True)
    config = build(args.work / "models")
    names = [e["config"]["name"] for e in json.loads(config.read_text())["model_config_list"]]
    stress = start_stress(args.starts * args.limit) if args.stress else None
    results = []
    try:
        for i in range(args.starts):
            results.append(one_start(config, names, args.work, i, args.stall, args.limit))
            print(results[-1], flush=True)
    finally:
        if stress is not None:
            os.killpg(stress.pid, signal.SIGKILL)
            stress.wait(30)
    print(report(results, args.stress, args.out))
    return 1 if any(r["stalled"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
