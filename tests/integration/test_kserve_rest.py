"""KServe v2 REST through tritonclient.http: every catalog datatype, JSON and binary, checked against OpenVINO."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from models import model_file, reference
from serverproc import ServerProcess

#: catalog model -> (datatype, input shape); every identity model has input ``in`` and output ``out``.
IDENTITIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "identity_fp32": ("FP32", (1, 10)),
    "identity_fp16": ("FP16", (2, 3)),
    "identity_fp64": ("FP64", (2, 3)),
    "identity_int8": ("INT8", (2, 3)),
    "identity_int16": ("INT16", (2, 3)),
    "identity_int32": ("INT32", (2, 3)),
    "identity_int64": ("INT64", (2, 3)),
    "identity_uint8": ("UINT8", (2, 3)),
    "identity_uint16": ("UINT16", (2, 3)),
    "identity_uint32": ("UINT32", (2, 3)),
    "identity_uint64": ("UINT64", (2, 3)),
    "identity_bool": ("BOOL", (2, 3)),
}
NUMPY = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


def values(datatype: str, shape: Sequence[int], seed: int = 1) -> np.ndarray:
    """Test data that reaches the edges of integer types."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(NUMPY[datatype])
    count = int(np.prod(shape))
    if dtype == np.bool_:
        return rng.integers(0, 2, count).astype(bool).reshape(shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        out = rng.integers(info.min, info.max, count, dtype=dtype, endpoint=True)
        out[0], out[-1] = info.min, info.max
        return out.reshape(shape)
    return (rng.standard_normal(count) * 10).astype(dtype).reshape(shape)


def assert_matches(served: np.ndarray | None, expected: np.ndarray) -> None:
    assert served is not None
    assert served.shape == expected.shape
    if expected.dtype.kind == "f":
        assert served.dtype == expected.dtype
        np.testing.assert_allclose(served, expected, rtol=1e-5)
    elif expected.dtype == object:
        assert [x if isinstance(x, bytes) else x.encode() for x in served.ravel()] == list(expected.ravel())
    else:
        assert served.dtype == expected.dtype
        np.testing.assert_array_equal(served, expected)


def as_fixed_bytes(texts: np.ndarray) -> np.ndarray:
    """OpenVINO's Python API takes string inputs as a numpy ``S`` array, not an object array."""
    return np.array(list(texts), dtype=bytes)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    c = httpclient.InferenceServerClient(url=server.rest_url.removeprefix("http://"))
    yield c
    c.close()


def infer(
    client: httpclient.InferenceServerClient,
    model: str,
    inputs: Mapping[str, np.ndarray],
    *,
    binary: bool = True,
    outputs: Sequence[str] | None = None,
    version: str = "",
    datatypes: Mapping[str, str] | None = None,
    request_id: str = "",
) -> httpclient.InferResult:
    request_inputs = []
    for name, array in inputs.items():
        datatype = (datatypes or {}).get(name) or httpclient.np_to_triton_dtype(array.dtype)
        item = httpclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array, binary_data=binary)
        request_inputs.append(item)
    requested = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in outputs] if outputs else None
    return client.infer(
        model, request_inputs, model_version=version, outputs=requested, request_id=request_id
    )


def test_health(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("identity_fp32")
    assert client.is_model_ready("versions", "1")
    assert not client.is_model_ready("no_such_model")


def test_server_metadata(client: httpclient.InferenceServerClient) -> None:
    meta = client.get_server_metadata()
    assert meta["name"]
    assert meta["version"]
    assert "binary_tensor_data" in meta["extensions"]


def test_model_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.get_model_metadata("cnn") == {
        "name": "cnn",
        "versions": ["1"],
        "platform": "OpenVINO",
        "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 32, 32]}],
        "outputs": [{"name": "probs", "datatype": "FP32", "shape": [-1, 10]}],
    }
    meta = client.get_model_metadata("multi_io")
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("a", "FP32", [1, 3]),
        ("b", "INT32", [1, 3]),
    ]
    assert [(t["name"], t["datatype"]) for t in meta["outputs"]] == [("sum", "FP32"), ("prod", "INT32")]
    assert client.get_model_metadata("versions")["versions"] == ["1", "2"]
    assert client.get_model_metadata("versions", "1")["name"] == "versions"


# FP16 travels only as binary data, so it has no JSON case
CASES = [(m, b) for m, (d, _) in IDENTITIES.items() for b in (True, False) if b or d != "FP16"]


@pytest.mark.parametrize(
    ("model", "binary"), CASES, ids=[f"{m}-{'binary' if b else 'json'}" for m, b in CASES]
)
def test_identity(
    client: httpclient.InferenceServerClient, repo: dict[str, Path], model: str, binary: bool
) -> None:
    datatype, shape = IDENTITIES[model]
    data = values(datatype, shape)
    result = infer(client, model, {"in": data}, binary=binary, outputs=["out"])
    expected = reference(model_file(repo[model]), {"in": data})["out"]
    assert_matches(result.as_numpy("out"), expected)
    output = result.get_output("out")
    assert output["datatype"] == datatype
    assert ("data" in output) is not binary


@pytest.mark.parametrize("model", list(IDENTITIES))
def test_identity_default_outputs(
    client: httpclient.InferenceServerClient, repo: dict[str, Path], model: str
) -> None:
    datatype, shape = IDENTITIES[model]
    data = values(datatype, shape, seed=7)
    result = infer(client, model, {"in": data})  # tritonclient then asks binary_data_output for all outputs
    assert_matches(result.as_numpy("out"), reference(model_file(repo[model]), {"in": data})["out"])


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_strings(client: httpclient.InferenceServerClient, repo: dict[str, Path], binary: bool) -> None:
    texts = np.array(
        [b"hello", b"", "gr\u00fc\u00df dich".encode(), b"a longer sentence with spaces"], dtype=object
    )
    expected = reference(model_file(repo["strings"]), {"text": as_fixed_bytes(texts)})
    [out_name] = expected
    result = infer(
        client, "strings", {"text": texts}, binary=binary, outputs=[out_name], datatypes={"text": "BYTES"}
    )
    assert result.get_output(out_name)["datatype"] == "BYTES"
    assert_matches(result.as_numpy(out_name), expected[out_name])


def test_non_utf8_strings_come_back_binary(
    client: httpclient.InferenceServerClient, repo: dict[str, Path]
) -> None:
    texts = np.array([b"\xff\xfe\x00raw", b"ok"], dtype=object)
    expected = reference(model_file(repo["strings"]), {"text": as_fixed_bytes(texts)})
    [out_name] = expected
    item = httpclient.InferInput("text", [2], "BYTES")
    item.set_data_from_numpy(texts, binary_data=True)
    result = client.infer(
        "strings", [item], outputs=[httpclient.InferRequestedOutput(out_name, binary_data=False)]
    )
    assert list(result.as_numpy(out_name)) == list(expected[out_name])


@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_dynamic_batch(
    client: httpclient.InferenceServerClient, repo: dict[str, Path], batch: int, binary: bool
) -> None:
    x = values("FP32", (batch, 4), seed=batch)
    result = infer(client, "dynamic", {"x": x}, binary=binary, outputs=["y"])
    assert_matches(result.as_numpy("y"), reference(model_file(repo["dynamic"]), {"x": x})["y"])


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_multi_io_with_output_selection(
    client: httpclient.InferenceServerClient, repo: dict[str, Path], binary: bool
) -> None:
    inputs = {"a": values("FP32", (1, 3)), "b": values("INT32", (1, 3)) // 1000}
    expected = reference(model_file(repo["multi_io"]), inputs)
    result = infer(client, "multi_io", inputs, binary=binary, outputs=["prod"])
    assert result.as_numpy("sum") is None
    assert [o["name"] for o in result.get_response()["outputs"]] == ["prod"]
    assert_matches(result.as_numpy("prod"), expected["prod"])
    both = infer(client, "multi_io", inputs, binary=binary, outputs=["sum", "prod"])
    assert_matches(both.as_numpy("sum"), expected["sum"])
    assert_matches(both.as_numpy("prod"), expected["prod"])


def test_mixed_json_and_binary_outputs(
    client: httpclient.InferenceServerClient, repo: dict[str, Path]
) -> None:
    inputs = {"a": values("FP32", (1, 3), seed=4), "b": values("INT32", (1, 3), seed=4) // 1000}
    expected = reference(model_file(repo["multi_io"]), inputs)
    items = []
    for name, array in inputs.items():
        item = httpclient.InferInput(name, list(array.shape), httpclient.np_to_triton_dtype(array.dtype))
        item.set_data_from_numpy(array, binary_data=name == "a")
        items.append(item)
    outputs = [
        httpclient.InferRequestedOutput("sum", binary_data=False),
        httpclient.InferRequestedOutput("prod"),
    ]
    result = client.infer("multi_io", items, outputs=outputs)
    assert "data" in result.get_output("sum")
    assert "data" not in result.get_output("prod")
    for name in ("sum", "prod"):
        assert_matches(result.as_numpy(name), expected[name])


def test_multi_io_all_outputs(client: httpclient.InferenceServerClient, repo: dict[str, Path]) -> None:
    inputs = {"a": values("FP32", (1, 3), seed=3), "b": values("INT32", (1, 3), seed=3) // 1000}
    expected = reference(model_file(repo["multi_io"]), inputs)
    result = infer(client, "multi_io", inputs)
    for name in ("sum", "prod"):
        assert_matches(result.as_numpy(name), expected[name])


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_cnn(client: httpclient.InferenceServerClient, repo: dict[str, Path], binary: bool) -> None:
    image = np.random.default_rng(5).random((2, 3, 32, 32), dtype=np.float32)
    result = infer(client, "cnn", {"image": image}, binary=binary, outputs=["probs"])
    expected = reference(model_file(repo["cnn"]), {"image": image})["probs"]
    assert_matches(result.as_numpy("probs"), expected)
    np.testing.assert_allclose(result.as_numpy("probs").sum(axis=1), 1.0, rtol=1e-5)  # type: ignore[union-attr]


def test_versions(client: httpclient.InferenceServerClient, repo: dict[str, Path]) -> None:
    x = values("FP32", (2, 4), seed=11)
    for version, asked in ((2, ""), (1, "1"), (2, "2")):
        result = infer(client, "versions", {"x": x}, outputs=["y"], version=asked)
        assert result.get_response()["model_version"] == str(version)
        assert_matches(result.as_numpy("y"), reference(model_file(repo["versions"], version), {"x": x})["y"])
    v1 = reference(model_file(repo["versions"], 1), {"x": x})["y"]
    v2 = reference(model_file(repo["versions"], 2), {"x": x})["y"]
    assert not np.allclose(v1, v2)


def test_request_id_is_echoed(client: httpclient.InferenceServerClient) -> None:
    result = infer(client, "identity_fp32", {"in": values("FP32", (1, 10))}, request_id="my-request-42")
    response = result.get_response()
    assert response["id"] == "my-request-42"
    assert response["model_name"] == "identity_fp32"
    assert response["model_version"] == "1"
