"""Pipelines with custom and Python nodes, through tritonclient and ovmsclient.

- detect -> crop (a Python node, OVMS's ``OvmsPythonModel`` contract, dynamic demultiplexing) ->
  classify, gathered at ``response``: each detected box is cut out and classified on its own; a
  request where nothing is detected answers OVMS's "no content" (HTTP 204 / gRPC ABORTED);
- scale2 -> add_one (a C custom node compiled here against ovserve's custom_node_interface.h)
  -> scale3.

Every answer is compared with the same steps run in-process: the models with OpenVINO (f32),
the crop and the add in NumPy.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from custom_nodes import build
from models import F32, add_scaled, model_file, reference, save, small_cnn
from openvino import Model, Type
from openvino import opset13 as ops
from serverproc import HOST, ServerProcess
from tritonclient.utils import InferenceServerException

SIZE = 32  # image side; each quadrant (16 x 16) is a candidate box
CROP = """
import numpy as np
from pyovms import Tensor


class OvmsPythonModel:
    def initialize(self, kwargs):
        self.node = kwargs.get("node_name")

    def execute(self, inputs):
        image, boxes = (np.asarray(t) for t in inputs)
        crops = [
            image[:, :, int(y0):int(y1), int(x0):int(x1)]
            for x0, y0, x1, y1, score in boxes[0]
            if score > 0
        ]
        stacked = np.stack(crops) if crops else np.zeros((0, 1, 3, 16, 16), np.float32)
        return [Tensor("crops", np.ascontiguousarray(stacked, dtype=np.float32))]
"""


def detector() -> Model:
    """``image`` [1,3,32,32] -> ``boxes`` [1,4,5]: the four quadrants (x0,y0,x1,y1) with a score,
    the quadrant's mean value (so a request decides how many boxes are positive)."""
    image = ops.parameter([1, 3, SIZE, SIZE], Type.f32, name="image")
    image.output(0).get_tensor().set_names({"image"})
    half = SIZE // 2
    tiles = ops.reshape(image, ops.constant(np.array([1, 3, 2, half, 2, half], np.int64)), False)
    means = ops.reduce_mean(tiles, ops.constant(np.array([1, 3, 5], np.int64)), keep_dims=False)  # [1,2,2]
    scores = ops.reshape(means, ops.constant(np.array([1, 4, 1], np.int64)), False)
    corners = np.array(
        [[0, 0, half, half], [half, 0, SIZE, half], [0, half, half, SIZE], [half, half, SIZE, SIZE]]
    )
    coords = ops.constant(corners.reshape(1, 4, 4).astype(np.float32))
    boxes = ops.concat([coords, scores], 2)
    boxes.output(0).get_tensor().set_names({"boxes"})
    return Model([boxes], [image], "detector")


def crop_in_numpy(image: np.ndarray, boxes: np.ndarray) -> list[np.ndarray]:
    return [image[:, :, int(y0) : int(y1), int(x0) : int(x1)] for x0, y0, x1, y1, s in boxes[0] if s > 0]


def src(node: str, item: str) -> dict[str, str]:
    return {"node_name": node, "data_item": item}


def node(
    name: str, kind: str, inputs: dict[str, dict[str, str]], outputs: list[str], **extra: object
) -> dict[str, object]:
    return {
        "name": name,
        "type": kind,
        "inputs": [{k: v} for k, v in inputs.items()],
        "outputs": [{"data_item": o, "alias": o} for o in outputs],
        **extra,
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("node_models")
    return {
        "detect": save(detector(), root / "detect"),
        "classify": save(small_cnn(seed=3, size=16), root / "classify"),
        "scale2": save(add_scaled((-1, 4), scale=2.0), root / "scale2"),
        "scale3": save(add_scaled((-1, 4), scale=3.0), root / "scale3"),
    }


@pytest.fixture(scope="module")
def server(repo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("node_config")
    (root / "crop.py").write_text(textwrap.dedent(CROP))
    (root / "raising.py").write_text(textwrap.dedent(RAISING))
    library = build("add_one", root)
    detect_classify = {
        "name": "detect_classify",
        "inputs": ["image"],
        "nodes": [
            node("detector", "DL model", {"image": src("request", "image")}, ["boxes"], model_name="detect"),
            node(
                "crop",
                "python",
                {"image": src("request", "image"), "boxes": src("detector", "boxes")},
                ["crops"],
                handler_path="crop.py",
                demultiply_count=-1,
            ),
            node("classifier", "DL model", {"image": src("crop", "crops")}, ["probs"], model_name="classify"),
        ],
        "outputs": [{"probs": src("classifier", "probs")}],
    }
    custom_chain = {
        "name": "custom_chain",
        "inputs": ["x"],
        "nodes": [
            node("first", "DL model", {"x": src("request", "x")}, ["y"], model_name="scale2"),
            node(
                "plus",
                "custom",
                {"input_numbers": src("first", "y")},
                ["output_numbers"],
                library_name="add_one",
                params={"add_number": "0.5"},
            ),
            node("last", "DL model", {"x": src("plus", "output_numbers")}, ["y"], model_name="scale3"),
        ],
        "outputs": [{"y": src("last", "y")}],
    }
    doc = {
        "model_config_list": [
            {"config": {"name": n, "base_path": str(p), "plugin_config": dict(F32)}} for n, p in repo.items()
        ],
        "custom_node_library_config_list": [{"name": "add_one", "base_path": str(library)}],
        "pipeline_config_list": [detect_classify, custom_chain, *broken_pipelines()],
    }
    (root / "config.json").write_text(json.dumps(doc))
    proc = ServerProcess(["--config_path", str(root / "config.json")], root / "ovserve.log")
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log()


def broken_pipelines() -> list[dict[str, object]]:
    """A custom node naming a library config.json does not list; a Python node whose execute raises."""
    return [
        {
            "name": "bad_library",
            "inputs": ["x"],
            "nodes": [
                node(
                    "plus",
                    "custom",
                    {"input_numbers": src("request", "x")},
                    ["output_numbers"],
                    library_name="nope",
                )
            ],
            "outputs": [{"y": src("plus", "output_numbers")}],
        },
        {
            "name": "raising",
            "inputs": ["x"],
            "nodes": [node("boom", "python", {"x": src("request", "x")}, ["y"], handler_path="raising.py")],
            "outputs": [{"y": src("boom", "y")}],
        },
    ]


RAISING = """
class OvmsPythonModel:
    def execute(self, inputs):
        raise ValueError("no boxes today")
"""


def image_with(positive: list[int]) -> np.ndarray:
    """An image whose quadrants in ``positive`` have a positive mean, the others a negative one."""
    rng = np.random.default_rng(5)
    image = rng.uniform(0.1, 1.0, (1, 3, SIZE, SIZE)).astype(np.float32)
    half = SIZE // 2
    for quadrant in range(4):
        if quadrant not in positive:
            y, x = divmod(quadrant, 2)
            image[:, :, y * half : (y + 1) * half, x * half : (x + 1) * half] *= -1
    return image


def expected_probs(repo: dict[str, Path], image: np.ndarray) -> np.ndarray:
    boxes = reference(model_file(repo["detect"]), {"image": image})["boxes"]
    crops = crop_in_numpy(image, boxes)
    return np.stack([reference(model_file(repo["classify"]), {"image": c})["probs"] for c in crops])


@pytest.mark.parametrize("positive", [[0, 3], [1], [0, 1, 2, 3]])
def test_detect_crop_classify_demultiplexes_and_gathers(
    server: ServerProcess, repo: dict[str, Path], positive: list[int]
) -> None:
    image = image_with(positive)
    expected = expected_probs(repo, image)
    assert expected.shape == (len(positive), 1, 10)
    client = grpcclient.InferenceServerClient(server.grpc_address)
    tensor = grpcclient.InferInput("image", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image)
    probs = client.infer("detect_classify", [tensor]).as_numpy("probs")
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    rest = ovmsclient.make_http_client(f"{HOST}:{server.rest_port}")
    np.testing.assert_allclose(
        rest.predict({"image": image}, "detect_classify"), expected, rtol=1e-5, atol=1e-6
    )


def test_nothing_detected_is_no_content(server: ServerProcess) -> None:
    image = image_with([])
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    tensor = httpclient.InferInput("image", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image)
    with pytest.raises(InferenceServerException) as err:
        rest.infer("detect_classify", [tensor])
    assert err.value.status() == "204"
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    gtensor = grpcclient.InferInput("image", list(image.shape), "FP32")
    gtensor.set_data_from_numpy(image)
    with pytest.raises(InferenceServerException) as gerr:
        grpc.infer("detect_classify", [gtensor])
    assert gerr.value.status() == "StatusCode.ABORTED"
    assert "Pipeline execution aborted due to no content from custom node" in str(gerr.value)


def test_c_custom_node_between_two_models(server: ServerProcess, repo: dict[str, Path]) -> None:
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    first = reference(model_file(repo["scale2"]), {"x": x})["y"]
    expected = reference(model_file(repo["scale3"]), {"x": first + np.float32(0.5)})["y"]
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    tensor = httpclient.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    np.testing.assert_allclose(client.infer("custom_chain", [tensor]).as_numpy("y"), expected, rtol=1e-6)
    tfs = ovmsclient.make_grpc_client(server.grpc_address)
    np.testing.assert_allclose(tfs.predict({"x": x}, "custom_chain"), expected, rtol=1e-6)


def test_a_missing_library_is_the_pipelines_status(server: ServerProcess) -> None:
    (status,) = ovmsclient.make_grpc_client(server.grpc_address).get_model_status("bad_library").values()
    assert status["state"] == "LOADING" and status["error_code"] == 9  # FAILED_PRECONDITION
    assert "nope" in status["error_message"], status


def test_a_failing_python_node_is_named_and_the_server_stays_up(
    server: ServerProcess, repo: dict[str, Path]
) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    x = np.ones((1, 4), np.float32)
    tensor = httpclient.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as err:
        client.infer("raising", [tensor])
    assert "no boxes today" in str(err.value) and "boom" in str(err.value)
    assert err.value.status() == "500"
    test_c_custom_node_between_two_models(server, repo)  # the others still answer
