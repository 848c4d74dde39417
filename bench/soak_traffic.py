"""The soak's clients: mixed REST and gRPC traffic, good and bad, and the model-control loop.

Every call's outcome is classified, never ignored:

- *good* calls go to models that stay loaded the whole time; each answer is compared with
  in-process OpenVINO; any error or wrong answer is a failure;
- *bad* calls are client mistakes (a shape the model refuses, a batch of zero, an unknown
  model, a wrong datatype) and must get their 4xx / gRPC status;
- *churn* calls go to the models being loaded and unloaded: an answer must be right, a
  "not loaded" / "not found" error is expected, anything else is a failure.

Tests and ``bench/soak.py`` drive these; they run against 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from serverproc import http_json  # tests/ is on the path (soak.py, test_soak.py)
from tritonclient.utils import InferenceServerException

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Call:
    """One kind of call: ``kind`` good / bad / churn; ``expect`` the error a bad call must get."""

    kind: str
    model: str
    x: np.ndarray
    want: np.ndarray | None = None
    expect: tuple[str, ...] = ()
    dtype: str = "FP32"
    name: str = "x"
    out: str = "y"


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str, detail: str = "") -> None:
        with self.lock:
            self.counts[outcome] += 1
            if outcome.endswith("failed") and len(self.failures) < 20:
                self.failures.append(detail)


def _infer(client: Any, module: Any, call: Call) -> np.ndarray:
    tensor = module.InferInput(call.name, list(call.x.shape), call.dtype)
    tensor.set_data_from_numpy(call.x)
    out = client.infer(call.model, [tensor]).as_numpy(call.out)
    if out is None:
        raise ValueError(f"no output {call.out}")
    return np.asarray(out)


def classify(call: Call, run: Callable[[], np.ndarray], tally: Tally, protocol: str) -> None:
    label = f"{protocol} {call.kind} {call.model}"
    try:
        out = run()
    except InferenceServerException as exc:
        status = str(exc.status())
        if call.kind == "bad" and any(code in status for code in call.expect):
            tally.add("bad as expected")
        elif call.kind == "churn" and any(c in status for c in ("404", "NOT_FOUND", "UNAVAILABLE")):
            tally.add("churn unavailable")
        else:
            tally.add(f"{call.kind} failed", f"{label}: {status} {exc.message()}")
        return
    except Exception as exc:  # a broken connection, a timeout: the server did not answer
        tally.add(f"{call.kind} failed", f"{label}: {type(exc).__name__}: {exc}")
        return
    if call.kind == "bad":
        tally.add("bad failed", f"{label}: answered 200 to a bad request")
    elif call.want is not None and not np.allclose(out, call.want, rtol=1e-4, atol=1e-5):
        tally.add(f"{call.kind} failed", f"{label}: wrong answer")
    else:
        tally.add(f"{call.kind} ok")


def traffic(
    protocol: str,
    rest_port: int,
    grpc_port: int,
    calls: list[Call],
    tally: Tally,
    stop: threading.Event,
    pause: float,
) -> None:
    """One client (REST or gRPC) sending ``calls`` round-robin until ``stop``."""
    if protocol == "rest":
        module: Any = httpclient
        client = httpclient.InferenceServerClient(f"{HOST}:{rest_port}", network_timeout=60)
    else:
        module = grpcclient
        client = grpcclient.InferenceServerClient(f"{HOST}:{grpc_port}")
    i = 0
    try:
        while not stop.is_set():
            call = calls[i % len(calls)]
            i += 1
            classify(call, lambda c=call: _infer(client, module, c), tally, protocol)
            if pause:
                stop.wait(pause)
    finally:
        client.close()


# -- model control -----------------------------------------------------------------------
def states(rest: str, model: str) -> dict[str, str]:
    status, body = http_json(f"{rest}/v1/models/{model}", timeout=10)
    if status != 200 or not isinstance(body, dict):
        return {}
    return {s["version"]: s["state"] for s in body.get("model_version_status", [])}


def wait_state(rest: str, model: str, want: str, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = set(states(rest, model).values())
        if (want == "END" and (not found or found == {"END"})) or want in found:
            return True
        time.sleep(0.1)
    return False


def write_config(path: Path, entries: Mapping[str, Mapping[str, Any]]) -> None:
    doc = {"model_config_list": [{"config": {"name": n, **cfg}} for n, cfg in entries.items()]}
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps(doc, indent=1))
    os.replace(staging, path)  # the server never reads half a file


def control(
    rest: str,
    config: Path,
    entries: dict[str, dict[str, Any]],
    toggled: tuple[str, dict[str, Any]],
    tally: Tally,
    stop: threading.Event,
    period: float,
) -> None:
    """Unload and load ``churn`` through the repository API, and add / remove ``toggled`` in config.json."""
    name, entry = toggled
    cycle = 0
    while not stop.wait(period):
        cycle += 1
        for action, want in (("unload", "END"), ("load", "AVAILABLE")):
            status, body = http_json(
                f"{rest}/v2/repository/models/churn/{action}", method="POST", timeout=120
            )
            if status != 200 or not wait_state(rest, "churn", want):
                tally.add("control failed", f"churn {action}: {status} {body}")
            else:
                tally.add(f"control {action}")
        present = cycle % 2 == 1
        write_config(config, {**entries, name: entry} if present else entries)
        if wait_state(rest, name, "AVAILABLE" if present else "END"):
            tally.add("control config edit")
        else:
            tally.add(
                "control failed", f"config edit: {name} {'added' if present else 'removed'} not applied"
            )
