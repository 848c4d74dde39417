"""TF Serving REST against the running server: ovmsclient's HTTP client, plus raw HTTP for the
parts it does not cover (row format, the status and metadata documents, labels)."""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import ovmsclient
import pytest
from models import model_file, reference
from ovmsclient.tfs_compat.base.errors import ModelNotFoundError
from serverproc import ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers of the sibling TFS tests
from test_tfs_grpc import IDENTITY, TF_DTYPE, assert_matches, random_input


def http(server: ServerProcess, method: str, path: str, body: object = None) -> tuple[int, Any]:
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(server.rest_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.headers["Content-Type"] == "application/json"
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Any:
    return ovmsclient.make_http_client(f"{server.rest_url.removeprefix('http://')}")


@pytest.mark.parametrize("name", list(IDENTITY))
def test_predict_every_dtype(client: Any, server: ServerProcess, repo: dict[str, Path], name: str) -> None:
    dtype, shape = IDENTITY[name]
    data = random_input(dtype, shape, seed=1)
    expected = reference(model_file(repo[name]), {"in": data})["out"]
    if dtype == np.uint64:
        # ovmsclient turns the JSON answer into np.array(list), which goes through float64 for
        # integers past int64; read the exact integers from the raw answer instead.
        status, answer = http(server, "POST", f"/v1/models/{name}:predict", {"inputs": {"in": data.tolist()}})
        assert status == 200
        served = np.array(answer["outputs"], dtype=np.uint64)
    else:
        served = client.predict({"in": data}, name)  # JSON has no dtype: compare as the model's dtype
    assert_matches(np.asarray(served).astype(expected.dtype), expected)


def test_predict_strings_b64_in_text_out(client: Any, repo: dict[str, Path]) -> None:
    data = np.array([b"hello", "zażółć".encode(), b"x"])
    served = client.predict({"text": data}, "strings")
    expected = reference(model_file(repo["strings"]), {"text": data})["text"]
    assert [s.encode() for s in served.tolist()] == list(expected)


def test_predict_multi_io_cnn_and_dynamic(client: Any, repo: dict[str, Path]) -> None:
    inputs = {"a": np.array([[0.5, -1.5, 2.25]], np.float32), "b": np.array([[3, -4, 5]], np.int32)}
    served = client.predict(inputs, "multi_io")
    for name, value in reference(model_file(repo["multi_io"]), inputs).items():
        assert_matches(served[name].astype(value.dtype), value)
    image = np.random.default_rng(2).random((3, 3, 32, 32), dtype=np.float32)
    served = client.predict({"image": image}, "cnn")
    assert_matches(served.astype(np.float32), reference(model_file(repo["cnn"]), {"image": image})["probs"])
    data = random_input(np.float32, (5, 4), seed=3)
    served = client.predict({"x": data}, "dynamic")
    assert_matches(served.astype(np.float32), reference(model_file(repo["dynamic"]), {"x": data})["y"])


def test_versions(client: Any, repo: dict[str, Path]) -> None:
    data = np.array([[1, 2, 3, 4]], np.float32)
    for version in (1, 2):
        served = client.predict({"x": data}, "versions", version).astype(np.float32)
        assert_matches(served, reference(model_file(repo["versions"], version), {"x": data})["y"])
    newest = client.predict({"x": data}, "versions")
    np.testing.assert_array_equal(newest, client.predict({"x": data}, "versions", 2))
    assert not np.array_equal(newest, client.predict({"x": data}, "versions", 1))


def test_row_format(server: ServerProcess, repo: dict[str, Path]) -> None:
    data = random_input(np.float32, (3, 4), seed=4)
    status, answer = http(server, "POST", "/v1/models/dynamic:predict", {"instances": data.tolist()})
    assert status == 200
    assert_matches(
        np.array(answer["predictions"], np.float32), reference(model_file(repo["dynamic"]), {"x": data})["y"]
    )
    inputs = {"a": np.array([[1.0, 2.0, 3.0]], np.float32), "b": np.array([[4, 5, 6]], np.int32)}
    instances = [{"a": inputs["a"][0].tolist(), "b": inputs["b"][0].tolist()}]
    status, answer = http(server, "POST", "/v1/models/multi_io/versions/1:predict", {"instances": instances})
    assert status == 200
    expected = reference(model_file(repo["multi_io"]), inputs)
    assert answer == {
        "predictions": [{"sum": expected["sum"][0].tolist(), "prod": expected["prod"][0].tolist()}]
    }


def test_column_b64_and_strings_raw(server: ServerProcess) -> None:
    raw = bytes([0, 1, 255])
    body = {"inputs": {"text": [{"b64": base64.b64encode(raw).decode()}, "plain"]}}
    status, answer = http(server, "POST", "/v1/models/strings:predict", body)
    assert (status, answer) == (200, {"outputs": [{"b64": base64.b64encode(raw).decode()}, "plain"]})


def test_metadata(client: Any, server: ServerProcess) -> None:
    for name, (dtype, shape) in IDENTITY.items():
        tensor = {"dtype": TF_DTYPE[dtype], "shape": list(shape)}
        assert client.get_model_metadata(name) == {
            "inputs": {"in": tensor},
            "outputs": {"out": tensor},
            "model_version": 1,
        }
    assert client.get_model_metadata("versions")["model_version"] == 2
    assert client.get_model_metadata("versions", 1)["model_version"] == 1
    status, answer = http(server, "GET", "/v1/models/dynamic/metadata")
    assert status == 200
    assert answer["modelSpec"] == {"name": "dynamic", "signatureName": "", "version": "1"}
    signature = answer["metadata"]["signature_def"]
    assert signature["@type"] == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    assert signature["signatureDef"]["serving_default"]["inputs"]["x"] == {
        "dtype": "DT_FLOAT",
        "name": "x",
        "tensorShape": {"dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}], "unknownRank": False},
    }


def test_status(client: Any, server: ServerProcess) -> None:
    available = {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
    assert client.get_model_status("versions") == {1: available, 2: available}
    assert client.get_model_status("versions", 2) == {2: available}
    ok = {"error_code": "OK", "error_message": "OK"}
    assert http(server, "GET", "/v1/models/versions") == (
        200,
        {
            "model_version_status": [
                {"version": "2", "state": "AVAILABLE", "status": ok},
                {"version": "1", "state": "AVAILABLE", "status": ok},
            ]
        },
    )
    assert (
        http(server, "GET", "/v1/models/versions/labels/stable")[1]
        == http(server, "GET", "/v1/models/versions")[1]
    )
    assert http(server, "GET", "/v1/models/cnn/versions/1") == (
        200,
        {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": ok}]},
    )


def test_not_found(client: Any, server: ServerProcess) -> None:
    with pytest.raises(ModelNotFoundError, match="requested name is not found"):
        client.predict({"x": np.zeros((1, 4), np.float32)}, "no_such_model")
    with pytest.raises(ModelNotFoundError, match="requested version is not found"):
        client.get_model_metadata("versions", 5)
    with pytest.raises(ModelNotFoundError):
        client.get_model_status("no_such_model")
    status, answer = http(server, "POST", "/v1/models/dynamic:classify", {"examples": []})
    assert status == 404 and answer["error"].startswith("Requested REST resource not found")
    status, answer = http(server, "POST", "/v1/models/dynamic/versions/1:regress", {"examples": []})
    assert status == 404 and answer["error"].startswith("Requested REST resource not found")
