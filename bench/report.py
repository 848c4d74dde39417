"""The report file: the tables (main, both cores, benchmark_app, CPU detail) and the targets,
assembled with the descriptive sections of bench/report_notes.py."""

from __future__ import annotations

from pathlib import Path

import interleave
import report_notes
from fmt import cell, fmt_ms, fmt_rps, ratio
from kinds import OVSERVE_W2, OWN_API_PEERS
from plan import BENCH, LABEL, OWN, WORK, Report, Results
from servers import ServerKind


def report_path(rep: Report, model_name: str) -> Path:
    s = rep.settings
    date = rep.started.strftime("%Y-%m-%d")
    if s.out:
        return s.out
    if s.quick:
        return WORK / f"{date}-{report_notes.slug(model_name)}-quick.md"
    return BENCH / "results" / f"{date}-{report_notes.slug(model_name)}.md"


def write_report(rep: Report, kinds: dict[str, ServerKind]) -> Path:
    m = report_notes.machine()
    path = report_path(rep, m["model"])
    lines = report_notes.intro(rep, m["model"])
    lines += main_table(rep, kinds)
    lines += peers_section(rep, kinds)
    lines += both_section(rep, kinds)
    lines += interleave.section(rep, kinds, rep.pairs, rep.pairs_note)
    lines += bapp_section(rep)
    lines += ["", "## Targets of issue 16 (this run)", "", *issue16_targets(rep, kinds)]
    lines += ["", "## Targets of issue 5 (this run)", "", *targets(rep, kinds)]
    lines += report_notes.machine_section(rep, m)
    lines += report_notes.servers_section(rep, kinds)
    lines += report_notes.generators_section(rep)
    lines += detail_section(rep, kinds)
    lines += [
        "",
        f"Run time {rep.elapsed / 60:.1f} min. Logs of the servers: bench/work/logs/ (not kept in git).",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def main_table(rep: Report, kinds: dict[str, ServerKind]) -> list[str]:
    s = rep.settings
    peers = [k for k in ("kserve", "mlserver") if k in s.servers]
    pin_text = f"srv {s.server_cpus} · gen {s.client_cpus}"
    header = ["model", "API", "c", "pinning", "ovserve"]
    header += [kinds[p].label for p in peers] + ["floor (in-process)", "ovserve ÷ floor"]
    header += [f"ovserve ÷ {kinds[p].label}" for p in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for model in s.models:
        for protocol, c in s.plan(model):
            if protocol == OWN:  # the peers' own APIs: their own table (peers_section)
                continue
            by = rep.cases.get((model, protocol, c), {})
            floor = rep.floors.get(model, {}).get(c)
            row = [model, LABEL[protocol], str(c), pin_text if s.pinned(model) else "none"]
            row.append(cell(by.get("ovserve")))
            row += [cell(by.get(p)) for p in peers]
            row.append(cell(floor))
            row.append(ratio(by.get("ovserve"), floor))
            row += [ratio(by.get("ovserve"), by.get(p)) for p in peers]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def peers_section(rep: Report, kinds: dict[str, ServerKind]) -> list[str]:
    """The Python servers users pick instead, each on its own REST JSON API, beside ovserve,
    KServe and MLServer on KServe v2 REST JSON (tiny model, pinned like its main cases)."""
    s = rep.settings
    own = [k for k in OWN_API_PEERS if k in s.servers]
    if "tiny" not in s.models or not own:
        return []
    v2 = [k for k in ("ovserve", "kserve", "mlserver") if k in s.servers]
    lines = [
        "",
        "## The Python servers users pick instead (tiny model, REST JSON)",
        "",
        "BentoML, LitServe and Ray Serve speak no KServe v2: each serves the tiny model on its own idiomatic "
        'REST JSON API (`POST /predict`, body `{"x": [[...]]}`, answer checked against in-process OpenVINO), '
        "beside ovserve, KServe and MLServer on KServe v2 REST JSON; same pinning as the main table. "
        "Ratio cells: **ovserve (v2 REST JSON) ÷ other** for req/s · p50 · p99.",
        "",
    ]
    header = ["c", *(f"{kinds[k].label} (v2 JSON)" for k in v2), *(kinds[k].label for k in own)]
    header += [f"ovserve ÷ {kinds[k].label}" for k in [*v2, *own] if k != "ovserve"]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for c in sorted({c for p, c in s.plan("tiny") if p == OWN}):
        cells = {k: rep.cases.get(("tiny", "v2_json", c), {}).get(k) for k in v2}
        cells |= {k: rep.cases.get(("tiny", OWN, c), {}).get(k) for k in own}
        row = [str(c), *(cell(cells[k]) for k in [*v2, *own])]
        row += [ratio(cells.get("ovserve"), cells[k]) for k in [*v2, *own] if k != "ovserve"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def bapp_section(rep: Report) -> list[str]:
    s = rep.settings
    lines = ["", "## In-process floor: OpenVINO's benchmark_app", ""]
    if not rep.bapp:
        return [*lines, "benchmark_app is not in .venv/bin: not measured."]
    lines += ["| model | API | infer requests | pinning | req/s | p50 ms |", "|---|---|---|---|---|---|"]
    for model, runs in rep.bapp.items():
        for api, r in runs.items():
            pin = f"core {s.server_cpus}" if s.pinned(model) else "none"
            lines.append(
                f"| {model} | {api} | {r['nireq']} | {pin} | {fmt_rps(r['rps'])} | {fmt_ms(r['p50_us'])} |"
            )
    return [*lines, "", "Same plugin config (`-load_config`), random inputs, `-t` = the case duration."]


def detail_section(rep: Report, kinds: dict[str, ServerKind]) -> list[str]:
    lines = [
        "",
        "## Detail: CPU used during each measured run (cores busy = CPU seconds ÷ wall seconds)",
        "",
        "| server | model | API | c | seconds | requests | errors | server cores busy | generator cores busy | "
        "other processes, cores busy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    detail = [(key[0], key, by) for key, by in rep.cases.items()]
    detail += [(f"{key[0]}, both cores", key, by) for key, by in rep.both.items()]
    for model, (_, protocol, c), by in detail:
        for name, r in by.items():
            if "skip" in r:
                continue
            lines.append(
                f"| {kinds[name].label} | {model} | {LABEL[protocol]} | {c} | {r['seconds']} | {r['requests']} | "
                f"{r['errors']} | "
                f"{r['server_cpu']:.2f} | {r['client_cpu']:.2f} | {r['other_cpu']:.2f} |"
            )
    return lines


def both_section(rep: Report, kinds: dict[str, ServerKind]) -> list[str]:
    """The both-cores phase's table: ovserve, ovserve ×2 and the peers, nothing pinned."""
    s = rep.settings
    lines = ["", "## Both cores, nothing pinned (tiny model)", ""]
    skipped = s.both_skipped()
    if skipped:
        return [*lines, f"Not run ({skipped}; `BENCH_BOTH_CORES=1` and the tiny model with ovserve run it)."]
    peers = [k for k in ("kserve", "mlserver") if k in s.servers]
    w2 = kinds[OVSERVE_W2].label
    lines += [
        f"The tiny model's v2 cases again with **no process pinned**, so that a server can use both cores: "
        f"ovserve with the main table's flags, **{w2}** (the same plus `--rest_workers 2`: a supervisor and 2 worker "
        "processes sharing both ports) and the peers as configured above. **The load generator shares the two "
        "cores with the server here**: the CPU it takes is CPU the server could have used, so these figures are "
        "below what the same server would reach with its generator on another machine; the detail table "
        f"shows the CPU each side used (the server's counts the supervisor and its workers). Ratio cells are "
        f"**{w2} ÷ other** for req/s · p50 · p99.",
        "",
    ]
    header = ["API", "c", "ovserve", w2, *(kinds[p].label for p in peers)]
    header += [f"{w2} ÷ {kinds[p].label}" for p in peers] + [f"{w2} ÷ ovserve"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for protocol, c in s.both_plan():
        by = rep.both.get(("tiny", protocol, c), {})
        row = [LABEL[protocol], str(c), cell(by.get("ovserve")), cell(by.get(OVSERVE_W2))]
        row += [cell(by.get(p)) for p in peers]
        row += [ratio(by.get(OVSERVE_W2), by.get(p)) for p in peers]
        row.append(ratio(by.get(OVSERVE_W2), by.get("ovserve")))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _get(results: Results, model: str, protocol: str, c: int, server: str) -> dict | None:
    r = results.get((model, protocol, c), {}).get(server)
    return None if r is None or "skip" in r else r


def _against(label: str, a: dict | None, b: dict | None, want: float) -> str:
    if not (a and b):
        return f"- {label}: not measured in this run"
    got = a["rps"] / b["rps"]
    verdict = "met" if got >= want else "not met"
    return f"- {label}: {got:.2f}× (target ≥ {want:g}×): **{verdict}**"


#: (protocol, peer, wanted ratio of req/s) at c=8 on the tiny model: issue 5's targets
PEER_TARGETS = (("v2_json", "kserve", 5), ("v2_json", "mlserver", 4), ("v2_grpc", "kserve", 3))


def targets(rep: Report, kinds: dict[str, ServerKind]) -> list[str]:
    out = []
    for results, server, tag in (
        (rep.cases, "ovserve", ""),
        (rep.both, OVSERVE_W2, " (both cores, ovserve ×2)"),
    ):
        for protocol, peer, want in PEER_TARGETS:
            out.append(
                _against(
                    f"tiny, {LABEL[protocol]}, c=8, ovserve ÷ {kinds[peer].label} req/s{tag}",
                    _get(results, "tiny", protocol, 8, server),
                    _get(results, "tiny", protocol, 8, peer),
                    want,
                )
            )
    return out + floor_targets(rep)


#: (model, c, wanted ovserve ÷ in-process AsyncInferQueue(c) req/s) of issue 16, on the binary APIs
FLOOR_TARGETS = (("cnn", 8, 0.9), ("resnet50", 4, 0.95), ("resnet50", 64, 0.95))


def issue16_targets(rep: Report, kinds: dict[str, ServerKind]) -> list[str]:
    """Real models against in-process throughput, and the interleaved pairs' verdicts."""
    out = []
    for model, c, want in FLOOR_TARGETS:
        for protocol in ("v2_grpc", "v2_binary"):
            out.append(
                _against(
                    f"{model}, {LABEL[protocol]}, c={c}, ovserve ÷ in-process AsyncInferQueue({c})",
                    _get(rep.cases, model, protocol, c, "ovserve"),
                    rep.floors.get(model, {}).get(c),
                    want,
                )
            )
    ov_json = _get(rep.cases, "tiny", "v2_json", 8, "ovserve")
    for peer in OWN_API_PEERS:
        out.append(
            _against(
                f"tiny, c=8, ovserve v2 REST JSON ÷ {kinds[peer].label} on its own REST JSON API, req/s",
                ov_json,
                _get(rep.cases, "tiny", OWN, 8, peer),
                5,
            )
        )
    return out + interleave.verdicts(kinds, rep.pairs)


def floor_targets(rep: Report) -> list[str]:
    """The targets against the in-process floor: ResNet at c=4, the tiny model's added c=1 latency."""
    best = max(
        (r for r in (_get(rep.cases, "resnet50", p, 4, "ovserve") for p in ("v2_grpc", "v2_binary")) if r),
        key=lambda r: r["rps"],
        default=None,
    )
    out = [
        _against(
            "resnet50, best of v2 gRPC / REST binary, c=4, ovserve ÷ in-process AsyncInferQueue(4)",
            best,
            rep.floors.get("resnet50", {}).get(4),
            0.95,
        )
    ]
    floor1 = rep.floors.get("tiny", {}).get(1)
    for protocol in ("v2_json", "v2_binary", "tfs_rest"):
        r = _get(rep.cases, "tiny", protocol, 1, "ovserve")
        if r and floor1:
            delta = r["p50_us"] - floor1["p50_us"]
            verdict = "met" if delta <= 150 else "not met"
            out.append(
                f"- tiny, {LABEL[protocol]}, c=1, p50 above the in-process sync call: {delta:.0f} µs "
                f"(target ≤ 150 µs): **{verdict}**"
            )
    return out
