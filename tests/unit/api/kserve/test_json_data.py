"""Large KServe JSON bodies: numeric data arrays counted before they are parsed (api/kserve/json_data.py).

The split path must decode exactly what the plain path decodes; what it refuses early, the plain path
refuses too. The property test runs both paths on the same documents (the split threshold lowered to 0).
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ovserve.api.kserve import codec_json, json_data
from ovserve.errors import ServingError

from .fakes import EchoServable, spec

SERVABLE = EchoServable("m", [spec("x", "FP32", -1, -1), spec("b", "BOOL", -1), spec("s", "BYTES", -1)])


def decode(doc: Any, split_from: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(json_data, "SPLIT_FROM", split_from)
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return codec_json.decode_infer_request(body, None, SERVABLE)


def outcome(doc: Any, split_from: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    try:
        request = decode(doc, split_from, monkeypatch)
    except ServingError as exc:
        return type(exc).__name__, exc.code
    return {name: (array.dtype, array.shape, array.tolist()) for name, array in request.inputs.items()}


def test_a_large_request_decodes_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.arange(400_000, dtype=np.float32).reshape(100_000, 4) / 7
    doc = {
        "id": 'a "data": [1,2] in a string',
        "parameters": {"data": [9, 9]},
        "inputs": [
            {"name": "x", "shape": [100_000, 4], "datatype": "FP32", "data": values.tolist()},
            {"name": "b", "shape": [3], "datatype": "BOOL", "data": [True, False, True]},
            {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["data", '"data":[1]']},
        ],
    }
    body = json.dumps(doc).encode()
    assert len(body) > json_data.SPLIT_FROM
    request = decode(body, json_data.SPLIT_FROM, monkeypatch)
    np.testing.assert_array_equal(request.inputs["x"], values)
    assert request.inputs["b"].tolist() == [True, False, True]
    assert request.inputs["s"].tolist() == [b"data", b'"data":[1]']
    assert request.id == 'a "data": [1,2] in a string'


def test_too_many_values_are_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    values = b",".join([b"1.5"] * 3_000_000)
    body = b'{"inputs":[{"name":"x","shape":[1,10],"datatype":"FP32","data":[' + values + b"]}]}"
    tracemalloc.start()
    with pytest.raises(ServingError, match=r"Expected: 10 .*Actual: 3000000 \(counting commas\)"):
        decode(body, json_data.SPLIT_FROM, monkeypatch)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < len(body)  # the document without its array; the array never parsed


def test_empty_arrays_for_a_shape_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    many = b"[" + b"[]," * 400_000 + b"[]]"
    body = b'{"inputs":[{"name":"x","shape":[0,10],"datatype":"FP32","data":' + many + b"}]}"
    with pytest.raises(ServingError, match="more than 1024 empty arrays"):
        decode(body, json_data.SPLIT_FROM, monkeypatch)
    few = b'{"inputs":[{"name":"x","shape":[0,10],"datatype":"FP32","data":[[],[]]}]}'
    assert decode(few, 0, monkeypatch).inputs["x"].shape == (0, 10)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"[" + b"[]," * 400_000 + b"[]]", "Expected: 10 .*Actual: 400001"),
        (b"[1,2,3,4,5,6,7,8,9,10" + b" " * 2_000_000 + b"]", None),  # whitespace: fine
        (b"[1,2,3,4,5,6,7,8,9,1e]" + b" " * 2_000_000, "not valid json"),
    ],
)
def test_odd_arrays(data: bytes, problem: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"inputs":[{"name":"x","shape":[1,10],"datatype":"FP32","data":' + data + b"}]}"
    if problem is None:
        assert decode(body, json_data.SPLIT_FROM, monkeypatch).inputs["x"].shape == (1, 10)
    else:
        with pytest.raises(ServingError, match=problem):
            decode(body, json_data.SPLIT_FROM, monkeypatch)


numbers = st.one_of(st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), st.booleans())
arrays = st.recursive(st.lists(numbers, max_size=4), lambda inner: st.lists(inner, max_size=3), max_leaves=12)


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(["x", "b"]),
    shape=st.lists(st.integers(0, 4), max_size=3),
    data=arrays,
    space=st.sampled_from(["", " ", "\n"]),
)
def test_split_and_plain_paths_agree(
    name: str, shape: list[int], data: Any, space: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    datatype = "FP32" if name == "x" else "BOOL"
    item = {"name": name, "shape": shape, "datatype": datatype, "data": data}
    body = json.dumps({"inputs": [item]}, separators=(",", ":" + space)).encode()
    assert outcome(body, 0, monkeypatch) == outcome(body, 1 << 40, monkeypatch)
