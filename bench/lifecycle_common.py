"""What bench/lifecycle_load.py and bench/lifecycle_rss.py share: models, the server, the report file.

- Models (OpenVINO opset API, IR with ``compress_to_fp16=False``), built under
  ``bench/work/lifecycle/`` and reused while their recipe is unchanged:
  ``tiny`` from bench/models.py, and ``matmul_stack(layers, width)``: ``layers`` blocks of
  y = tanh(x @ W + b) on a ``[1, width]`` FP32 input ``x``, output ``y``, random weights.
  Its read + compile time grows with ``layers`` (OpenVINO's graph passes), its size with
  ``layers * width**2`` (2000 x 256 is 512 MiB of weights and ~5 s to compile here).
- :class:`Server`: ovserve started from its CLI on 127.0.0.1 (tests/serverproc.py) on a
  config.json, with status, repository-API and process helpers.
- The report: one file per day and CPU, ``bench/results/<date>-<cpu>-lifecycle.md``, with one
  section per script between markers; a script replaces only its own section.
- The machine: ``cpu_name``, ``cpu_slug``, ``cpu_seconds(pid)``, ``machine_busy``
  (bench/stateful.py and bench/batching.py use them too).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work" / "lifecycle"
sys.path.insert(0, str(BENCH))
sys.path.append(str(ROOT / "tests"))  # after bench/: tests/models.py is another module

import models  # noqa: E402  (bench/models.py)
from serverproc import ServerProcess  # noqa: E402  (tests/serverproc.py: the CLI on free ports)

DEFAULT_PLUGIN_CONFIG = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}


# -- models --------------------------------------------------------------------------------
def _named(node: ov.Node, name: str) -> ov.Node:
    node.output(0).get_tensor().set_names({name})
    node.set_friendly_name(name)
    return node


def matmul_stack(layers: int, width: int, seed: int = 7) -> ov.Model:
    """``layers`` blocks of y = tanh(x @ W + b) on ``x`` ``[1, width]`` FP32; output ``y``."""
    rng = np.random.default_rng(seed)
    x = _named(ops.parameter([1, width], ov.Type.f32, name="x"), "x")
    node: ov.Node = x
    scale = np.float32(1.0 / np.sqrt(width))
    for _ in range(layers):
        w = rng.standard_normal((width, width), dtype=np.float32) * scale
        b = rng.standard_normal(width, dtype=np.float32) * np.float32(0.01)
        node = ops.tanh(ops.add(ops.matmul(node, ops.constant(w), False, False), ops.constant(b)))
    return ov.Model([_named(node, "y")], [x], f"matmul_stack_{layers}x{width}")


def build(name: str, recipe: str, builder: Callable[[], ov.Model]) -> Path:
    """Write ``builder()`` to ``WORK/models/<name>/1/model.xml`` unless ``recipe`` is already there."""
    base = WORK / "models" / name
    xml = base / "1" / "model.xml"
    stamp = base / ".stamp"
    if not (xml.exists() and stamp.exists() and stamp.read_text() == recipe):
        xml.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(builder(), str(xml), compress_to_fp16=False)
        stamp.write_text(recipe)
    return base


def build_tiny() -> Path:
    return build("tiny", "tiny y=2x+1 [1,10]", models.tiny)


def build_stack(name: str, layers: int, width: int) -> Path:
    return build(
        name, f"matmul_stack layers={layers} width={width} seed=7", lambda: matmul_stack(layers, width)
    )


def weights_mib(base: Path) -> float:
    return (base / "1" / "model.bin").stat().st_size / 2**20


def reference(base: Path, x: np.ndarray, plugin: Mapping[str, str]) -> np.ndarray:
    """The model's answer computed in-process with the same plugin config."""
    compiled = ov.Core().compile_model(str(base / "1" / "model.xml"), "CPU", dict(plugin))
    return np.array(compiled.create_infer_request().infer([x])[0], copy=True)


def config_doc(entries: Mapping[str, tuple[Path, Mapping[str, str]]]) -> str:
    """config.json serving ``name -> (base path, plugin config)``."""
    listed = [
        {"config": {"name": name, "base_path": str(base), "plugin_config": dict(plugin)}}
        for name, (base, plugin) in entries.items()
    ]
    return json.dumps({"model_config_list": listed}, indent=2)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` whole (a rename), so the server's poll never reads half a file."""
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(text)
    staging.replace(path)


# -- the server ------------------------------------------------------------------------------
def http(method: str, url: str, body: bytes | None = None, timeout: float = 600.0) -> tuple[int, object]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            data = answer.read()
            return answer.status, json.loads(data) if data else None
    except urllib.error.HTTPError as err:
        data = err.read()
        try:
            return err.code, json.loads(data) if data else None
        except ValueError:
            return err.code, data.decode(errors="replace")


class Server:
    """ovserve from its CLI on 127.0.0.1, serving ``config`` (polled every ``poll`` seconds)."""

    def __init__(self, config: Path, log: Path, poll: float = 1.0, extra: tuple[str, ...] = ()) -> None:
        args = ["--config_path", str(config), "--file_system_poll_wait_seconds", f"{poll:g}", *extra]
        self.proc = ServerProcess(args, log)

    def start(self, timeout: float = 300.0) -> Server:
        self.proc.start(timeout)
        return self

    def stop(self) -> int | None:
        return self.proc.stop()

    @property
    def pid(self) -> int:
        assert self.proc.process is not None
        return self.proc.process.pid

    @property
    def rest(self) -> str:
        return self.proc.rest_url

    @property
    def grpc_port(self) -> int:
        return self.proc.grpc_port

    def states(self, model: str) -> dict[str, str] | None:
        """version -> TF Serving state of ``model`` (GET /v1/models/{model}); None when not configured."""
        status, body = http("GET", f"{self.rest}/v1/models/{model}", timeout=10)
        if status == 404 or not isinstance(body, dict):
            return None
        return {s["version"]: s["state"] for s in body.get("model_version_status", [])}

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        """VmRSS, RssAnon, RssFile, VmHWM (KiB) and Threads of the server process, from /proc."""
        wanted = ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads")
        found: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in wanted:
                found[key] = int(value.split()[0])
        return found

    def infer_v2(self, model: str, x: np.ndarray) -> np.ndarray:
        """One KServe v2 REST JSON inference; the first output as an array."""
        body = {
            "inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]
        }
        status, answer = http("POST", f"{self.rest}/v2/models/{model}/infer", json.dumps(body).encode(), 60)
        if status != 200 or not isinstance(answer, dict):
            raise RuntimeError(f"{model}: HTTP {status}: {answer}")
        out = answer["outputs"][0]
        return np.asarray(out["data"], np.float32).reshape(out["shape"])


def wait_until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Poll ``check`` until true; returns the wall time (time.time()) it was first seen true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return time.time()
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


# -- the machine and the report -------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "cpu"


def machine_line() -> str:
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
    return f"{cpu_name()}, {os.cpu_count()} CPUs, {int(mem[1]) / 2**20:.1f} GiB"


def versions_line() -> str:
    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return f"ovserve git {git or '?'}, openvino {ov.get_version()}, Python {platform.python_version()}"


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def cpu_slug() -> str:
    """The CPU's name as a file-name part (``intel-r-xeon-r-processor``)."""
    return re.sub(r"[^a-z0-9]+", "-", cpu_name().lower()).strip("-")[:40] or "cpu"


def results_path(out: Path | None) -> Path:
    if out is not None:
        return out
    return BENCH / "results" / f"{datetime.date.today()}-{cpu_slug()}-lifecycle.md"


TITLE = "# Model lifecycle under load"
INTRO = (
    "Made by `make bench-lifecycle` (bench/lifecycle_load.py, bench/lifecycle_rss.py; see bench/README.md). "
    "Each script writes its own section of this file and leaves the other's as it was."
)


def write_section(path: Path, key: str, text: str) -> Path:
    """Put ``text`` between ``<!-- key -->`` markers in ``path``, replacing what was there."""
    begin, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = (
        path.read_text() if path.exists() else f"{TITLE} ({datetime.date.today()}, {cpu_name()})\n\n{INTRO}\n"
    )
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    new = pattern.sub(lambda _m: block, old) if pattern.search(old) else old.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new.rstrip() + "\n")
    return path
