"""Dynamic batching end to end: ovserve started from its CLI with ``dynamic_batching`` in config.json.

Concurrent tritonclient requests (REST and gRPC) must each get the answer in-process
OpenVINO gives for their own input; a request larger than the max batch works; a full
queue answers 429 / RESOURCE_EXHAUSTED, a request that waited past its timeout 504 /
DEADLINE_EXCEEDED, and a cancelled call leaves the queue. The "gated" models are held
busy by a test gate (``tests/gates.py``): a batch waits at the gate until the test opens
it, so later requests find the model busy on any machine, however fast; the tests assert
outcomes, never durations.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from gates import Gates
from models import add_scaled, model_file, reference, save, small_cnn, write_config
from serverproc import HOST, ServerProcess, wait_for
from tritonclient.utils import InferenceServerException

GATED_MAX = 64  # max_batch_size of the gated models
CNN_MAX = 8
TINY_MAX = 4


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batching_models")
    gated = save(add_scaled((-1, 4), scale=3.0), root / "gated")  # y = 3x + 1
    return {
        "cnn": save(small_cnn(), root / "cnn"),
        "tiny": save(add_scaled((1, 10)), root / "tiny"),  # y = 2x + 1, static batch 1 on disk
        "gated_queue": gated,
        "gated_timeout": gated,
        "gated_cancel": gated,
    }


@pytest.fixture(scope="module")
def server(
    paths: dict[str, Path], gates: Gates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    gated = {"max_batch_size": GATED_MAX}
    extra: dict[str, dict[str, object]] = {
        "cnn": {
            "dynamic_batching": {
                "max_batch_size": CNN_MAX,
                "max_queue_delay_microseconds": 2000,
                "preferred_batch_sizes": [4],
            }
        },
        "tiny": {"dynamic_batching": {"max_batch_size": TINY_MAX, "max_queue_delay_microseconds": 500}},
        "gated_queue": {"nireq": 1, "dynamic_batching": {**gated, "max_queue_size": 1}},
        "gated_timeout": {"nireq": 1, "dynamic_batching": {**gated, "timeout_microseconds": 1000}},
        "gated_cancel": {"nireq": 1, "dynamic_batching": {**gated, "max_queue_size": 1}},
    }
    config = write_config(tmp_path_factory.mktemp("batching_config") / "config.json", paths, extra)
    proc = ServerProcess(
        ["--config_path", str(config), "--metrics_enable"],
        tmp_path_factory.mktemp("log") / "ovserve.log",
        env=gates.env,
    )
    proc.start()
    yield proc
    code = proc.stop()
    assert code == 0, f"ovserve exited with {code}:\n{proc.log()}"


def rest_infer(
    server: ServerProcess, model: str, name: str, x: np.ndarray, binary: bool = True
) -> np.ndarray:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}", network_timeout=60)
    try:
        tensor = httpclient.InferInput(name, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        answer = client.infer(model, [tensor])
        out = answer.as_numpy(answer.get_response()["outputs"][0]["name"])
        assert out is not None
        return out
    finally:
        client.close()


def grpc_infer(server: ServerProcess, model: str, name: str, x: np.ndarray, **kwargs: Any) -> np.ndarray:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        tensor = grpcclient.InferInput(name, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        answer = client.infer(model, [tensor], **kwargs)
        out = answer.as_numpy(answer.get_response().outputs[0].name)
        assert out is not None
        return out
    finally:
        client.close()


Infer = Callable[..., np.ndarray]
PROTOCOLS: dict[str, Infer] = {"rest": rest_infer, "grpc": grpc_infer}


def concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call at once (one thread each); returns results or the exceptions raised."""

    def guarded(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(guarded, calls))


def describe(error: Exception) -> str:
    return error.message() if isinstance(error, InferenceServerException) else repr(error)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_concurrent_requests_each_get_their_own_answer(
    server: ServerProcess, paths: dict[str, Path], protocol: str
) -> None:
    infer = PROTOCOLS[protocol]
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((int(rng.integers(1, 4)), 3, 32, 32)).astype(np.float32) for _ in range(32)]
    answers = concurrently([lambda x=x: infer(server, "cnn", "image", x) for x in inputs])
    for x, answer in zip(inputs, answers, strict=True):
        assert not isinstance(answer, Exception), describe(answer)
        expected = reference(model_file(paths["cnn"]), {"image": x})["probs"]
        np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_tiny_model_served_with_a_dynamic_batch(server: ServerProcess, protocol: str) -> None:
    infer = PROTOCOLS[protocol]
    inputs = [np.full((1, 10), i, np.float32) + np.arange(10, dtype=np.float32) for i in range(24)]
    answers = concurrently([lambda x=x: infer(server, "tiny", "x", x) for x in inputs])
    for x, answer in zip(inputs, answers, strict=True):
        assert not isinstance(answer, Exception), describe(answer)
        np.testing.assert_array_equal(answer, x * 2 + 1)


def test_metadata_shows_a_dynamic_batch_dimension(server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    try:
        meta = client.get_model_metadata("tiny")
    finally:
        client.close()
    assert meta["inputs"][0]["shape"] == [-1, 10]
    assert meta["outputs"][0]["shape"] == [-1, 10]


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_request_larger_than_the_max_batch(
    server: ServerProcess, paths: dict[str, Path], protocol: str
) -> None:
    infer = PROTOCOLS[protocol]
    x = np.random.default_rng(3).standard_normal((CNN_MAX * 2 + 3, 3, 32, 32)).astype(np.float32)
    answer = infer(server, "cnn", "image", x)
    expected = reference(model_file(paths["cnn"]), {"image": x})["probs"]
    np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-6)
    tiny = np.arange(10 * (TINY_MAX + 2), dtype=np.float32).reshape(-1, 10)
    np.testing.assert_array_equal(infer(server, "tiny", "x", tiny), tiny * 2 + 1)


def gated_input(seed: int, rows: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 4)).astype(np.float32)


def check_gated_answers(paths: dict[str, Path], inputs: list[np.ndarray], answers: list[Any]) -> None:
    for x, answer in zip(inputs, answers, strict=True):
        if not isinstance(answer, Exception):
            expected = reference(model_file(paths["gated_queue"]), {"x": x})["y"]
            np.testing.assert_allclose(answer, expected, rtol=1e-6)


def queue_length(server: ServerProcess, model: str) -> float:
    """The batcher's queue length from /metrics (``ovserve_batch_queue_length``)."""
    with urllib.request.urlopen(f"{server.rest_url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    for line in text.splitlines():
        if line.startswith("ovserve_batch_queue_length{") and f'name="{model}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Held:
    """One request of a gated model, held at its gate (the model is busy) until :meth:`finish`."""

    def __init__(self, server: ServerProcess, gates: Gates, model: str, infer: Infer, x: np.ndarray) -> None:
        self.gates, self.model, self.x = gates, model, x
        self.out: list[Any] = []
        gates.close("infer", model)
        self.thread = threading.Thread(target=lambda: self.out.append(_guarded(infer, server, model, "x", x)))
        self.thread.start()
        wait_for(lambda: gates.held("infer", model) > 0 or not self.thread.is_alive(), "held at the gate")
        assert not self.out, self.out  # held, not answered

    def finish(self, paths: dict[str, Path]) -> None:
        self.gates.open("infer", self.model)
        self.thread.join(60)
        assert not isinstance(self.out[0], Exception), self.out[0]
        check_gated_answers(paths, [self.x], self.out)


def _guarded(infer: Infer, *args: Any, **kwargs: Any) -> Any:
    try:
        return infer(*args, **kwargs)
    except Exception as exc:
        return exc


def answered_while_held(
    calls: list[Callable[[], Any]], count: int
) -> tuple[list[Any], ThreadPoolExecutor, list[Any]]:
    """Start ``calls`` at once; return once ``count`` of them were answered (the others wait)."""
    pool = ThreadPoolExecutor(len(calls))
    futures = [pool.submit(_guarded, call) for call in calls]
    wait_for(lambda: sum(f.done() for f in futures) >= count, f"{count} answers")
    return [f.result() for f in futures if f.done()], pool, futures


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_full_queue_answers_429_or_resource_exhausted(
    server: ServerProcess, paths: dict[str, Path], gates: Gates, protocol: str
) -> None:
    infer = PROTOCOLS[protocol]
    held = Held(server, gates, "gated_queue", infer, gated_input(0))
    inputs = [gated_input(i) for i in range(1, 6)]
    # the model is busy and the queue takes one: exactly four of five are refused, whatever the order
    refused, pool, futures = answered_while_held(
        [lambda x=x: infer(server, "gated_queue", "x", x) for x in inputs], 4
    )
    assert len(refused) == 4 and all(isinstance(e, InferenceServerException) for e in refused), refused
    for error in refused:
        assert error.status() == ("429" if protocol == "rest" else "StatusCode.RESOURCE_EXHAUSTED")
        assert "batching queue of model gated_queue version 1 is full" in error.message()
        assert "max_queue_size is 1" in error.message()
    held.finish(paths)
    answers = [f.result(60) for f in futures]
    pool.shutdown()
    assert sum(not isinstance(a, Exception) for a in answers) == 1
    check_gated_answers(paths, inputs, answers)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_request_waiting_past_its_timeout(
    server: ServerProcess, paths: dict[str, Path], gates: Gates, protocol: str
) -> None:
    infer = PROTOCOLS[protocol]
    held = Held(server, gates, "gated_timeout", infer, gated_input(0))
    inputs = [gated_input(i) for i in range(1, 4)]
    # queued behind a batch that cannot end before the gate opens: each waits past 1 ms
    timed_out, pool, _ = answered_while_held(
        [lambda x=x: infer(server, "gated_timeout", "x", x) for x in inputs], 3
    )
    pool.shutdown()
    for error in timed_out:
        assert isinstance(error, InferenceServerException), error
        assert error.status() == ("504" if protocol == "rest" else "StatusCode.DEADLINE_EXCEEDED")
        assert "timeout_microseconds" in error.message()
    held.finish(paths)  # the request that had started is not timed out


def _check_cancel_outcome(paths: dict[str, Path], server: ServerProcess, infer: Infer) -> Any:
    """With the gone caller out of the one-slot queue, the next request is queued (not refused)."""
    x = gated_input(6)
    pool = ThreadPoolExecutor(1)
    queued = pool.submit(infer, server, "gated_cancel", "x", x)
    wait_for(lambda: queue_length(server, "gated_cancel") == 1 or queued.done(), "queued or answered")
    assert not queued.done(), queued.exception()  # not refused: it waits in the queue
    return x, queued, pool


def test_cancelled_grpc_call_leaves_the_queue(
    server: ServerProcess, paths: dict[str, Path], gates: Gates
) -> None:
    held = Held(server, gates, "gated_cancel", grpc_infer, gated_input(11))
    client = grpcclient.InferenceServerClient(server.grpc_address)
    tensor = grpcclient.InferInput("x", [3, 4], "FP32")
    tensor.set_data_from_numpy(gated_input(5))
    outcome: list[Any] = []
    call = client.async_infer("gated_cancel", [tensor], callback=lambda result, error: outcome.append(error))
    wait_for(lambda: queue_length(server, "gated_cancel") == 1, "the call queued behind the held batch")
    call.cancel()  # the client gives up while its request waits
    wait_for(lambda: queue_length(server, "gated_cancel") == 0, "the cancelled call left the queue")
    wait_for(lambda: bool(outcome), "the client saw its call end")
    assert isinstance(outcome[0], InferenceServerException) and "CANCELLED" in str(outcome[0].status()), (
        outcome
    )
    client.close()
    x, queued, pool = _check_cancel_outcome(paths, server, grpc_infer)
    held.finish(paths)
    check_gated_answers(paths, [x], [queued.result(60)])
    pool.shutdown()


def test_closed_http_connection_leaves_the_queue(
    server: ServerProcess, paths: dict[str, Path], gates: Gates
) -> None:
    held = Held(server, gates, "gated_cancel", grpc_infer, gated_input(12))
    x = gated_input(2)
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    )
    # a raw client that sends its request, sees it queued and hangs up without an answer
    conn = http.client.HTTPConnection(HOST, server.rest_port, timeout=60)
    conn.request("POST", "/v2/models/gated_cancel/infer", body, {"Content-Type": "application/json"})
    wait_for(lambda: queue_length(server, "gated_cancel") == 1, "the raw request queued")
    conn.close()
    wait_for(lambda: queue_length(server, "gated_cancel") == 0, "the closed connection's request left")
    y, queued, pool = _check_cancel_outcome(paths, server, rest_infer)
    held.finish(paths)
    check_gated_answers(paths, [y], [queued.result(60)])
    pool.shutdown()
