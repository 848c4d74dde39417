"""Stateful models: sequences per second and per-step latency, ovserve against in-process OpenVINO.

Usage (from the repository root; about 2 minutes with the defaults)::

    .venv/bin/python bench/stateful.py [--seconds 5] [--steps 20] [--concurrency 1,8]
        [--hidden 1024] [--out PATH]

Two stateful models (``tests/stateful_models.py``, built under ``bench/work/stateful``):
``sum`` (a running sum on [1, 4]: nearly no compute, so the figures are the serving
overhead) and ``rnn`` (an Elman cell, [1, 64] in, ``--hidden`` state: a real step). Each
client thread runs sequences back to back: a start, ``--steps - 2`` middle steps and an
end, every step waiting for the previous answer (as sequences must). Modes:

- ``in-process``: the floor. One OpenVINO infer request per thread, the sequence's state
  left in it (``reset_state`` at each start); no server, no copies of the state.
- ``TFS gRPC``: ovserve, TF Serving ``Predict`` with ``sequence_id`` / ``sequence_control_input``
  in ``uint64_val`` / ``uint32_val`` (as OVMS's docs build them), one channel per thread.
- ``TFS REST``: ovserve, TF Serving REST JSON (column format), one keep-alive connection per thread.
- ``TFS gRPC, served stateless``: the same model files served without ``stateful`` and sent
  without the special inputs (its answers are not a sequence's): what the sequence handling
  (special inputs, the sequence lock, restoring and saving the state) costs, by difference.

Besides, in-process with no network: ovserve's own servable of each model called in a loop,
stateless and as a stateful step, to isolate what the sequence handling costs per step.

The server has ``nireq`` = the largest concurrency, so sequences share a pool of infer
requests and each step restores and saves its sequence's state. One sequence per model is
first checked against in-process OpenVINO. Client and server share the machine's cores
(nothing pinned); the server's CPU time is reported beside each phase.

Prints a markdown table and writes it to ``bench/results/<date>-<cpu>-stateful.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import http.client
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import openvino as ov

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work" / "stateful"
sys.path.append(str(ROOT / "tests"))

from lifecycle_common import cpu_name, cpu_seconds, cpu_slug  # noqa: E402  (bench/: the machine helpers)
from ovmsclient.tfs_compat.grpc.tensors import make_ndarray, make_tensor_proto  # noqa: E402
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2  # noqa: E402
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (  # noqa: E402
    predict_pb2,
    prediction_service_pb2_grpc,
)
from serverproc import ServerProcess  # noqa: E402  (tests/serverproc.py: the CLI on free ports)
from stateful_models import F32, ReferenceSequence, recurrent_cell, running_sum, save  # noqa: E402

START, NONE, END = 1, 0, 2


@dataclass
class Phase:
    """One mode on one model at one concurrency: sequences done, every step's latency, server CPU."""

    model: str
    mode: str
    concurrency: int
    sequences: int
    seconds: float
    step_ms: list[float]
    server_cpu: float | None

    @property
    def rate(self) -> float:
        return self.sequences / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.step_ms, q)) if self.step_ms else float("nan")


# -- one step per mode -------------------------------------------------------------------------
Step = Callable[[np.ndarray, int, int], None]  # (x, sequence_id, control)


def in_process_steps(compiled: ov.CompiledModel) -> Callable[[], Step]:
    def make() -> Step:
        request = compiled.create_infer_request()

        def step(x: np.ndarray, _sequence_id: int, control: int) -> None:
            if control == START:
                request.reset_state()
            request.infer({0: x})

        return step

    return make


def special(sequence_id: int, control: int) -> dict[str, tensor_pb2.TensorProto]:
    seq = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT64, uint64_val=[sequence_id])
    seq.tensor_shape.dim.add().size = 1
    ctl = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT32, uint32_val=[control])
    ctl.tensor_shape.dim.add().size = 1
    return {"sequence_id": seq, "sequence_control_input": ctl}


def grpc_steps(address: str, model: str, stateful: bool = True) -> Callable[[], Step]:
    """TF Serving gRPC steps. The client builds each distinct request once (the input is the same
    every step; a sequence has three kinds of step), so its own Python cost per step is one
    ``Predict`` call with or without the special inputs. ``stateful`` False: the stateless copy,
    sent without them (the cost of sequence handling, by difference)."""

    def make() -> Step:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address))
        built: dict[tuple[int, int], predict_pb2.PredictRequest] = {}

        def step(x: np.ndarray, sequence_id: int, control: int) -> None:
            key = (sequence_id, control) if stateful else (0, 0)
            request = built.get(key)
            if request is None:
                if stateful and len(built) >= 3:  # a new sequence: forget the last one's
                    built.clear()
                request = predict_pb2.PredictRequest()
                request.model_spec.name = model
                request.inputs["x"].CopyFrom(make_tensor_proto(x))
                if stateful:
                    for name, proto in special(sequence_id, control).items():
                        request.inputs[name].CopyFrom(proto)
                built[key] = request
            stub.Predict(request, timeout=60)

        return step

    return make


def rest_steps(port: int, model: str) -> Callable[[], Step]:
    def make() -> Step:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def step(x: np.ndarray, sequence_id: int, control: int) -> None:
            body = {
                "inputs": {"x": x.tolist(), "sequence_id": [sequence_id], "sequence_control_input": [control]}
            }
            connection.request("POST", f"/v1/models/{model}:predict", json.dumps(body))
            answer = connection.getresponse()
            data = answer.read()
            if answer.status != 200:
                raise RuntimeError(f"HTTP {answer.status}: {data[:200]!r}")

        return step

    return make


# -- a phase: threads running sequences for a while -----------------------------------------
def run_phase(
    make_step: Callable[[], Step], x: np.ndarray, steps: int, concurrency: int, seconds: float
) -> tuple[int, list[float]]:
    stop = time.monotonic() + seconds
    done = [0] * concurrency
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            step = make_step()
            sequence_id = 1_000_000 * (index + 1)
            while time.monotonic() < stop:
                sequence_id += 1
                for i in range(steps):
                    control = START if i == 0 else END if i == steps - 1 else NONE
                    began = time.perf_counter()
                    step(x, sequence_id, control)
                    latencies[index].append((time.perf_counter() - began) * 1000)
                done[index] += 1
        except BaseException as exc:  # reported after the phase
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(done), [v for lat in latencies for v in lat]


def servable_step_us(path: Path, x: np.ndarray, calls: int = 1000) -> tuple[float, float]:
    """Per-call µs in-process, no network: ovserve's servable of ``path`` stateless, then stateful
    (the sequence handling: special inputs, the lock, restoring and saving the state). Best of 5
    interleaved rounds.
    Both run inline (on the calling thread), so the event-loop hop does not differ between them."""
    from ovserve.backends.openvino import OpenVINOEngine
    from ovserve.config.types import ModelConfig, StatefulConfig
    from ovserve.scheduling.stateful import StatefulServable

    engine = OpenVINOEngine(inline_inference_us=10**6)  # both inline: the same path, whatever the load
    stateless = engine.loader(ModelConfig("plain", str(path), plugin_config=F32), 1, path / "1").load()
    stateful_cfg = StatefulConfig()
    model = ModelConfig("seq", str(path), plugin_config=F32, stateful=stateful_cfg)
    stateful = StatefulServable(engine.loader(model, 1, path / "1").load(), stateful_cfg)
    sequence = {"sequence_id": np.array([9], np.uint64)}
    start = {**sequence, "sequence_control_input": np.array([START], np.uint32)}

    async def timed(call: Callable[[], Any]) -> float:
        began = time.perf_counter()
        for _ in range(calls):
            await call()
        return (time.perf_counter() - began) / calls * 1e6

    async def measure() -> tuple[float, float]:
        await stateful.infer({"x": x, **start})
        plain, steps = [], []
        for _ in range(5):  # interleaved rounds: both see the same share of the machine
            plain.append(await timed(lambda: stateless.infer({"x": x})))
            steps.append(await timed(lambda: stateful.infer({"x": x, **sequence})))
        return min(plain), min(steps)

    try:
        return asyncio.run(measure())
    finally:
        stateless.close()
        stateful.close()


# -- set-up, check, report ------------------------------------------------------------------------
def build(hidden: int) -> dict[str, Path]:
    return {
        "sum": save(running_sum(), WORK / "sum"),
        "rnn": save(recurrent_cell(inputs=64, hidden=hidden), WORK / "rnn"),
    }


def check(proc: ServerProcess, model: str, path: Path, x: np.ndarray) -> None:
    """One short sequence over gRPC equals in-process OpenVINO fed the same inputs."""
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(proc.grpc_address))
    reference = ReferenceSequence(path / "1" / "model.xml")
    for i, control in enumerate((START, NONE, END)):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.inputs["x"].CopyFrom(make_tensor_proto(x * (i + 1)))
        for name, proto in special(7, control).items():
            request.inputs[name].CopyFrom(proto)
        reply = stub.Predict(request, timeout=60)
        for name, value in reference.step({"x": x * (i + 1)}).items():
            np.testing.assert_allclose(make_ndarray(reply.outputs[name]), value, rtol=1e-4, atol=1e-5)


def ratios(phases: list[Phase]) -> list[str]:
    """Served ÷ in-process, and stateful ÷ stateless, as report lines."""
    lines: list[str] = []
    lines += ["", "Served ÷ in-process sequences/s (same model, same clients):", ""]
    floor = {(p.model, p.concurrency): p.rate for p in phases if p.mode == "in-process"}
    for p in phases:
        if p.mode in ("TFS gRPC", "TFS REST") and floor.get((p.model, p.concurrency)):
            lines.append(
                f"- {p.model}, {p.mode}, {p.concurrency} clients: {p.rate / floor[(p.model, p.concurrency)]:.3f}"
            )
    plain = {(p.model, p.concurrency): p for p in phases if p.mode == "TFS gRPC, served stateless"}
    lines += [
        "",
        "Stateful ÷ the same model served stateless, TF Serving gRPC (the cost of sequence handling):",
        "",
    ]
    for p in phases:
        other = plain.get((p.model, p.concurrency))
        if p.mode == "TFS gRPC" and other is not None and other.rate:
            lines.append(
                f"- {p.model}, {p.concurrency} clients: {p.rate / other.rate:.3f}× steps/s; step p50 "
                f"{p.percentile(50):.3f} vs {other.percentile(50):.3f} ms"
            )
    return lines


def report(
    phases: list[Phase],
    in_servable: dict[str, tuple[float, float]],
    args: argparse.Namespace,
    load: tuple[float, float],
) -> str:
    lines = [
        f"# Stateful models, {datetime.date.today()}: {cpu_name()}, {os.cpu_count()} CPUs",
        "",
        f"Made by `bench/stateful.py --seconds {args.seconds:g} --steps {args.steps} "
        f"--concurrency {args.concurrency} --hidden {args.hidden}`; openvino {ov.get_version()}. "
        f"Models: `sum` (running sum, [1,4]) and `rnn` (Elman cell, [1,64] in, {args.hidden} state), "
        f"plugin config {json.dumps(F32)}, server nireq {max(parse_levels(args.concurrency))}. "
        f"Each client runs sequences of {args.steps} steps back to back (start, middle steps, end). "
        "Client and server share the cores; nothing pinned.",
        "",
        "| model | mode | clients | sequences/s | steps/s | step p50 ms | step p99 ms | server CPU (cores) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        cpu = f"{p.server_cpu:.2f}" if p.server_cpu is not None else "-"
        lines.append(
            f"| {p.model} | {p.mode} | {p.concurrency} | {p.rate:.1f} | {p.rate * args.steps:.0f} | "
            f"{p.percentile(50):.3f} | {p.percentile(99):.3f} | {cpu} |"
        )
    lines += ratios(phases)
    lines += [
        "",
        "In-process, no network: ovserve's servable per call, stateless vs a stateful step (best of 5 rounds):",
        "",
    ]
    for model, (plain_us, step_us) in in_servable.items():
        lines.append(
            f"- {model}: {plain_us:.1f} µs stateless, {step_us:.1f} µs a stateful step (+{step_us - plain_us:.1f} µs)"
        )
    lines += [
        "",
        f"Load average before {load[0]:.2f}, after {load[1]:.2f} (other work on the machine skews the figures).",
    ]
    return "\n".join(lines) + "\n"


def parse_levels(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--steps", type=int, default=20, help="requests per sequence (>= 2)")
    parser.add_argument("--concurrency", default="1,8", help="client threads, comma-separated levels")
    parser.add_argument("--hidden", type=int, default=1024, help="state size of the rnn model")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    levels = parse_levels(args.concurrency)
    paths = build(args.hidden)
    config = WORK / "config.json"
    common = {"nireq": max(levels), "plugin_config": F32}
    entries = [
        {"config": {"name": n, "base_path": str(p), "stateful": True, **common}} for n, p in paths.items()
    ]
    entries += [
        {"config": {"name": f"{n}_stateless", "base_path": str(p), **common}} for n, p in paths.items()
    ]
    config.write_text(json.dumps({"model_config_list": entries}))
    load_before = os.getloadavg()[0]
    proc = ServerProcess(["--config_path", str(config)], WORK / "ovserve.log").start(300)
    phases: list[Phase] = []
    in_servable: dict[str, tuple[float, float]] = {}
    try:
        assert proc.process is not None
        core = ov.Core()
        for model, path in paths.items():
            x = np.random.default_rng(1).normal(size=(1, 4 if model == "sum" else 64)).astype(np.float32)
            check(proc, model, path, x)
            in_servable[model] = servable_step_us(path, x)
            compiled = core.compile_model(str(path / "1" / "model.xml"), "CPU", F32)
            modes: list[tuple[str, Callable[[], Step]]] = [
                ("in-process", in_process_steps(compiled)),
                ("TFS gRPC", grpc_steps(proc.grpc_address, model)),
                ("TFS REST", rest_steps(proc.rest_port, model)),
                (
                    "TFS gRPC, served stateless",
                    grpc_steps(proc.grpc_address, f"{model}_stateless", stateful=False),
                ),
            ]
            for clients in levels:
                for mode, make in modes:
                    cpu_before = cpu_seconds(proc.process.pid)
                    began = time.monotonic()
                    sequences, steps = run_phase(make, x, args.steps, clients, args.seconds)
                    took = time.monotonic() - began
                    served = mode != "in-process"
                    cpu = (cpu_seconds(proc.process.pid) - cpu_before) / took if served else None
                    phases.append(Phase(model, mode, clients, sequences, took, steps, cpu))
                    print(f"{model} {mode} c={clients}: {sequences / took:.1f} sequences/s", flush=True)
    finally:
        proc.stop()
    text = report(phases, in_servable, args, (load_before, os.getloadavg()[0]))
    print(text)
    out = args.out or BENCH / "results" / f"{datetime.date.today()}-{cpu_slug()}-stateful.md"
    out.write_text(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
