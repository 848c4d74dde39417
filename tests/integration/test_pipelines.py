"""DAG pipelines served like models, through tritonclient and ovmsclient on both transports.

One server serves a two-model chain, parallel branches joined by a third model, and one invalid
pipeline per validation error. Every answer is compared with the same models run in-process with
OpenVINO (f32) one after another; every invalid pipeline is LOADING / FAILED_PRECONDITION with a
message naming what is wrong, answers OVMS's "Pipeline is not loaded yet", and disturbs nothing.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import F32, add_scaled, model_file, reference, save, small_cnn
from openvino import Model, Type
from openvino import opset13 as ops
from serverproc import HOST, ServerProcess, http_json
from stateful_models import running_sum
from tritonclient.utils import InferenceServerException

X = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5) / 3


def summing() -> Model:
    """``sum`` = a + b on [-1,4] FP32."""
    a = ops.parameter([-1, 4], Type.f32, name="a")
    b = ops.parameter([-1, 4], Type.f32, name="b")
    a.output(0).get_tensor().set_names({"a"})
    b.output(0).get_tensor().set_names({"b"})
    total = ops.add(a, b)
    total.output(0).get_tensor().set_names({"sum"})
    return Model([total], [a, b], "sum2")


def src(node: str, item: str) -> dict[str, str]:
    return {"node_name": node, "data_item": item}


def model_node(
    name: str, model: str, inputs: dict[str, dict[str, str]], out: str = "y", **extra: object
) -> dict[str, object]:
    return {
        "name": name,
        "type": "DL model",
        "model_name": model,
        "inputs": [{k: v} for k, v in inputs.items()],
        "outputs": [{"data_item": out, "alias": out}],
        **extra,
    }


def pipeline(
    name: str, nodes: list[dict[str, object]], outputs: dict[str, dict[str, str]]
) -> dict[str, object]:
    return {"name": name, "inputs": ["x"], "nodes": nodes, "outputs": [{k: v} for k, v in outputs.items()]}


VALID = [
    pipeline(
        "chain",
        [
            model_node("first", "scale2", {"x": src("request", "x")}),
            model_node("second", "scale3", {"x": src("first", "y")}),
        ],
        {"y": src("second", "y")},
    ),
    pipeline(
        "branches",
        [
            model_node("left", "scale2", {"x": src("request", "x")}),
            model_node("right", "scale3", {"x": src("request", "x")}),
            model_node("join", "sum2", {"a": src("left", "y"), "b": src("right", "y")}, out="sum"),
        ],
        {"sum": src("join", "sum"), "left": src("left", "y")},
    ),
]

#: an image pipeline: JPEG in (decoded as for the model), the CNN's probabilities out
IMAGES = {
    "name": "classify_image",
    "inputs": ["image"],
    "nodes": [model_node("cnn", "cnn_image", {"image": src("request", "image")}, out="probs")],
    "outputs": [{"probs": src("cnn", "probs")}],
}

#: pipeline name -> (its nodes and outputs, fragments its status message must hold)
INVALID: dict[str, tuple[list[dict[str, object]], dict[str, dict[str, str]], tuple[str, ...]]] = {
    "bad_cycle": (
        [
            model_node("n0", "scale2", {"x": src("n1", "y")}),
            model_node("n1", "scale3", {"x": src("n0", "y")}),
        ],
        {"y": src("n1", "y")},
        ("contains a cycle", "n0", "n1"),
    ),
    "bad_model": (
        [model_node("n0", "nope", {"x": src("request", "x")})],
        {"y": src("n0", "y")},
        ("reference to missing model", "node: n0", "nope"),
    ),
    "bad_node": ([model_node("n0", "scale2", {"x": src("ghost", "y")})], {"y": src("n0", "y")}, ("ghost",)),
    "bad_unconnected_input": (
        [model_node("n0", "sum2", {"a": src("request", "x")}, out="sum")],
        {"y": src("n0", "sum")},
        ("connections for all inputs", "node: n0", "b"),
    ),
    "bad_shape": (
        [
            model_node("n0", "scale2", {"x": src("request", "x")}),
            model_node("n1", "wide", {"x": src("n0", "y")}),
        ],
        {"y": src("n1", "y")},
        ("Invalid input shape", "node: n1; input: x"),
    ),
    "bad_dtype": (
        [
            model_node("n0", "scale2", {"x": src("request", "x")}),
            model_node("n1", "ints", {"x": src("n0", "y")}),
        ],
        {"y": src("n1", "y")},
        ("Invalid input precision", "node: n1; input: x"),
    ),
    "bad_duplicate_node": (
        [
            model_node("n0", "scale2", {"x": src("request", "x")}),
            model_node("n0", "scale3", {"x": src("request", "x")}),
        ],
        {"y": src("n0", "y")},
        ("multiple nodes with the same name", "n0"),
    ),
    "bad_output": (
        [model_node("n0", "scale2", {"x": src("request", "x")}, out="nope")],
        {"y": src("n0", "nope")},
        ("missing model output", "node: n0", "nope"),
    ),
    "bad_unused_node": (
        [
            model_node("n0", "scale2", {"x": src("request", "x")}),
            model_node("n1", "scale3", {"x": src("request", "x")}),
        ],
        {"y": src("n0", "y")},
        ("unconnected nodes", "n1"),
    ),
    "bad_stateful": (
        [model_node("n0", "summing", {"x": src("request", "x")})],
        {"y": src("n0", "y")},
        ("Stateful", "node: n0"),
    ),
    "bad_gather": (
        [model_node("n0", "scale2", {"x": src("request", "x")}, gather_from_node="request")],
        {"y": src("n0", "y")},
        ("isn't demultiplexer", "node: n0"),
    ),
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipeline_models")
    return {
        "scale2": save(add_scaled((-1, 4), scale=2.0), root / "scale2"),
        "scale3": save(add_scaled((-1, 4), scale=3.0), root / "scale3"),
        "sum2": save(summing(), root / "sum2"),
        "wide": save(add_scaled((-1, 5)), root / "wide"),
        "ints": save(add_scaled((-1, 4), np.int32), root / "ints"),
        "cnn_image": save(small_cnn(input_scale=1 / 255), root / "cnn_image"),
        "summing": save(running_sum(), root / "summing"),
    }


#: config.json keys besides base_path and f32 (an image model, as OVMS serves one)
MODEL_KEYS: dict[str, dict[str, object]] = {
    "cnn_image": {"layout": "NHWC:NCHW", "batch_size": "1"},
    "summing": {"stateful": True},
}


@pytest.fixture(scope="module")
def server(repo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    invalid = [pipeline(name, nodes, outputs) for name, (nodes, outputs, _) in INVALID.items()]
    twice = pipeline(
        "bad_twice", [model_node("n0", "scale2", {"x": src("request", "x")})], {"y": src("n0", "y")}
    )
    twice["nodes"][0]["inputs"] = [{"x": src("request", "x")}, {"x": src("request", "x")}]  # type: ignore[index]
    clash = pipeline(
        "scale2", [model_node("n0", "scale3", {"x": src("request", "x")})], {"y": src("n0", "y")}
    )
    doc = {
        "model_config_list": [
            {"config": {"name": n, "base_path": str(p), "plugin_config": dict(F32), **MODEL_KEYS.get(n, {})}}
            for n, p in repo.items()
        ],
        "pipeline_config_list": [*VALID, *invalid, twice, clash, IMAGES],
    }
    config = tmp_path_factory.mktemp("pipeline_config") / "config.json"
    config.write_text(json.dumps(doc))
    proc = ServerProcess(["--config_path", str(config), "--metrics_enable"], config.with_name("ovserve.log"))
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log()


def chained(repo: dict[str, Path], x: np.ndarray) -> np.ndarray:
    """The chain run in-process: scale2, then scale3."""
    first = reference(model_file(repo["scale2"]), {"x": x})["y"]
    return reference(model_file(repo["scale3"]), {"x": first})["y"]


def test_two_model_chain_on_every_client(server: ServerProcess, repo: dict[str, Path]) -> None:
    expected = chained(repo, X)
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    tensor = httpclient.InferInput("x", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    np.testing.assert_allclose(rest.infer("chain", [tensor]).as_numpy("y"), expected, rtol=1e-6)
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    gtensor = grpcclient.InferInput("x", list(X.shape), "FP32")
    gtensor.set_data_from_numpy(X)
    np.testing.assert_allclose(grpc.infer("chain", [gtensor]).as_numpy("y"), expected, rtol=1e-6)
    for tfs in (
        ovmsclient.make_grpc_client(server.grpc_address),
        ovmsclient.make_http_client(f"{HOST}:{server.rest_port}"),
    ):
        np.testing.assert_allclose(tfs.predict({"x": X}, "chain"), expected, rtol=1e-6)


def test_parallel_branches_join(server: ServerProcess, repo: dict[str, Path]) -> None:
    left = reference(model_file(repo["scale2"]), {"x": X})["y"]
    right = reference(model_file(repo["scale3"]), {"x": X})["y"]
    total = reference(model_file(repo["sum2"]), {"a": left, "b": right})["sum"]
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    tensor = grpcclient.InferInput("x", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    answer = grpc.infer("branches", [tensor])
    np.testing.assert_allclose(answer.as_numpy("sum"), total, rtol=1e-6)
    np.testing.assert_allclose(answer.as_numpy("left"), left, rtol=1e-6)


def test_pipeline_status_metadata_and_readiness(server: ServerProcess) -> None:
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    assert rest.is_model_ready("chain")
    meta = rest.get_model_metadata("chain")
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}]
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    assert grpc.is_model_ready("branches")
    gmeta = grpc.get_model_metadata("branches", as_json=True)
    assert gmeta["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in gmeta["outputs"]] == [
        ("sum", "FP32", ["-1", "4"]),
        ("left", "FP32", ["-1", "4"]),
    ]
    tfs = ovmsclient.make_grpc_client(server.grpc_address)
    assert tfs.get_model_status("chain") == {
        1: {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
    }
    tfs_meta = tfs.get_model_metadata("branches")
    assert tfs_meta["model_version"] == 1
    assert set(tfs_meta["outputs"]) == {"sum", "left"}
    status, index = http_json(f"{server.rest_url}/v2/repository/index", b"{}")
    assert status == 200
    listed = {entry["name"]: entry.get("state") for entry in index}
    assert listed["chain"] == "READY" and listed["branches"] == "READY"


@pytest.mark.parametrize("name", [*INVALID, "bad_twice"])
def test_every_validation_error_is_the_pipelines_status(server: ServerProcess, name: str) -> None:
    tfs = ovmsclient.make_http_client(f"{HOST}:{server.rest_port}")
    (status,) = tfs.get_model_status(name).values()
    assert status["state"] == "LOADING"
    assert status["error_code"] == 9  # FAILED_PRECONDITION
    for fragment in (
        INVALID[name][2] if name in INVALID else ("multiple connections to the same input", "node: n0", "x")
    ):
        assert fragment in status["error_message"], status["error_message"]
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    assert not rest.is_model_ready(name)
    tensor = httpclient.InferInput("x", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException) as err:
        rest.infer(name, [tensor])
    assert err.value.status() == "404"
    assert "Pipeline is not loaded yet" in str(err.value)
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    gtensor = grpcclient.InferInput("x", list(X.shape), "FP32")
    gtensor.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException) as gerr:
        grpc.infer(name, [gtensor])
    assert gerr.value.status() == "StatusCode.UNAVAILABLE"


def test_a_pipeline_named_as_a_model_is_refused(server: ServerProcess, repo: dict[str, Path]) -> None:
    assert "Pipeline has the same name as model" in server.log()
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    tensor = httpclient.InferInput("x", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    expected = reference(model_file(repo["scale2"]), {"x": X})["y"]
    np.testing.assert_allclose(rest.infer("scale2", [tensor]).as_numpy("y"), expected, rtol=1e-6)


def test_pipeline_requests_are_counted_as_ovms_counts_them(server: ServerProcess) -> None:
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    tensor = grpcclient.InferInput("x", list(X.shape), "FP32")
    tensor.set_data_from_numpy(X)
    grpc.infer("chain", [tensor])
    with urllib.request.urlopen(f"{server.rest_url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    wanted = (
        'ovms_requests_success{api="KServe",interface="gRPC",method="ModelInfer",name="chain",version="1"}'
    )
    line = next(line for line in text.splitlines() if line.startswith(wanted))
    assert float(line.split()[-1]) >= 1
    assert 'ovms_request_time_us_count{interface="gRPC",name="chain",version="1"}' in text
    # OVMS's DAG metrics are these three; the model families are the models' (scale2's, ...)
    for family in ("ovms_inference_time_us", "ovms_streams"):  # the model families enabled by default
        assert not [ln for ln in text.splitlines() if ln.startswith(family) and 'name="chain"' in ln]
        assert [ln for ln in text.splitlines() if ln.startswith(family) and 'name="scale2"' in ln]


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"x": np.zeros((2, 5), np.float32)}, "shape"),
        ({"x": np.zeros((2, 4), np.int32)}, "precision"),
        ({"z": np.zeros((2, 4), np.float32)}, "x"),
    ],
)
def test_bad_pipeline_requests_answer_400_and_disturb_nothing(
    server: ServerProcess, repo: dict[str, Path], inputs: dict[str, np.ndarray], fragment: str
) -> None:
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    tensors = []
    for name, value in inputs.items():
        tensor = httpclient.InferInput(
            name, list(value.shape), "FP32" if value.dtype == np.float32 else "INT32"
        )
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    with pytest.raises(InferenceServerException) as err:
        rest.infer("chain", tensors)
    assert err.value.status() == "400"
    assert fragment in str(err.value)
    tfs = ovmsclient.make_grpc_client(server.grpc_address)
    np.testing.assert_allclose(tfs.predict({"x": X}, "chain"), chained(repo, X), rtol=1e-6)


def test_a_pipeline_takes_images_as_its_model_does(server: ServerProcess, repo: dict[str, Path]) -> None:
    """JPEG bytes to the pipeline's image input: decoded (BGR, NHWC, resized) as for the model."""
    rng = np.random.default_rng(2)
    picture = np.clip(rng.normal(128, 40, (40, 48, 3)), 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", picture)
    assert ok
    decoded = cv2.resize(cv2.imdecode(jpeg, cv2.IMREAD_COLOR).astype(np.float32), (32, 32))
    nchw = np.ascontiguousarray(decoded[np.newaxis].transpose(0, 3, 1, 2))
    expected = reference(model_file(repo["cnn_image"]), {"image": nchw})["probs"]
    client = grpcclient.InferenceServerClient(server.grpc_address)
    tensor = grpcclient.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([jpeg.tobytes()], dtype=object))
    np.testing.assert_allclose(
        client.infer("classify_image", [tensor]).as_numpy("probs"), expected, rtol=1e-4, atol=1e-5
    )
