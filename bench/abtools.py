"""What the interleaved A/B tools share (ab_rest.py, ab_grpc.py, ab_exec.py; genai.py and
batching.py read CPU time the same way): a process's CPU seconds, a one-model config.json, a server
started with its log under bench/work/ and awaited, and one wrk run through bench/lua/post.lua."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
PYTHON = str(ROOT / ".venv/bin/python")
#: the plugin config every A/B tool compiles its models with (as `make bench`)
PLUGIN = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}


def write_config(path: Path, name: str, base: Path, plugin: dict[str, object], **fields: object) -> Path:
    """A config.json serving one model ``name`` from ``base`` with ``plugin`` (and ``fields``)."""
    entry = {"name": name, "base_path": str(base), "plugin_config": plugin, **fields}
    path.write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_logged(
    log_name: str, argv: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float = 180
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output in bench/work/``log_name``.log; return once ``ready()``."""
    log = (WORK / f"{log_name}.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{log_name} exited; see {log.name}")
        if ready():
            return proc
        time.sleep(0.3)
    raise RuntimeError(f"{log_name} did not get ready")


def http_ready(url: str) -> Callable[[], bool]:
    """A ``ready`` check for :func:`start_logged`: ``url`` answers 200."""

    def ready() -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            return False

    return ready


def wrk_requests(argv: list[str]) -> int:
    """Run ``argv`` (wrk with bench/lua/post.lua) and return its answers; any failed one raises."""
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT "))
    result = json.loads(line.split(" ", 1)[1])
    if result["status"] or result["timeout"]:
        raise RuntimeError(f"errors from {argv[-4] if len(argv) > 4 else argv}: {result}")
    return int(result["requests"])


def server_command(
    name: str, port: int, floor: str, ovserve_flags: list[str], model_xml: Path, config: Path, base_src: Path
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of A/B side ``name``: ``"floor"`` runs the floor script
    bench/``floor`` on ``model_xml`` at ``port``; ``"base"`` runs ovserve from ``base_src`` (put on
    ``PYTHONPATH``), any other name ovserve from this tree, each with ``config`` and ``ovserve_flags``."""
    env = dict(os.environ)
    if name == "floor":
        argv = [PYTHON, str(BENCH / floor), "--model", f"tiny={model_xml}", "--port", str(port)]
        return argv, dict(env, BENCH_PLUGIN_CONFIG=json.dumps(PLUGIN))
    argv = [PYTHON, "-m", "ovserve", "--config_path", str(config), *ovserve_flags]
    return argv, dict(env, PYTHONPATH=str(base_src)) if name == "base" else env
