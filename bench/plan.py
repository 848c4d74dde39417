"""`make bench`'s plan: the settings (BENCH_* environment knobs), the case plan, and the
containers the results go into (a :class:`Report`, one :class:`Phase` per server and model).

The knobs are listed at the top of bench/run.py.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
ENVS = BENCH / ".envs"
MAIN_PY = Path(sys.executable)

PROTOCOLS = ("v2_json", "v2_binary", "v2_grpc", "tfs_rest", "tfs_grpc")
LABEL = {
    "v2_json": "v2 REST JSON",
    "v2_binary": "v2 REST binary",
    "v2_grpc": "v2 gRPC",
    "tfs_rest": "TFS REST",
    "tfs_grpc": "TFS gRPC",
    "own_json": "own REST JSON API",
}
#: a server's own REST JSON API (BentoML, LitServe, Ray Serve: no KServe v2); body ``{"x": [[...]]}``
OWN = "own_json"
#: the APIs of the both-cores phase: those every server speaks
BOTH_PROTOCOLS = ("v2_json", "v2_binary", "v2_grpc")
GRPC_PATH = {
    "v2_grpc": "/inference.GRPCInferenceService/ModelInfer",
    "tfs_grpc": "/tensorflow.serving.PredictionService/Predict",
}
#: other processes busier than this many cores during a case mark it as skewed
OTHER_LOAD_FLAG = 0.25
#: results of one phase: (model, protocol, c) -> server name -> result
Results = dict[tuple[str, str, int], dict[str, dict]]
DEFAULT_PLUGIN_CONFIG = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}


# --------------------------------------------------------------------------------------------
# settings and the case plan


@dataclass
class Settings:
    seconds: int
    warmup: int
    quick: bool
    servers: list[str]
    models: list[str]
    pin: str
    server_cpus: str
    client_cpus: str
    plugin_config: dict[str, str]
    ovserve_args: list[str]
    port_base: int
    out: Path | None
    quiet_wait: float
    quiet_budget: float
    cases: list[str]
    both_cores: bool
    #: the interleaved phase (bench/interleave.py): on/off, rounds, measured seconds per turn
    pairs: bool = True
    rounds: int = 5
    pair_seconds: int = 3

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        quick = env.get("BENCH_QUICK", "") not in ("", "0")
        out = env.get("BENCH_OUT")
        return cls(
            seconds=int(env.get("BENCH_SECONDS", "2" if quick else "6")),
            warmup=int(env.get("BENCH_WARMUP", "1" if quick else "2")),
            quick=quick,
            servers=env.get("BENCH_SERVERS", "ovserve,kserve,mlserver,bentoml,litserve,rayserve").split(","),
            models=env.get("BENCH_MODELS", "tiny,cnn,resnet50").split(","),
            pin=env.get("BENCH_PIN", "auto"),
            server_cpus=env.get("BENCH_SERVER_CPUS", "1"),
            client_cpus=env.get("BENCH_CLIENT_CPUS", "0"),
            plugin_config=json.loads(env.get("BENCH_PLUGIN_CONFIG", json.dumps(DEFAULT_PLUGIN_CONFIG))),
            ovserve_args=shlex.split(env.get("BENCH_OVSERVE_ARGS", "")),
            port_base=int(env.get("BENCH_PORT_BASE", "18100")),
            out=Path(out) if out else None,
            quiet_wait=float(env.get("BENCH_QUIET_WAIT", "20")),
            quiet_budget=float(env.get("BENCH_QUIET_BUDGET", "30" if quick else "240")),
            cases=[c for c in env.get("BENCH_CASES", "").split(",") if c],
            both_cores=env.get("BENCH_BOTH_CORES", "1") not in ("", "0"),
            pairs=env.get("BENCH_PAIRS", "1") not in ("", "0"),
            rounds=int(env.get("BENCH_ROUNDS", "2" if quick else "5")),
            pair_seconds=int(env.get("BENCH_PAIR_SECONDS", "1" if quick else "3")),
        )

    def pinned(self, model: str) -> bool:
        if self.pin == "none" or (os.cpu_count() or 1) < 2:
            return False
        return self.pin == "all" or model == "tiny"

    def plan(self, model: str) -> list[tuple[str, int]]:
        """(protocol, concurrency) cases for ``model``, in the order they run, after BENCH_CASES."""
        return [(p, c) for p, c in self._plan(model) if self._wanted(p, c)]

    def _wanted(self, protocol: str, c: int) -> bool:
        if not self.cases:
            return True
        return any(w in (protocol, f"{protocol}:{c}", f"*:{c}") for w in self.cases)

    def _plan(self, model: str) -> list[tuple[str, int]]:
        if model == "cnn":  # the 1 ms model: the binary APIs, c=8 against AsyncInferQueue(8)
            return [(p, c) for c in ((8,) if self.quick else (1, 8)) for p in ("v2_binary", "v2_grpc")]
        if self.quick:
            if model == "tiny":
                return [(p, c) for c in (1, 8) for p in (*PROTOCOLS, OWN)]
            return [(p, 4) for p in ("v2_binary", "v2_grpc")]
        if model == "tiny":
            return [(p, c) for c in (1, 8, 64) for p in (*PROTOCOLS, OWN)]
        # ResNet: c=4 is the throughput target; c=64 only where it tells most
        cases = [(p, c) for c in (1, 4, 8) for p in PROTOCOLS]
        return [*cases, ("v2_binary", 64), ("v2_grpc", 64)]

    def floor_concurrency(self, model: str) -> list[int]:
        return sorted({c for _, c in self.plan(model)})

    def both_plan(self) -> list[tuple[str, int]]:
        """The both-cores phase's cases (tiny model, nothing pinned), after BENCH_CASES."""
        counts = (8,) if self.quick else (8, 64)
        return [(p, c) for c in counts for p in BOTH_PROTOCOLS if self._wanted(p, c)]

    def both_skipped(self) -> str | None:
        """Why the both-cores phase does not run, or None when it does."""
        if not self.both_cores:
            return "BENCH_BOTH_CORES=0"
        if "tiny" not in self.models:
            return "BENCH_MODELS has no tiny"
        if "ovserve" not in self.servers:
            return "BENCH_SERVERS has no ovserve"
        if (os.cpu_count() or 1) < 2:
            return "fewer than 2 CPUs"
        if not self.both_plan():
            return "BENCH_CASES selects none of its cases"
        return None


@dataclass
class Report:
    settings: Settings
    started: datetime.datetime
    load_before: tuple[float, float, float]
    t_start: float
    cases: Results = field(default_factory=dict)
    #: the both-cores phase (tiny model, nothing pinned), apart from the main table
    both: Results = field(default_factory=dict)
    floors: dict[str, dict[int, dict]] = field(default_factory=dict)
    bapp: dict[str, dict[str, dict]] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    server_notes: dict[str, str] = field(default_factory=dict)
    #: the interleaved phase (bench/interleave.py): (pair index, c) -> per-round (A, B) results
    pairs: dict[tuple[int, int], list[tuple[dict, dict]]] = field(default_factory=dict)
    #: why the interleaved phase did not run (or failed); None when it ran
    pairs_note: str | None = None
    elapsed: float = 0.0


@dataclass
class Phase:
    """A server's cases on one model: which, pinned or not, and where their results go."""

    plan: list[tuple[str, int]]
    pinned: bool
    results: Results
    #: "" for the main phase; else it prefixes the log lines and answer checks and names the logs
    title: str = ""

    @classmethod
    def main(cls, rep: Report, model: str) -> Phase:
        s = rep.settings
        return cls(s.plan(model), s.pinned(model), rep.cases)

    @classmethod
    def both_cores(cls, rep: Report) -> Phase:
        return cls(rep.settings.both_plan(), False, rep.both, "both cores")
