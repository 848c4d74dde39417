"""Requests that make OpenVINO fail, end to end, through clients nobody here wrote.

``div32`` takes ``[?,3,?,?]`` images but runs only when H and W are multiples of 32 (a
detector's skip connection), and refuses a batch of zero. It is served with nireq 1: a
bad request that kept its infer request would hang every later one. Each bad request
must be answered 400 / INVALID_ARGUMENT naming the model and the layer, on every API
(KServe REST and gRPC, the gRPC stream, TF Serving gRPC and REST, dynamic batching), and
the next good request must get the answer in-process OpenVINO gives.

``cls`` (``[?,3,?,?]`` with pooling layers) used to fail its load on the warm-up; it serves.
"""

from __future__ import annotations

import json
import queue
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import div32, model_file, pooled_classifier, reference, save, write_config
from serverproc import HOST, ServerProcess
from tritonclient.utils import InferenceServerException

GOOD = np.random.default_rng(7).uniform(0, 1, (1, 3, 64, 96)).astype(np.float32)
BAD_SHAPES = [(1, 3, 50, 50), (0, 3, 64, 64)]
MODELS = ["div32", "div32_batched"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("failure_models")
    base = save(div32(), root / "div32")
    return {"div32": base, "div32_batched": base, "cls": save(pooled_classifier(), root / "cls")}


@pytest.fixture(scope="module")
def server(paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}
    extra: dict[str, dict[str, object]] = {
        "div32": {"nireq": 1, "plugin_config": f32},
        "div32_batched": {
            "nireq": 1,
            "plugin_config": f32,
            "dynamic_batching": {"max_batch_size": 4, "max_queue_delay_microseconds": 1000},
        },
        "cls": {"plugin_config": f32},
    }
    config = write_config(tmp_path_factory.mktemp("failure_config") / "config.json", paths, extra)
    proc = ServerProcess(["--config_path", str(config)], tmp_path_factory.mktemp("log") / "ovserve.log")
    proc.start()
    yield proc
    code = proc.stop()
    assert code == 0, f"ovserve exited with {code}:\n{proc.log()}"


def expected(paths: dict[str, Path], x: np.ndarray) -> np.ndarray:
    return reference(model_file(paths["div32"]), {"image": x})["y"]


def assert_names_the_problem(message: str, model: str, shape: tuple[int, ...]) -> None:
    if model == "div32_batched" and shape[0] == 0:  # refused before it reaches the model
        assert message.startswith("Invalid input batch size - Expected: [1~inf]; Actual: 0"), message
        return
    assert f"{model} version 1" in message and f"image {list(shape)}" in message, message
    assert ("layer y refuses it" in message) if shape[0] else ("Batch size is zero" in message), message
    assert "Traceback" not in message and "src/" not in message, message


@pytest.mark.parametrize("model", MODELS)
def test_kserve_rest(server: ServerProcess, paths: dict[str, Path], model: str) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}", network_timeout=60)
    try:
        for shape in [*BAD_SHAPES, GOOD.shape]:
            x = GOOD if shape == GOOD.shape else np.ones(shape, np.float32)
            tensor = httpclient.InferInput("image", list(shape), "FP32")
            tensor.set_data_from_numpy(x)
            if shape == GOOD.shape:
                np.testing.assert_allclose(client.infer(model, [tensor]).as_numpy("y"), expected(paths, x))
                continue
            with pytest.raises(InferenceServerException) as caught:
                client.infer(model, [tensor])
            assert caught.value.status() == "400", caught.value
            assert_names_the_problem(str(caught.value.message()), model, shape)
    finally:
        client.close()


@pytest.mark.parametrize("model", MODELS)
def test_kserve_grpc(server: ServerProcess, paths: dict[str, Path], model: str) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        for shape in [*BAD_SHAPES, GOOD.shape]:
            x = GOOD if shape == GOOD.shape else np.ones(shape, np.float32)
            tensor = grpcclient.InferInput("image", list(shape), "FP32")
            tensor.set_data_from_numpy(x)
            if shape == GOOD.shape:
                out = client.infer(model, [tensor], client_timeout=60).as_numpy("y")
                np.testing.assert_allclose(out, expected(paths, x))
                continue
            with pytest.raises(InferenceServerException) as caught:
                client.infer(model, [tensor], client_timeout=60)
            assert caught.value.status() == "StatusCode.INVALID_ARGUMENT", caught.value
            assert_names_the_problem(str(caught.value.message()), model, shape)
    finally:
        client.close()


def test_kserve_grpc_stream(server: ServerProcess, paths: dict[str, Path]) -> None:
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client = grpcclient.InferenceServerClient(server.grpc_address)
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for shape in [*BAD_SHAPES, GOOD.shape]:
            x = GOOD if shape == GOOD.shape else np.ones(shape, np.float32)
            tensor = grpcclient.InferInput("image", list(shape), "FP32")
            tensor.set_data_from_numpy(x)
            client.async_stream_infer("div32", [tensor])
            result, error = answers.get(timeout=60)
            if shape == GOOD.shape:
                assert error is None, error
                np.testing.assert_allclose(result.as_numpy("y"), expected(paths, x))
            else:
                assert result is None and error is not None
                assert_names_the_problem(str(error.message()), "div32", shape)
    finally:
        client.stop_stream()
        client.close()


def test_tfs_grpc(server: ServerProcess, paths: dict[str, Path]) -> None:
    client = ovmsclient.make_grpc_client(server.grpc_address)
    for shape in BAD_SHAPES:
        with pytest.raises(ovmsclient.tfs_compat.base.errors.InvalidInputError) as caught:
            client.predict({"image": np.ones(shape, np.float32)}, "div32", timeout=60)
        assert_names_the_problem(str(caught.value), "div32", shape)
    out = client.predict({"image": GOOD}, "div32", timeout=60)
    np.testing.assert_allclose(out, expected(paths, GOOD))


def test_tfs_rest(server: ServerProcess, paths: dict[str, Path]) -> None:
    url = f"http://{HOST}:{server.rest_port}/v1/models/div32:predict"
    for shape in [(1, 3, 50, 50), GOOD.shape]:  # JSON lists cannot say [0,3,64,64]
        x = GOOD if shape == GOOD.shape else np.ones(shape, np.float32)
        body = json.dumps({"inputs": {"image": x.tolist()}}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        if shape == GOOD.shape:
            with urllib.request.urlopen(request, timeout=60) as answer:
                out = np.array(json.loads(answer.read())["outputs"], np.float32)
            np.testing.assert_allclose(out, expected(paths, x), rtol=1e-6)
            continue
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=60)
        assert caught.value.code == 400
        assert_names_the_problem(json.loads(caught.value.read())["error"], "div32", shape)


def test_a_dynamic_model_with_pooling_loads_and_serves(server: ServerProcess, paths: dict[str, Path]) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        assert client.is_model_ready("cls")
        image = np.random.default_rng(3).uniform(0, 1, (2, 3, 224, 224)).astype(np.float32)
        tensor = grpcclient.InferInput("image", list(image.shape), "FP32")
        tensor.set_data_from_numpy(image)
        out = client.infer("cls", [tensor], client_timeout=60).as_numpy("logits")
        want = reference(model_file(paths["cls"]), {"image": image})["logits"]
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    finally:
        client.close()
