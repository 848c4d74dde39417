"""What a second worker process costs in memory for a ResNet-50-shaped model (issue 16).

Starts ovserve on the ResNet-50-shaped model of bench/models.py twice, unpinned, with the
benchmark's plugin config: one process, then ``--rest_workers 2`` (a supervisor and two
workers). After a few inferences it reads every server process's ``/proc/<pid>/smaps`` and
sums it by kind of mapping (the model's ``.bin``, shared libraries, anonymous memory, the rest)
into Rss, Pss, Shared and Private. Prints a Markdown report and writes it to
``bench/results/<date>-<cpu>-worker-rss.md`` (``BENCH_OUT`` elsewhere). Little CPU: two model
loads and a dozen inferences.

    .venv/bin/python bench/worker_rss.py
"""

from __future__ import annotations

import datetime
import os
import sys
import time
import urllib.request
from pathlib import Path

import models
from kinds import OVSERVE_W2, server_kinds
from plan import BENCH, WORK, Settings
from report_notes import machine, slug
from servers import RunningServer

FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty")
#: the line each serving process logs once it has loaded the model
AVAILABLE = "model resnet50 version 1: AVAILABLE"


def _kind_of(path: str) -> str:
    if path.endswith(".bin"):
        return "model .bin (file)"
    if ".so" in path:
        return "shared libraries"
    if path in ("", "[heap]") or path.startswith("[anon"):
        return "anonymous (heap, arenas)"
    return "other (stacks, files)"


def smaps(pid: int) -> dict[str, dict[str, int]]:
    """kB per field of FIELDS, by kind of mapping, from /proc/<pid>/smaps."""
    by: dict[str, dict[str, int]] = {}
    current = by.setdefault("other (stacks, files)", dict.fromkeys(FIELDS, 0))
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if not head:
            continue
        if "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
            path = head[5] if len(head) > 5 else ""
            current = by.setdefault(_kind_of(path), dict.fromkeys(FIELDS, 0))
        elif head[0].rstrip(":") in FIELDS:
            current[head[0].rstrip(":")] += int(head[1])
    return by


def _infer(port: int, files: dict[str, Path], times: int) -> None:
    body = files["v2_binary"]
    hlen = body.with_name(body.name + ".hlen").read_text()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": hlen}
    for _ in range(times):  # a new connection each: with two workers, both get some
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v2/models/resnet50/infer", data=body.read_bytes(), headers=headers
        )
        with urllib.request.urlopen(request, timeout=120) as r:
            r.read()


def _until_all_loaded(server: RunningServer, timeout: float = 300) -> None:
    """Until every serving process has logged the model AVAILABLE: a ready answer comes from one
    worker, and the other may still be loading. (Not by the .bin's mapping: ovserve reads the
    weights into memory, ``ENABLE_MMAP`` off, so no process maps the file.)"""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        tree = server.tree()
        serving = len(tree) if len(tree) == 1 else len(tree) - 1  # the supervisor serves nothing
        if server.log_path.read_text(errors="replace").count(AVAILABLE) >= serving:
            return
        time.sleep(0.5)
    raise RuntimeError(f"not every worker loaded the model within {timeout:.0f} s")


def measure(kind_name: str, s: Settings, base: Path, files: dict[str, Path]) -> dict[int, dict]:
    """pid -> (role, smaps by kind) for every process of the server's tree."""
    kind = server_kinds(s)[kind_name]
    server = RunningServer(kind, s, models.RESNET, base, pinned=False, log_tag="-rss")
    try:
        server.wait_ready("resnet50")
        _until_all_loaded(server)
        _infer(kind.rest_port, files, 12)
        tree = server.tree()
        out = {}
        for pid in sorted(tree):
            role = "server" if len(tree) == 1 else ("supervisor" if pid == server.proc.pid else "worker")
            out[pid] = {"role": role, "smaps": smaps(pid)}
        return out
    finally:
        server.stop()


def _mb(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def table(title: str, procs: dict[int, dict]) -> list[str]:
    lines = [f"### {title}", "", "| process | mapping | " + " | ".join(f"{f} MB" for f in FIELDS) + " |"]
    lines.append("|" + "|".join(["---"] * (len(FIELDS) + 2)) + "|")
    for pid, p in procs.items():
        total = dict.fromkeys(FIELDS, 0)
        for kind, values in sorted(p["smaps"].items()):
            lines.append(
                f"| {p['role']} {pid} | {kind} | " + " | ".join(_mb(values[f]) for f in FIELDS) + " |"
            )
            for f in FIELDS:
                total[f] += values[f]
        lines.append(
            f"| {p['role']} {pid} | **all** | " + " | ".join(f"**{_mb(total[f])}**" for f in FIELDS) + " |"
        )
    return [*lines, ""]


def _total(p: dict, field: str) -> int:
    return sum(v[field] for v in p["smaps"].values())


def summary(one: dict[int, dict], two: dict[int, dict]) -> list[str]:
    single = next(iter(one.values()))
    workers = [p for p in two.values() if p["role"] == "worker"]
    if len(workers) != 2:
        return [f"- expected 2 workers, found {len(workers)}"]
    rss1 = _total(single, "Rss")
    second = workers[1]
    private = _total(second, "Private_Clean") + _total(second, "Private_Dirty")
    pss_two = sum(_total(p, "Pss") for p in two.values())
    return [
        f"- One process: Rss {_mb(rss1)} MB, Pss {_mb(_total(single, 'Pss'))} MB.",
        f"- Two workers: the whole tree's Pss {_mb(pss_two)} MB (supervisor included), "
        f"{pss_two / max(_total(single, 'Pss'), 1):.2f}× the one process's.",
        f"- The second worker's own memory (Private_Clean + Private_Dirty, what it shares with no other "
        f"process): {_mb(private)} MB = **{private / max(rss1, 1):.0%} of the one process's Rss** "
        "(issue 16's target: at most 30%).",
    ]


def main() -> int:
    os.environ.setdefault("BENCH_QUICK", "1")
    s = Settings.from_env()
    WORK.mkdir(parents=True, exist_ok=True)
    bases = models.build(WORK)
    files = models.write_payloads(models.RESNET, models.sample_input(models.RESNET), WORK / "payloads")
    one = measure("ovserve", s, bases["resnet50"], files)
    two = measure(OVSERVE_W2, s, bases["resnet50"], files)
    m = machine()
    date = datetime.date.today().isoformat()
    lines = [f"# Second-worker memory, ResNet-50-shaped model, {date}: {m['model']}", ""]
    lines += [
        "Made by bench/worker_rss.py: ovserve with default flags, then `--rest_workers 2`, plugin config "
        f"`{s.plugin_config}`, each after 12 inferences (REST binary, a new connection each); sums of "
        "/proc/<pid>/smaps by kind of mapping.",
        "",
    ]
    lines += [*summary(one, two), ""]
    lines += table("One process", one) + table("`--rest_workers 2`", two)
    text = "\n".join(lines)
    path = s.out or BENCH / "results" / f"{date}-{slug(m['model'])}-worker-rss.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
