"""mapping_config.json: renamed tensors in every API, from local disk and from S3 (moto).

One ovserve serves a multi-input multi-output model renamed by its mapping file (locally and
copied from S3), a model whose config shape uses the exposed names, and models whose mapping
or config is wrong. Real clients (tritonclient over REST and gRPC, ovmsclient over gRPC and
REST) must see only the exposed names, and the answers must equal in-process OpenVINO.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import F32, add_scaled, model_file, multi_io, reference, save
from serverproc import HOST, ServerProcess
from storage_emulators import MotoS3
from tritonclient.utils import InferenceServerException

MAPPING = {"inputs": {"a": "first", "b": "second"}, "outputs": {"sum": "total"}}
#: exposed name -> name in the model file
REAL = {"first": "a", "second": "b", "total": "sum", "prod": "prod"}
INPUTS = {
    "first": np.array([[0.5, -1.25, 3.0]], np.float32),
    "second": np.array([[7, -2, 4]], np.int32),
}
DTYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32"}
#: model -> (what is wrong, the text its status must show)
BROKEN = {
    "bad_json": ('{"inputs": {"a": "first"', "mapping_config.json is not a valid JSON file"),
    "bad_types": ('{"inputs": ["a"]}', "mapping_config.json: inputs must be an object"),
    "unknown_tensor": ('{"outputs": {"nope": "x"}}', "the model has no output named 'nope'"),
    "real_name_in_shape": (json.dumps(MAPPING), "Shape from config has real name. Use mapped name instead"),
}


def expected_outputs(base: Path) -> dict[str, np.ndarray]:
    """In-process OpenVINO on the model file, by exposed output name."""
    real = reference(model_file(base), {REAL[k]: v for k, v in INPUTS.items()})
    return {exposed: real[name] for exposed, name in REAL.items() if name in real}


def assert_outputs(served: dict[str, np.ndarray], base: Path, check_dtype: bool = True) -> None:
    expected = expected_outputs(base)
    assert set(served) == set(expected) == {"total", "prod"}
    for name, value in expected.items():
        assert served[name].dtype == value.dtype or not check_dtype
        np.testing.assert_allclose(served[name], value, rtol=1e-6)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    store = MotoS3(tmp_path_factory.mktemp("moto"))
    store.start()
    try:
        yield store
    finally:
        store.stop()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mapped-models")
    paths = {"mapped": save(multi_io(), root / "mapped"), "shaped": save(add_scaled(), root / "shaped")}
    (paths["mapped"] / "1" / "mapping_config.json").write_text(json.dumps(MAPPING))
    (paths["shaped"] / "1" / "mapping_config.json").write_text(
        json.dumps({"inputs": {"x": "features"}, "outputs": {"y": "scores"}})
    )
    for name, (text, _) in BROKEN.items():
        paths[name] = save(multi_io(), root / name)
        (paths[name] / "1" / "mapping_config.json").write_text(text)
    return paths


@pytest.fixture(scope="module")
def server(
    repo: dict[str, Path], moto: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    moto.create_bucket("models")
    moto.upload_tree(repo["mapped"], "models", "mapped")
    bases = {name: str(path) for name, path in repo.items()} | {"mapped_s3": moto.url_for("models", "mapped")}
    shapes = {"shaped": {"features": "(2,4)"}, "real_name_in_shape": {"a": "(1,3)"}}
    entries = [
        {
            "config": {"name": n, "base_path": b, "plugin_config": dict(F32)}
            | ({"shape": shapes[n]} if n in shapes else {})
        }
        for n, b in bases.items()
    ]
    tmp = tmp_path_factory.mktemp("mapped-server")
    config = tmp / "config.json"
    config.write_text(json.dumps({"model_config_list": entries}))
    with mock.patch.dict(os.environ):
        for name in [n for n in os.environ if re.match(r"^(AWS_|S3_)", n) and n != "AWS_CA_BUNDLE"]:
            del os.environ[name]
        os.environ.update(moto.env())
        proc = ServerProcess(["--config_path", str(config)], tmp / "log.txt").start(timeout=90)
    yield proc
    assert proc.stop() == 0, proc.log()


@pytest.mark.parametrize("name", ["mapped", "mapped_s3"])
def test_tritonclient_rest_sees_exposed_names(
    server: ServerProcess, repo: dict[str, Path], name: str
) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    meta = client.get_model_metadata(name)
    assert [(t["name"], t["datatype"]) for t in meta["inputs"]] == [("first", "FP32"), ("second", "INT32")]
    assert [t["name"] for t in meta["outputs"]] == ["total", "prod"]
    for binary in (False, True):
        request = []
        for key, value in INPUTS.items():
            tensor = httpclient.InferInput(key, list(value.shape), DTYPES[value.dtype])
            tensor.set_data_from_numpy(value, binary_data=binary)
            request.append(tensor)
        result = client.infer(name, request)
        assert_outputs(
            {o["name"]: result.as_numpy(o["name"]) for o in result.get_response()["outputs"]}, repo["mapped"]
        )


@pytest.mark.parametrize("name", ["mapped", "mapped_s3"])
def test_tritonclient_grpc_sees_exposed_names(
    server: ServerProcess, repo: dict[str, Path], name: str
) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    meta = client.get_model_metadata(name)
    assert [t.name for t in meta.inputs] == ["first", "second"]
    assert [t.name for t in meta.outputs] == ["total", "prod"]
    request = []
    for key, value in INPUTS.items():
        tensor = grpcclient.InferInput(key, list(value.shape), DTYPES[value.dtype])
        tensor.set_data_from_numpy(value)
        request.append(tensor)
    result = client.infer(name, request, outputs=[grpcclient.InferRequestedOutput("total")])
    assert [o.name for o in result.get_response().outputs] == ["total"]
    np.testing.assert_allclose(result.as_numpy("total"), expected_outputs(repo["mapped"])["total"], rtol=1e-6)
    result = client.infer(name, request)
    assert_outputs({o.name: result.as_numpy(o.name) for o in result.get_response().outputs}, repo["mapped"])


@pytest.mark.parametrize("make", [ovmsclient.make_grpc_client, ovmsclient.make_http_client])
def test_ovmsclient_sees_exposed_names(server: ServerProcess, repo: dict[str, Path], make: Any) -> None:
    address = server.grpc_address if make is ovmsclient.make_grpc_client else f"{HOST}:{server.rest_port}"
    client = make(address)
    meta = client.get_model_metadata("mapped")
    assert set(meta["inputs"]) == {"first", "second"} and set(meta["outputs"]) == {"total", "prod"}
    assert meta["inputs"]["second"]["dtype"] == "DT_INT32" and meta["outputs"]["total"]["shape"] == [1, 3]
    # ovmsclient's REST client builds arrays from JSON lists: float64 and int64
    assert_outputs(client.predict(INPUTS, "mapped"), repo["mapped"], make is ovmsclient.make_grpc_client)


def test_model_file_names_are_not_accepted(server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    request = []
    for key, value in INPUTS.items():
        tensor = httpclient.InferInput(REAL[key], list(value.shape), DTYPES[value.dtype])
        tensor.set_data_from_numpy(value)
        request.append(tensor)
    with pytest.raises(InferenceServerException) as err:
        client.infer("mapped", request)
    assert "Required input: first" in err.value.message()
    wanted = [httpclient.InferRequestedOutput("sum")]
    request = []
    for key, value in INPUTS.items():
        tensor = httpclient.InferInput(key, list(value.shape), DTYPES[value.dtype])
        tensor.set_data_from_numpy(value)
        request.append(tensor)
    with pytest.raises(InferenceServerException) as err:
        client.infer("mapped", request, outputs=wanted)
    assert "sum" in err.value.message()


def test_config_shape_uses_exposed_names(server: ServerProcess, repo: dict[str, Path]) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    meta = client.get_model_metadata("shaped")
    assert [(t.name, list(t.shape)) for t in meta.inputs] == [("features", [2, 4])]
    assert [(t.name, list(t.shape)) for t in meta.outputs] == [("scores", [2, 4])]
    data = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    tensor = grpcclient.InferInput("features", [2, 4], "FP32")
    tensor.set_data_from_numpy(data)
    served = client.infer("shaped", [tensor]).as_numpy("scores")
    np.testing.assert_allclose(served, reference(model_file(repo["shaped"]), {"x": data})["y"], rtol=1e-6)


@pytest.mark.parametrize("name", list(BROKEN))
def test_wrong_mappings_show_a_load_error(server: ServerProcess, name: str) -> None:
    with urllib.request.urlopen(f"{server.rest_url}/v1/models/{name}") as answer:
        status = json.loads(answer.read())["model_version_status"][0]
    assert status["state"] == "LOADING" and status["status"]["error_code"] == "UNKNOWN"
    assert BROKEN[name][1] in status["status"]["error_message"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server.rest_url}/v2/models/{name}/ready")
    assert err.value.code == 404
    assert server.alive()
