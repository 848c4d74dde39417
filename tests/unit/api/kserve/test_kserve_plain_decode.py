"""The usual KServe JSON body (``{"inputs": [...]}``, each input a name, datatype, shape and data)
takes a shorter decode; it must give what the long way gives, errors included, word for word.

Each body is decoded twice: as it is (the short way) and with ``"parameters": {}`` added, which
changes nothing but sends it the long way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from ovserve.api.kserve import codec_json
from ovserve.api.kserve.codec_json import decode_infer_request
from ovserve.errors import ServingError

from .fakes import DATATYPES, multi, sample, spec
from .fakes import EchoServable as Echo

JSON_DATATYPES = [d for d in DATATYPES if d not in ("FP16", "BF16")]


def _values(array: np.ndarray) -> list[Any]:
    if array.dtype == object:
        return [item.decode() for item in array.ravel()]
    return array.tolist()  # nested, as clients send it


def _both(doc: dict[str, Any], servable: Echo) -> tuple[object, object]:
    """What each way gives: the decoded request's fields, or the error's type and text."""
    results = []
    for body in (doc, {**doc, "parameters": {}}):
        try:
            request = decode_infer_request(orjson.dumps(body), None, servable)
        except ServingError as exc:
            results.append((type(exc), exc.message))
            continue
        arrays = {name: (a.dtype, a.shape, a.tolist()) for name, a in request.inputs.items()}
        extra = (request.requested_outputs, request.id, request.parameters)
        results.append((arrays, extra, request.binary_outputs, request.binary_default))
    return results[0], results[1]


@pytest.mark.parametrize("datatype", JSON_DATATYPES)
def test_every_datatype_decodes_alike(datatype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []
    plain = codec_json._plain_inputs

    def counted(inputs: Any) -> dict[str, np.ndarray] | None:
        arrays = plain(inputs)
        taken.append(arrays is not None)
        return arrays

    monkeypatch.setattr(codec_json, "_plain_inputs", counted)
    values = sample(datatype)
    doc = {"inputs": [{"name": "in", "shape": [2, 3], "datatype": datatype, "data": _values(values)}]}
    short, long = _both(doc, Echo("e", [spec("in", datatype, 2, 3)]))
    assert short == long
    assert isinstance(short, tuple) and isinstance(short[0], dict)  # decoded, not refused
    assert taken == [True]  # the first way was the short one; the second never tried it


BAD_INPUTS: list[Any] = [
    [{"name": "a", "shape": [1, 3], "datatype": "FP99", "data": [1, 2, 3]}],
    [{"name": "a", "shape": [1, -3], "datatype": "FP32", "data": [1, 2, 3]}],
    [{"name": "a", "shape": [1, 3.0], "datatype": "FP32", "data": [1, 2, 3]}],
    [{"name": "a", "shape": [1, True], "datatype": "FP32", "data": [1]}],
    [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2]}],
    [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [[1, 2], [3]]}],
    [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": ["1", "2", "3"]}],
    [{"name": "a", "shape": [1, 3], "datatype": "INT32", "data": [1.5, 2, 3]}],
    [{"name": "a", "shape": [1, 3], "datatype": "INT8", "data": [1, 2, 300]}],
    [{"name": "a", "shape": [1, 3], "datatype": "FP16", "data": [1, 2, 3]}],
    [{"name": "a", "shape": [1, 3], "datatype": "BOOL", "data": [1, 0, 1]}],
    [{"name": "a", "shape": [1, 3], "datatype": "BYTES", "data": [1, 2, 3]}],
    [{"name": "a", "shape": [1 << 40, 1 << 40], "datatype": "FP32", "data": [1]}],
    [{"name": "a", "shape": [1, 3], "datatype": None, "data": [1, 2, 3]}],
    [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": 5}],
    [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}] * 2,
    [
        {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
        {"name": "b", "shape": [1, 3], "datatype": "INT32", "data": [1, 2, "x"]},
    ],
    [
        {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
        {"name": "b", "shape": [1, 3], "datatype": "INT32", "parameters": {"binary_data_size": 12}},
    ],
    [{"name": "a", "shape": [1, 3], "data": [1, 2, 3], "extra": 1}],
    [{"shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3], "extra": 1}],
    [{"name": 7, "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
    [{"name": "a", "shape": "1,3", "datatype": "FP32", "data": [1, 2, 3]}],
    [[1, 2, 3]],
    [],
    {"name": "a"},
    None,
]


@pytest.mark.parametrize("inputs", BAD_INPUTS)
def test_bad_and_unusual_inputs_get_the_same_answer(inputs: Any) -> None:
    short, long = _both({"inputs": inputs}, multi())
    assert short == long


def test_a_two_input_request_decodes_alike() -> None:
    doc = {
        "inputs": [
            {"name": "b", "shape": [1, 3], "datatype": "INT32", "data": [[7, -8, 9]]},
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [0.5, 1.5, 2.5]},
        ]
    }
    short, long = _both(doc, multi())
    assert short == long
    assert isinstance(short, tuple) and list(short[0]) == ["b", "a"]  # type: ignore[call-overload]
