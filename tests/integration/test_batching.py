"""Dynamic batching end to end: ovserve started from its CLI with ``dynamic_batching`` in config.json.

Concurrent tritonclient requests (REST and gRPC) must each get the answer in-process
OpenVINO gives for their own input; a request larger than the max batch works; a full
queue answers 429 / RESOURCE_EXHAUSTED, a request that waited past its timeout 504 /
DEADLINE_EXCEEDED, and a cancelled call leaves the queue. The "slow" models take a long
time per request (tens of GFLOP), so concurrent requests find the model busy; the tests
assert outcomes, never durations.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import add_scaled, model_file, reference, save, slow, small_cnn, write_config
from serverproc import HOST, ServerProcess
from tritonclient.utils import InferenceServerException

SLOW_ROWS = 1024  # one request of this many rows: 29 GFLOP, at least 0.2 s on any CPU we run on
BLOCKER_ROWS = 16384  # one batch of this many rows: 16 times that, seconds
CNN_MAX = 8
TINY_MAX = 4


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batching_models")
    slow_model = slow(384, 96)
    slow_model.reshape({"x": [-1, 384]})  # rows are independent; in-process reference takes any count
    slow_base = save(slow_model, root / "slow")
    return {
        "cnn": save(small_cnn(), root / "cnn"),
        "tiny": save(add_scaled((1, 10)), root / "tiny"),  # y = 2x + 1, static batch 1 on disk
        "slow_queue": slow_base,
        "slow_timeout": slow_base,
        "slow_cancel": slow_base,
    }


@pytest.fixture(scope="module")
def server(paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    slow_batching = {"max_batch_size": SLOW_ROWS}
    extra: dict[str, dict[str, object]] = {
        "cnn": {
            "dynamic_batching": {
                "max_batch_size": CNN_MAX,
                "max_queue_delay_microseconds": 2000,
                "preferred_batch_sizes": [4],
            }
        },
        "tiny": {"dynamic_batching": {"max_batch_size": TINY_MAX, "max_queue_delay_microseconds": 500}},
        "slow_queue": {"nireq": 1, "dynamic_batching": {**slow_batching, "max_queue_size": 1}},
        "slow_timeout": {"nireq": 1, "dynamic_batching": {**slow_batching, "timeout_microseconds": 1000}},
        "slow_cancel": {
            "nireq": 1,
            "dynamic_batching": {"max_batch_size": BLOCKER_ROWS, "max_queue_size": 1},
        },
    }
    config = write_config(tmp_path_factory.mktemp("batching_config") / "config.json", paths, extra)
    proc = ServerProcess(["--config_path", str(config)], tmp_path_factory.mktemp("log") / "ovserve.log")
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


def slow_input(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((SLOW_ROWS, 384)).astype(np.float32)


def check_slow_answers(paths: dict[str, Path], inputs: list[np.ndarray], answers: list[Any]) -> None:
    for x, answer in zip(inputs, answers, strict=True):
        if not isinstance(answer, Exception):
            expected = reference(model_file(paths["slow_queue"]), {"x": x})["y"]
            np.testing.assert_allclose(answer, expected, rtol=1e-4, atol=1e-5)


def test_full_queue_answers_429_over_rest(server: ServerProcess, paths: dict[str, Path]) -> None:
    inputs = [slow_input(i) for i in range(6)]
    answers = concurrently([lambda x=x: rest_infer(server, "slow_queue", "x", x) for x in inputs])
    refused = [a for a in answers if isinstance(a, InferenceServerException)]
    assert refused, "six requests at once on a one-slot queue: some must be refused"
    assert len(refused) <= 4  # one runs, one waits
    for error in refused:
        assert error.status() == "429"
        assert "batching queue of model slow_queue version 1 is full" in error.message()
        assert "max_queue_size is 1" in error.message()
    assert len(refused) < len(answers)
    check_slow_answers(paths, inputs, answers)


def test_full_queue_answers_resource_exhausted_over_grpc(
    server: ServerProcess, paths: dict[str, Path]
) -> None:
    inputs = [slow_input(i) for i in range(6)]
    answers = concurrently([lambda x=x: grpc_infer(server, "slow_queue", "x", x) for x in inputs])
    refused = [a for a in answers if isinstance(a, InferenceServerException)]
    assert refused and len(refused) < len(answers)
    for error in refused:
        assert error.status() == "StatusCode.RESOURCE_EXHAUSTED"
        assert "max_queue_size is 1" in error.message()
    check_slow_answers(paths, inputs, answers)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_request_waiting_past_its_timeout(
    server: ServerProcess, paths: dict[str, Path], protocol: str
) -> None:
    infer = PROTOCOLS[protocol]
    inputs = [slow_input(i) for i in range(4)]
    answers = concurrently([lambda x=x: infer(server, "slow_timeout", "x", x) for x in inputs])
    timed_out = [a for a in answers if isinstance(a, InferenceServerException)]
    assert timed_out and len(timed_out) < len(answers)  # the first runs; the others wait past 1 ms
    for error in timed_out:
        assert error.status() == ("504" if protocol == "rest" else "StatusCode.DEADLINE_EXCEEDED")
        assert "timeout_microseconds" in error.message()
    check_slow_answers(paths, inputs, answers)


def _start_blocker(server: ServerProcess, x: np.ndarray, out: list[Any]) -> threading.Thread:
    """One request of BLOCKER_ROWS rows on slow_cancel: one batch that keeps the model busy for seconds."""

    def go() -> None:
        try:
            out.append(grpc_infer(server, "slow_cancel", "x", x))
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    time.sleep(0.3)  # let it reach the model (ordering only; nothing measures time)
    return thread


def _check_cancel_outcome(paths: dict[str, Path], server: ServerProcess, infer: Infer) -> None:
    """With the gone caller out of the one-slot queue, the next request is queued (not refused)."""
    x = slow_input(6)[:3]
    np.testing.assert_allclose(
        infer(server, "slow_cancel", "x", x),
        reference(model_file(paths["slow_cancel"]), {"x": x})["y"],
        rtol=1e-4,
        atol=1e-5,
    )


def test_cancelled_grpc_call_leaves_the_queue(server: ServerProcess, paths: dict[str, Path]) -> None:
    big = np.random.default_rng(11).standard_normal((BLOCKER_ROWS, 384)).astype(np.float32)
    out: list[Any] = []
    thread = _start_blocker(server, big, out)
    try:
        with pytest.raises(InferenceServerException) as caught:  # queued behind the blocker, gives up
            grpc_infer(server, "slow_cancel", "x", slow_input(5)[:2], client_timeout=0.3)
        assert caught.value.status() == "StatusCode.DEADLINE_EXCEEDED"
        _check_cancel_outcome(paths, server, grpc_infer)  # sent while the blocker still runs
    finally:
        thread.join(60)
    assert not isinstance(out[0], Exception), out[0]
    expected = reference(model_file(paths["slow_cancel"]), {"x": big})["y"]
    np.testing.assert_allclose(out[0], expected, rtol=1e-4, atol=1e-5)


def test_closed_http_connection_leaves_the_queue(server: ServerProcess, paths: dict[str, Path]) -> None:
    big = np.random.default_rng(12).standard_normal((BLOCKER_ROWS, 384)).astype(np.float32)
    out: list[Any] = []
    thread = _start_blocker(server, big, out)
    try:
        x = slow_input(2)[:4]
        body = json.dumps(
            {
                "inputs": [
                    {"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
                ]
            }
        )
        # a raw client that sends its request, waits a moment and hangs up without an answer
        conn = http.client.HTTPConnection(HOST, server.rest_port, timeout=0.3)
        conn.request("POST", "/v2/models/slow_cancel/infer", body, {"Content-Type": "application/json"})
        with pytest.raises(TimeoutError):
            conn.getresponse()
        conn.close()
        _check_cancel_outcome(paths, server, rest_infer)
    finally:
        thread.join(60)
    assert not isinstance(out[0], Exception), out[0]
