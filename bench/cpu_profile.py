"""Where a server's CPU goes on the tiny model: CPU per request, `perf` by shared object, `py-spy`
by Python function (issue 16: "profile with py-spy and perf").

For each ``server:protocol`` given (default: ovserve and the front-end floors on KServe REST JSON
and gRPC), starts the server pinned to the server core, loads it at c=8 from the generator core
(wrk / h2load, as `make bench`), and while the load runs records its CPU time, a `perf record`
(cpu-clock, by DSO) and a `py-spy record` (on-CPU samples, by function, self time). CPU per
request is a figure that holds on a shared machine better than req/s: it counts the server's own
CPU seconds, not the wall time others take. Needs perf and bench/.envs/tools/bin/py-spy
(bench/setup.sh). Prints Markdown.

    .venv/bin/python bench/cpu_profile.py [ovserve:v2_grpc floor_grpc:v2_grpc ...] [--seconds 8]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import models
from kinds import server_kinds
from loadgen import loader
from plan import ENVS, LABEL, WORK, Settings
from servers import RunningServer

#: the entry points, on every stack: left out of the inclusive list
ROOTS = {
    "<module> (ovserve/__main__.py)",
    "main (ovserve/__main__.py)",
    "run (ovserve/app/server.py)",
    "main (asgi_app.py)",
    "<module> (asgi_app.py)",
    "main (grpc_handler.py)",
    "<module> (grpc_handler.py)",
}
#: file names of the servers' own code (py-spy shows the floors' files without their folder)
OWN_CODE = ("ovserve/", "asgi_app.py", "grpc_handler.py", "ovcall.py")
DEFAULT = ("ovserve:v2_json", "floor_asgi:v2_json", "ovserve:v2_grpc", "floor_grpc:v2_grpc")


def perf_by_dso(pids: list[int], seconds: int) -> list[tuple[str, float]]:
    if shutil.which("perf") is None:
        time.sleep(seconds)
        return [("perf is not installed (Debian linux-perf): no profile by shared object", 0.0)]
    data = WORK / f"perf-{os.getpid()}.data"
    argv = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-o", str(data)]
    subprocess.run([*argv, "-p", ",".join(map(str, pids)), "--", "sleep", str(seconds)], capture_output=True)
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--sort", "dso", "--percent-limit", "1"],
        capture_output=True,
        text=True,
    ).stdout
    data.unlink(missing_ok=True)
    rows = []
    for line in report.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith("%") and not line.startswith("#"):
            rows.append((" ".join(parts[1:]), float(parts[0].rstrip("%"))))
    return rows


def pyspy_by_function(
    pid: int, seconds: int, top: int = 12
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Self and inclusive time by Python function (C code shows as the Python frame that called it)."""
    if not (ENVS / "tools/bin/py-spy").exists():
        time.sleep(seconds)
        return [("py-spy is not installed (bench/setup.sh builds bench/.envs/tools)", 0.0)], []
    raw = WORK / f"pyspy-{os.getpid()}.txt"
    argv = [str(ENVS / "tools/bin/py-spy"), "record", "-p", str(pid), "-d", str(seconds), "-r", "250"]
    subprocess.run([*argv, "--format", "raw", "-o", str(raw), "--nonblocking"], capture_output=True)
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        self_time[frames[-1]] += int(count)
        # the server's own code, by function (line numbers dropped)
        own = {re.sub(r":\d+\)$", ")", f) for f in frames if any(m in f for m in OWN_CODE)}
        for frame in own - ROOTS:
            inclusive[frame] += int(count)
        total += int(count)
    raw.unlink(missing_ok=True)
    if not total:
        return [], []
    return (
        [(name, 100.0 * n / total) for name, n in self_time.most_common(top)],
        [(name, 100.0 * n / total) for name, n in inclusive.most_common(top)],
    )


def profile(s: Settings, model: str, name: str, protocol: str, seconds: int) -> list[str]:
    spec = models.SPECS[model]
    bases = models.build(WORK)
    files = models.write_payloads(spec, models.sample_input(spec), WORK / "payloads")
    pinned = s.pinned(model)
    server = RunningServer(server_kinds(s)[name], s, spec, bases[model], pinned, log_tag="-profile")
    try:
        server.wait_ready(model)
        load = loader(s, server.kind, spec, protocol, 8, files, pinned)
        load(1)  # warm-up
        result: dict = {}
        thread = threading.Thread(target=lambda: result.update(load(3 * seconds + 4)))
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        thread.start()
        time.sleep(1)
        pids = list(server.tree())
        dso = perf_by_dso(pids, seconds)
        self_time, inclusive = pyspy_by_function(server.proc.pid, seconds)  # one-process servers only
        thread.join()
        cpu = server.cpu_seconds() - cpu0
        wall = time.monotonic() - t0
    finally:
        server.stop()
    per_request = 1e6 * cpu / max(result.get("requests", 0), 1)
    lines = [
        f"### {model}: {server.kind.label}, {LABEL[protocol]}, c=8" + (" (pinned)" if pinned else ""),
        "",
    ]
    lines.append(
        f"{result.get('rps', 0):,.0f} req/s over the run; server CPU {cpu / wall:.2f} cores → "
        f"**{per_request:,.0f} µs of server CPU per request**."
    )
    lines += ["", "perf (cpu-clock), by shared object:", ""]
    lines += [f"- {pct:.1f}% {dso_name}" for dso_name, pct in dso]
    lines += ["", "py-spy (on-CPU samples; C code counts as the Python frame that called it), self time:", ""]
    lines += [f"- {pct:.1f}% `{fn}`" for fn, pct in self_time]
    lines += [
        "",
        "py-spy, inclusive time of the server's own functions (with what they called):",
        "",
    ]
    lines += [f"- {pct:.1f}% `{fn}`" for fn, pct in inclusive]
    return [*lines, ""]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cases", nargs="*", default=list(DEFAULT), help="server:protocol")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--model", default="tiny", choices=sorted(models.SPECS))
    args = parser.parse_args()
    s = Settings.from_env()
    WORK.mkdir(parents=True, exist_ok=True)
    lines = [f"## Profiles, {args.model} model, c=8 (load average before: {os.getloadavg()[0]:.1f})", ""]
    for case in args.cases:
        name, protocol = case.split(":")
        lines += profile(s, args.model, name, protocol, args.seconds)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
