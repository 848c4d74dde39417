"""TF Serving gRPC against the running server, with ovmsclient (a client nobody here wrote).

Every served output is compared with in-process OpenVINO on the same input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import ovmsclient
import pytest
from models import model_file, reference
from ovmsclient.tfs_compat.base.errors import ModelNotFoundError
from serverproc import ServerProcess

IDENTITY = {
    "identity_fp32": (np.float32, (1, 10)),
    "identity_fp16": (np.float16, (2, 3)),
    "identity_fp64": (np.float64, (2, 3)),
    "identity_int8": (np.int8, (2, 3)),
    "identity_int16": (np.int16, (2, 3)),
    "identity_int32": (np.int32, (2, 3)),
    "identity_int64": (np.int64, (2, 3)),
    "identity_uint8": (np.uint8, (2, 3)),
    "identity_uint16": (np.uint16, (2, 3)),
    "identity_uint32": (np.uint32, (2, 3)),
    "identity_uint64": (np.uint64, (2, 3)),
    "identity_bool": (np.bool_, (2, 3)),
}
TF_DTYPE = {
    np.float32: "DT_FLOAT",
    np.float16: "DT_HALF",
    np.float64: "DT_DOUBLE",
    np.int8: "DT_INT8",
    np.int16: "DT_INT16",
    np.int32: "DT_INT32",
    np.int64: "DT_INT64",
    np.uint8: "DT_UINT8",
    np.uint16: "DT_UINT16",
    np.uint32: "DT_UINT32",
    np.uint64: "DT_UINT64",
    np.bool_: "DT_BOOL",
}


def random_input(dtype: type, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Values that use the dtype's whole range (extremes included)."""
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(dtype, np.floating):
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    data = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    data.flat[0], data.flat[-1] = info.min, info.max
    return data


def assert_matches(served: np.ndarray, expected: np.ndarray) -> None:
    assert served.shape == expected.shape
    if np.issubdtype(expected.dtype, np.floating):
        assert served.dtype == expected.dtype
        np.testing.assert_allclose(served, expected, rtol=1e-5)
    elif expected.dtype == object:
        assert [bytes(v) for v in served.ravel()] == [bytes(v) for v in expected.ravel()]
    else:
        assert served.dtype == expected.dtype
        np.testing.assert_array_equal(served, expected)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Any:
    return ovmsclient.make_grpc_client(server.grpc_address)


@pytest.mark.parametrize("name", list(IDENTITY))
def test_predict_every_dtype(client: Any, repo: dict[str, Path], name: str) -> None:
    dtype, shape = IDENTITY[name]
    data = random_input(dtype, shape)
    served = client.predict({"in": data}, name)
    assert_matches(served, reference(model_file(repo[name]), {"in": data})["out"])


def test_predict_strings(client: Any, repo: dict[str, Path]) -> None:
    data = np.array([b"hello", b"", "zażółć".encode(), bytes([0, 255, 7])])
    served = client.predict({"text": data}, "strings")
    expected = reference(model_file(repo["strings"]), {"text": data})["text"]
    assert served.tolist() == list(expected)


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_predict_dynamic_batch(client: Any, repo: dict[str, Path], batch: int) -> None:
    data = random_input(np.float32, (batch, 4), seed=batch)
    served = client.predict({"x": data}, "dynamic")
    assert_matches(served, reference(model_file(repo["dynamic"]), {"x": data})["y"])


def test_predict_multi_input_multi_output(client: Any, repo: dict[str, Path]) -> None:
    inputs = {"a": np.array([[0.5, -1.5, 2.25]], np.float32), "b": np.array([[3, -4, 5]], np.int32)}
    served = client.predict(inputs, "multi_io")
    expected = reference(model_file(repo["multi_io"]), inputs)
    assert set(served) == {"sum", "prod"}
    for name in expected:
        assert_matches(served[name], expected[name])


def test_predict_cnn(client: Any, repo: dict[str, Path]) -> None:
    image = np.random.default_rng(5).random((2, 3, 32, 32), dtype=np.float32)
    served = client.predict({"image": image}, "cnn")
    assert_matches(served, reference(model_file(repo["cnn"]), {"image": image})["probs"])
    np.testing.assert_allclose(served.sum(axis=1), 1.0, rtol=1e-5)


def test_versions_compute_differently_and_default_is_newest(client: Any, repo: dict[str, Path]) -> None:
    data = np.array([[1, 2, 3, 4]], np.float32)
    v1 = client.predict({"x": data}, "versions", 1)
    v2 = client.predict({"x": data}, "versions", 2)
    newest = client.predict({"x": data}, "versions")
    assert_matches(v1, reference(model_file(repo["versions"], 1), {"x": data})["y"])
    assert_matches(v2, reference(model_file(repo["versions"], 2), {"x": data})["y"])
    assert not np.array_equal(v1, v2)
    np.testing.assert_array_equal(newest, v2)


def test_scalar_input_in_a_typed_field(client: Any) -> None:
    # ovmsclient puts a Python scalar in float_val rather than tensor_content
    served = client.predict({"x": [[1.0, 2.0, 3.0, 4.0]]}, "dynamic")
    np.testing.assert_allclose(served, [[3.0, 5.0, 7.0, 9.0]], rtol=1e-5)


@pytest.mark.parametrize("name", list(IDENTITY))
def test_metadata_every_dtype(client: Any, name: str) -> None:
    dtype, shape = IDENTITY[name]
    tensor = {"dtype": TF_DTYPE[dtype], "shape": list(shape)}
    assert client.get_model_metadata(name) == {
        "model_version": 1,
        "inputs": {"in": tensor},
        "outputs": {"out": tensor},
    }


def test_metadata_dynamic_multi_io_and_versions(client: Any) -> None:
    assert client.get_model_metadata("dynamic") == {
        "model_version": 1,
        "inputs": {"x": {"dtype": "DT_FLOAT", "shape": [-1, 4]}},
        "outputs": {"y": {"dtype": "DT_FLOAT", "shape": [-1, 4]}},
    }
    meta = client.get_model_metadata("multi_io")
    assert meta["inputs"] == {
        "a": {"dtype": "DT_FLOAT", "shape": [1, 3]},
        "b": {"dtype": "DT_INT32", "shape": [1, 3]},
    }
    assert meta["outputs"] == {
        "sum": {"dtype": "DT_FLOAT", "shape": [1, 3]},
        "prod": {"dtype": "DT_INT32", "shape": [1, 3]},
    }
    assert client.get_model_metadata("strings")["inputs"] == {"text": {"dtype": "DT_STRING", "shape": [-1]}}
    assert client.get_model_metadata("versions")["model_version"] == 2
    assert client.get_model_metadata("versions", 1)["model_version"] == 1


def test_status(client: Any) -> None:
    available = {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
    assert client.get_model_status("versions") == {1: available, 2: available}
    assert client.get_model_status("versions", 1) == {1: available}
    assert client.get_model_status("cnn") == {1: available}


def test_unknown_model_and_version_raise_not_found(client: Any) -> None:
    data = np.zeros((1, 4), np.float32)
    with pytest.raises(ModelNotFoundError, match="requested name is not found"):
        client.predict({"x": data}, "no_such_model")
    with pytest.raises(ModelNotFoundError, match="requested version is not found"):
        client.predict({"x": data}, "versions", 9)
    with pytest.raises(ModelNotFoundError):
        client.get_model_metadata("no_such_model")
    with pytest.raises(ModelNotFoundError):
        client.get_model_status("versions", 9)
