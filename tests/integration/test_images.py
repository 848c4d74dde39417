"""JPEG/PNG inputs on every API, as OVMS takes them, against the running server.

Every served answer is compared with in-process OpenVINO run on the same image decoded
here with OpenCV directly (BGR, NHWC, resized bilinearly to the model's size).

Catalog models (tests/models.py): ``cnn_nhwc`` is the NCHW CNN served with layout
``NHWC:NCHW`` and batch 1 (static, so images are resized); ``cnn_nhwc_dynamic`` the same
with a -1 batch (images must have the model's size); ``cnn_nchw`` has layout NCHW (refuses
images); ``pixels`` answers its U8 [1,24,32,3] NHWC input as FP32, so every decoded value is
visible; ``pixels_gray`` takes [1,-1,-1,1] FP32; ``pixels_i64`` an I64 input.
"""

from __future__ import annotations

import base64
import http.client
import json
import struct
from collections.abc import Sequence
from pathlib import Path

import cv2
import grpc
import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import model_file, reference
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from serverproc import HOST, ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc

APIS = ["kserve_rest", "kserve_grpc", "tfs_rest", "tfs_grpc"]


def photo(height: int, width: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A smooth BGR picture (JPEG keeps it close) with some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), ((x + y) * 3) % 256]
    image = np.stack(planes[:channels], axis=-1) + rng.integers(0, 20, (height, width, channels))
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return image if image.ndim == 3 else image[:, :, np.newaxis]


def cnn_reference(repo: dict[str, Path], model: str, blobs: Sequence[bytes], size: int = 32) -> np.ndarray:
    """probs of the CNN (NCHW in the file) on the images as the server should prepare them."""
    batch = [cv2.resize(decoded(b).astype(np.float32), (size, size)) for b in blobs]
    nchw = np.stack(batch).transpose(0, 3, 1, 2)
    return reference(model_file(repo[model]), {"image": np.ascontiguousarray(nchw)})["probs"]


def length_prefixed(blobs: Sequence[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in blobs)


# -- one request, four APIs ------------------------------------------------------------
class Answer:
    """Outputs of a good request, or the error's status (HTTP code or gRPC code name) and text."""

    def __init__(
        self, outputs: dict[str, np.ndarray] | None = None, status: str = "", text: str = ""
    ) -> None:
        self.outputs = outputs or {}
        self.status = status
        self.text = text


def ask(server: ServerProcess, api: str, model: str, blobs: Sequence[bytes], name: str = "image") -> Answer:
    """Send ``blobs`` as one string input the way each API's clients send images."""
    if api == "kserve_rest":
        return _kserve_rest(server, model, name, blobs)
    if api == "kserve_grpc":
        return _kserve_grpc(server, model, name, blobs)
    if api == "tfs_rest":
        return _tfs_rest(server, model, name, blobs)
    return _tfs_grpc(server, model, name, blobs)


def _kserve_rest(server: ServerProcess, model: str, name: str, blobs: Sequence[bytes]) -> Answer:
    raw = length_prefixed(blobs)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": [len(blobs)],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    connection = http.client.HTTPConnection(HOST, server.rest_port, timeout=60)
    try:
        connection.request(
            "POST",
            f"/v2/models/{model}/infer",
            header + raw,
            {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
        )
        reply = connection.getresponse()
        body = reply.read()
        if reply.status != 200:
            return Answer(status=str(reply.status), text=json.loads(body)["error"])
        length = int(reply.getheader("Inference-Header-Content-Length") or len(body))
        outputs, offset = {}, length
        for output in json.loads(body[:length])["outputs"]:
            size = output["parameters"]["binary_data_size"]
            dtype = {"FP32": np.float32}[output["datatype"]]
            outputs[output["name"]] = np.frombuffer(body[offset : offset + size], dtype).reshape(
                output["shape"]
            )
            offset += size
        return Answer(outputs)
    finally:
        connection.close()


def _kserve_grpc(server: ServerProcess, model: str, name: str, blobs: Sequence[bytes]) -> Answer:
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name=name, datatype="BYTES", shape=[len(blobs)]).contents.bytes_contents.extend(blobs)
    with grpc.insecure_channel(server.grpc_address) as channel:
        try:
            response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=60)
        except grpc.RpcError as error:
            return Answer(status=error.code().name, text=error.details())
    outputs = {
        out.name: np.frombuffer(raw, np.float32).reshape(tuple(out.shape))
        for out, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }
    return Answer(outputs)


def _tfs_rest(server: ServerProcess, model: str, name: str, blobs: Sequence[bytes]) -> Answer:
    body = json.dumps({"instances": [{name: {"b64": base64.b64encode(b).decode()}} for b in blobs]}).encode()
    connection = http.client.HTTPConnection(HOST, server.rest_port, timeout=60)
    try:
        connection.request("POST", f"/v1/models/{model}:predict", body)
        reply = connection.getresponse()
        answer = json.loads(reply.read())
    finally:
        connection.close()
    if reply.status != 200:
        return Answer(status=str(reply.status), text=answer["error"])
    predictions = answer["predictions"]
    first = predictions[0]
    names = list(first) if isinstance(first, dict) else ["_"]
    if isinstance(first, dict):
        return Answer({n: np.array([p[n] for p in predictions], np.float32) for n in names})
    return Answer({"_": np.array(predictions, np.float32)})


def _tfs_grpc(server: ServerProcess, model: str, name: str, blobs: Sequence[bytes]) -> Answer:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=list(blobs))
    tensor.tensor_shape.dim.add().size = len(blobs)
    request.inputs[name].CopyFrom(tensor)
    with grpc.insecure_channel(server.grpc_address) as channel:
        try:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
        except grpc.RpcError as error:
            return Answer(status=error.code().name, text=error.details())
    outputs = {}
    for key, proto in response.outputs.items():
        shape = tuple(d.size for d in proto.tensor_shape.dim)
        outputs[key] = np.frombuffer(proto.tensor_content, np.float32).reshape(shape)
    return Answer(outputs)


def only_output(answer: Answer) -> np.ndarray:
    assert not answer.status, f"{answer.status}: {answer.text}"
    [value] = answer.outputs.values()
    return value


def expect_error(answer: Answer, api: str, code: str, *fragments: str) -> None:
    http_status = {"INVALID_ARGUMENT": "400", "UNKNOWN": "500"}[code]
    assert answer.status == (http_status if api.endswith("rest") else code), (answer.status, answer.text)
    for fragment in fragments:
        assert fragment in answer.text, answer.text


# -- the real clients --------------------------------------------------------------------
@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encode(photo(48, 64, seed=5))


def test_ovmsclient_grpc_sends_an_image_as_ovms_users_do(
    server: ServerProcess, repo: dict[str, Path], jpeg: bytes
) -> None:
    client = ovmsclient.make_grpc_client(server.grpc_address)
    served = client.predict({"image": jpeg}, "cnn_nhwc")
    np.testing.assert_allclose(served, cnn_reference(repo, "cnn_nhwc", [jpeg]), rtol=1e-5, atol=1e-6)


def test_ovmsclient_http_sends_an_image_as_b64(
    server: ServerProcess, repo: dict[str, Path], jpeg: bytes
) -> None:
    client = ovmsclient.make_http_client(server.rest_url.removeprefix("http://"))
    served = client.predict({"image": jpeg}, "cnn_nhwc")
    np.testing.assert_allclose(
        np.asarray(served, np.float32), cnn_reference(repo, "cnn_nhwc", [jpeg]), rtol=1e-5, atol=1e-6
    )


def test_tritonclient_http_binary_bytes(server: ServerProcess, repo: dict[str, Path], jpeg: bytes) -> None:
    client = httpclient.InferenceServerClient(url=server.rest_url.removeprefix("http://"))
    try:
        item = httpclient.InferInput("image", [1], "BYTES")
        item.set_data_from_numpy(np.array([jpeg], dtype=object), binary_data=True)
        served = client.infer("cnn_nhwc", [item]).as_numpy("probs")
    finally:
        client.close()
    np.testing.assert_allclose(served, cnn_reference(repo, "cnn_nhwc", [jpeg]), rtol=1e-5, atol=1e-6)


def test_tritonclient_grpc_raw_bytes(server: ServerProcess, repo: dict[str, Path], jpeg: bytes) -> None:
    client = grpcclient.InferenceServerClient(url=server.grpc_address)
    try:
        item = grpcclient.InferInput("image", [1], "BYTES")
        item.set_data_from_numpy(np.array([jpeg], dtype=object))  # raw_input_contents, length-prefixed
        served = client.infer("cnn_nhwc", [item]).as_numpy("probs")
    finally:
        client.close()
    np.testing.assert_allclose(served, cnn_reference(repo, "cnn_nhwc", [jpeg]), rtol=1e-5, atol=1e-6)


# -- every API: decoding, resizing, batches ---------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_resized_pixels_are_opencvs(server: ServerProcess, api: str) -> None:
    data = encode(photo(50, 70, seed=1))
    expected = cv2.resize(decoded(data), (32, 24)).astype(np.float32)  # U8 input: resized in U8
    served = only_output(ask(server, api, "pixels", [data]))
    np.testing.assert_array_equal(served, expected[np.newaxis])


@pytest.mark.parametrize("api", APIS)
def test_png_grey_image_on_a_dynamic_input_keeps_its_size(server: ServerProcess, api: str) -> None:
    grey = photo(9, 13, seed=2, channels=1)[:, :, 0]
    served = only_output(ask(server, api, "pixels_gray", [encode(grey, ".png")]))
    np.testing.assert_array_equal(served, grey.astype(np.float32)[np.newaxis, :, :, np.newaxis])


@pytest.mark.parametrize("api", APIS)
def test_a_batch_of_images_on_a_dynamic_batch(server: ServerProcess, repo: dict[str, Path], api: str) -> None:
    blobs = [encode(photo(32, 32, seed=s), ".png") for s in (3, 4, 5)]
    served = only_output(ask(server, api, "cnn_nhwc_dynamic", blobs))
    np.testing.assert_allclose(served, cnn_reference(repo, "cnn_nhwc_dynamic", blobs), rtol=1e-5, atol=1e-6)


# -- every API: OVMS's errors ------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_image_errors(server: ServerProcess, api: str, jpeg: bytes) -> None:
    png32 = encode(photo(32, 32), ".png")
    expect_error(
        ask(server, api, "cnn_nhwc", [jpeg, jpeg]),
        api,
        "INVALID_ARGUMENT",
        "Invalid input batch size",
        "Expected: 1; Actual: 2",
    )
    expect_error(
        ask(server, api, "cnn_nchw", [jpeg]), api, "INVALID_ARGUMENT",
        "Received binary image input but resource not configured to accept NHWC layout",
    )  # fmt: skip
    expect_error(
        ask(server, api, "cnn_nhwc_dynamic", [png32, encode(photo(32, 40), ".png")]), api, "INVALID_ARGUMENT",
        "Binary input images for this endpoint are required to have the same resolution",
    )  # fmt: skip
    expect_error(
        ask(server, api, "cnn_nhwc_dynamic", [jpeg]), api, "INVALID_ARGUMENT",
        "Invalid input shape - Expected: (-1,32,32,3); Actual: (1,48,64,3)",
    )  # fmt: skip
    expect_error(
        ask(server, api, "pixels_gray", [jpeg]), api, "INVALID_ARGUMENT",
        "Invalid number of channels in binary input - Expected: 1; Actual: 3",
    )  # fmt: skip
    expect_error(
        ask(server, api, "pixels_i64", [jpeg]),
        api,
        "INVALID_ARGUMENT",
        "Invalid input precision - Expected: I64",
    )
    empty = "String val is empty" if api.startswith("tfs") else "Bytes contents is empty"
    expect_error(ask(server, api, "cnn_nhwc", [b""]), api, "INVALID_ARGUMENT", empty, "item 0 of input image")
    expect_error(ask(server, api, "cnn_nhwc", [b"no image at all"]), api, "UNKNOWN", "Image parsing failed")
    # and the server goes on serving images
    assert only_output(ask(server, api, "cnn_nhwc", [jpeg])).shape == (1, 10)


def test_kserve_request_shape_must_be_one_dimensional(server: ServerProcess, jpeg: bytes) -> None:
    request = service_pb2.ModelInferRequest(model_name="cnn_nhwc")
    request.inputs.add(name="image", datatype="BYTES", shape=[1, 1]).contents.bytes_contents.append(jpeg)
    with grpc.insecure_channel(server.grpc_address) as channel, pytest.raises(grpc.RpcError) as caught:
        service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expected number of binary input shape dimensions: 1; Actual: 2" in caught.value.details()


def test_kserve_json_bytes_reach_the_image_path(server: ServerProcess) -> None:
    """JSON strings are UTF-8, so no real image fits in them; they still take the image path."""

    def post(data: list[str]) -> tuple[int, str]:
        body = {"inputs": [{"name": "image", "shape": [len(data)], "datatype": "BYTES", "data": data}]}
        connection = http.client.HTTPConnection(HOST, server.rest_port, timeout=60)
        try:
            connection.request("POST", "/v2/models/cnn_nhwc/infer", json.dumps(body))
            reply = connection.getresponse()
            return reply.status, json.loads(reply.read())["error"]
        finally:
            connection.close()

    status, text = post([""])
    assert status == 400 and text.startswith("Bytes contents is empty")
    status, text = post(["not an image"])
    assert status == 500 and text.startswith("Image parsing failed")
    status, text = post(["a", "b"])
    assert status == 400 and text.startswith("Invalid input batch size - Expected: 1; Actual: 2")
