"""`make bench`: ovserve beside KServe, MLServer, BentoML, LitServe and Ray Serve, the limits of a
Python server (a raw ASGI app, a bare grpc.aio handler) and the in-process floor, on 127.0.0.1.

Runs with ovserve's .venv (it has OpenVINO, numpy, grpcio, tritonclient and ovmsclient for
the payloads and the answer checks). bench/setup.sh must have built bench/.envs first.
One server process runs at a time; each is started, checked against in-process OpenVINO
on every protocol it speaks, loaded case by case, and stopped. See bench/README.md.

Environment knobs (all optional):
  BENCH_SECONDS=6        measured seconds per case (integer)
  BENCH_WARMUP=2         warm-up seconds per case, not measured (integer, 0 = none)
  BENCH_QUICK=1          smoke run (~2 min): 2 s cases, fewer of them, result in bench/work/
  BENCH_SERVERS=ovserve,kserve,mlserver,bentoml,litserve,rayserve
  BENCH_MODELS=tiny,cnn,resnet50
  BENCH_PIN=auto         auto: pin the tiny model's cases (server core 1, generator core 0);
                         none: never pin; all: pin every case
  BENCH_SERVER_CPUS=1  BENCH_CLIENT_CPUS=0
  BENCH_PLUGIN_CONFIG='{"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}'
  BENCH_OVSERVE_ARGS='--rest_workers 2'   extra ovserve flags
  BENCH_BOTH_CORES=1     after the main cases, the tiny model's v2 cases again with nothing pinned:
                         ovserve, ovserve --rest_workers 2, KServe, MLServer (0 = skip)
  BENCH_PAIRS=1          the interleaved phase: ovserve and the front-end floors in turn (0 = skip)
  BENCH_ROUNDS=5  BENCH_PAIR_SECONDS=3   its rounds and measured seconds per turn (2 and 1 quick)
  BENCH_QUIET_WAIT=20    before each measured run, wait up to this long for other processes to go idle
  BENCH_QUIET_BUDGET=240 ... and no longer than this in all (30 with BENCH_QUICK)
  BENCH_CASES=v2_grpc,v2_json:8,*:64   only these cases (protocol, protocol:c or *:c)
  BENCH_PORT_BASE=18100  BENCH_OUT=path.md
"""

from __future__ import annotations

import contextlib
import datetime
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import interleave
import models
import numpy as np
from checks import check_answers
from fmt import cell
from kinds import FLOOR_ASGI, FLOOR_GRPC, OVSERVE_W2, OWN_API_PEERS, both_servers, server_kinds
from loadgen import run_benchmark_app, run_case, run_floor, window
from models import ModelSpec
from plan import LABEL, ROOT, WORK, Phase, Report, Settings
from report import write_report
from report_notes import slug
from servers import RunningServer, ServerKind


def _log(t_start: float, text: str) -> None:
    print(f"[bench {time.monotonic() - t_start:6.1f}s] {text}", flush=True)


def measure_server(
    rep: Report,
    kind: ServerKind,
    spec: ModelSpec,
    base: Path,
    files: dict[str, Path],
    expected: np.ndarray,
    phase: Phase | None = None,
) -> None:
    """Start ``kind`` on ``spec``, check its answers, run the phase's cases (default: the main
    table's, pinned as Settings.pinned says), stop it."""
    s = rep.settings
    phase = phase or Phase.main(rep, spec.name)
    pinned = phase.pinned
    prefix = f"{phase.title}: " if phase.title else ""
    say = lambda text: _log(rep.t_start, text)  # noqa: E731
    say(f"{prefix}{spec.name}: starting {kind.label}" + (" (pinned)" if pinned else ""))
    server = None
    try:
        log_tag = f"-{slug(phase.title)}" if phase.title else ""
        server = RunningServer(kind, s, spec, base, pinned, log_tag)
        server.wait_ready(spec.name)
        good = check_answers(rep, server, spec, files, expected, phase)
        say(f"  answers checked: {', '.join(LABEL[p] for p in good) or 'none right'}")
        for protocol, c in phase.plan:
            if protocol not in good:
                continue
            seconds = window(s, rep.floors.get(spec.name, {}).get(c), c)
            try:
                r = run_case(s, server, spec, protocol, c, files, pinned, seconds)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, RuntimeError, OSError) as exc:
                r = {"skip": f"generator failed: {str(exc)[:80]}"}
            phase.results.setdefault((spec.name, protocol, c), {})[kind.name] = r
            say(f"  {kind.label} {LABEL[protocol]} c={c}: {cell(r)}")
            if server.proc.poll() is not None:
                raise RuntimeError(f"{kind.label} exited: {server.log_tail()}")
    except (RuntimeError, OSError) as exc:
        say(f"{prefix}{kind.label} on {spec.name}: {exc}")
        rep.checks.append(
            f"{prefix}{kind.label}, {spec.name}: **server failed**: {str(exc).splitlines()[0][:200]}"
        )
    finally:
        if server is not None:
            server.stop()


@dataclass
class Prepared:
    """What every phase reads: each model's directory, request bodies, input file and right answer."""

    bases: dict[str, Path]
    files: dict[str, dict[str, Path]] = field(default_factory=dict)
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: dict[str, Path] = field(default_factory=dict)


def validate(s: Settings, kinds: dict[str, ServerKind]) -> None:
    for name in s.servers:
        if name not in kinds or name in (OVSERVE_W2, FLOOR_ASGI, FLOOR_GRPC):
            known = ", ".join(k for k in kinds if k not in (OVSERVE_W2, FLOOR_ASGI, FLOOR_GRPC))
            raise SystemExit(
                f"BENCH_SERVERS: unknown server {name!r} (known: {known}; {OVSERVE_W2} runs in the "
                "both-cores phase when ovserve is listed)"
            )
    for name in s.models:
        if name not in models.SPECS:
            raise SystemExit(f"BENCH_MODELS: unknown model {name!r} (known: {', '.join(models.SPECS)})")


def prepare(s: Settings) -> Prepared:
    """Build the models, write the payloads, compute each model's answer in-process."""
    import openvino as ov

    prep = Prepared(models.build(WORK))
    core = ov.Core()
    for name in s.models:
        spec = models.SPECS[name]
        x = models.sample_input(spec)
        prep.files[name] = models.write_payloads(spec, x, WORK / "payloads")
        prep.inputs[name] = WORK / "payloads" / f"{name}.npy"
        np.save(prep.inputs[name], x)
        compiled = core.compile_model(str(prep.bases[name] / spec.xml), "CPU", s.plugin_config)
        prep.expected[name] = compiled.create_infer_request().infer({0: x})[0].copy()
        del compiled
    return prep


def in_process(rep: Report, prep: Prepared) -> None:
    s = rep.settings
    for name in s.models:
        spec = models.SPECS[name]
        xml = prep.bases[name] / spec.xml
        if s.floor_concurrency(name):  # none when BENCH_CASES selects none of the model's cases
            _log(rep.t_start, f"{name}: in-process floor (Python loop) at c={s.floor_concurrency(name)}")
            rep.floors[name] = run_floor(s, spec, xml, prep.inputs[name], s.pinned(name))
        _log(rep.t_start, f"{name}: benchmark_app")
        rep.bapp[name] = run_benchmark_app(s, xml, s.pinned(name))


def both_cores(rep: Report, kinds: dict[str, ServerKind], prep: Prepared) -> None:
    s = rep.settings
    skipped = s.both_skipped()
    if skipped:
        _log(rep.t_start, f"both cores, nothing pinned: not run ({skipped})")
        return
    phase = Phase.both_cores(rep)
    tiny = models.SPECS["tiny"]
    for server_name in both_servers(s):
        measure_server(
            rep,
            kinds[server_name],
            tiny,
            prep.bases["tiny"],
            prep.files["tiny"],
            prep.expected["tiny"],
            phase,
        )


def interleaved(rep: Report, kinds: dict[str, ServerKind], prep: Prepared) -> None:
    """ovserve and the front-end floors in turn (bench/interleave.py)."""
    rep.pairs_note = interleave.skipped(rep)
    if rep.pairs_note:
        _log(rep.t_start, f"interleaved phase: not run ({rep.pairs_note})")
        return
    spec = models.SPECS["tiny"]
    phase = Phase([], rep.settings.pinned("tiny"), {}, "interleaved")
    _log(rep.t_start, "interleaved phase: ovserve and the front-end floors")
    with contextlib.ExitStack() as stack:
        try:
            servers = interleave.start_all(rep, kinds, spec, prep.bases["tiny"], stack)
            good = {
                name: check_answers(rep, server, spec, prep.files["tiny"], prep.expected["tiny"], phase)
                for name, server in servers.items()
            }
            rep.pairs = interleave.run_pairs(rep, spec, prep.files["tiny"], good, servers)
        except (RuntimeError, OSError) as exc:
            rep.pairs_note = f"failed: {str(exc).splitlines()[0][:200]}"
            _log(rep.t_start, f"interleaved phase {rep.pairs_note}")


def main() -> int:
    s = Settings.from_env()
    kinds = server_kinds(s)
    validate(s, kinds)
    rep = Report(s, datetime.datetime.now(), os.getloadavg(), time.monotonic())
    WORK.mkdir(parents=True, exist_ok=True)
    _log(rep.t_start, "building models and payloads")
    prep = prepare(s)
    in_process(rep, prep)
    interleaved(rep, kinds, prep)
    for name in s.models:
        for server_name in s.servers:
            if server_name in OWN_API_PEERS and name != "tiny":
                continue  # BentoML, LitServe, Ray Serve: the tiny model only
            spec = models.SPECS[name]
            measure_server(
                rep, kinds[server_name], spec, prep.bases[name], prep.files[name], prep.expected[name]
            )
    both_cores(rep, kinds, prep)
    rep.elapsed = time.monotonic() - rep.t_start
    path = write_report(rep, kinds)
    _log(rep.t_start, f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
