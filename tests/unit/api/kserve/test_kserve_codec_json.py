"""REST JSON and binary-extension round trips for every datatype, through the real router."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from ovserve.api.kserve.codec import deserialize_bytes, serialize_bytes, to_raw
from ovserve.tensors import KSERVE_TO_NUMPY, bf16_from_float, bf16_to_float32

from .fakes import (
    DATATYPES,
    EchoServable,
    binary_body,
    echo,
    length_prefixed,
    multi,
    rest,
    sample,
    spec,
)

#: FP16 and BF16 travel only as binary data, as in OVMS
JSON_DATATYPES = [d for d in DATATYPES if d not in ("FP16", "BF16")]


def _json_values(array: np.ndarray) -> list[object]:
    if array.dtype == object:
        return [item.decode() for item in array.ravel()]
    return array.ravel().tolist()


def _from_reply(output: dict[str, object], binary: bytes, offset: int = 0) -> np.ndarray:
    datatype = str(output["datatype"])
    shape = output["shape"]
    params = output.get("parameters")
    if isinstance(params, dict) and "binary_data_size" in params:
        chunk = binary[offset : offset + int(params["binary_data_size"])]
        if datatype == "BYTES":
            return deserialize_bytes(chunk, int(np.prod(shape)), "out").reshape(shape)  # type: ignore[arg-type]
        return np.frombuffer(chunk, KSERVE_TO_NUMPY[datatype]).reshape(shape)  # type: ignore[arg-type]
    data = output["data"]
    if datatype == "BF16":  # sent as numbers
        return bf16_from_float(data).reshape(shape)  # type: ignore[arg-type]
    if datatype == "BYTES":
        return np.array([s.encode() for s in data], dtype=object).reshape(shape)  # type: ignore[union-attr, arg-type]
    return np.array(data, dtype=KSERVE_TO_NUMPY[datatype]).reshape(shape)  # type: ignore[arg-type]


@pytest.mark.parametrize("datatype", JSON_DATATYPES)
def test_json_round_trip(datatype: str) -> None:
    values = sample(datatype)
    body = {
        "id": "req-1",
        "inputs": [{"name": "in", "shape": [2, 3], "datatype": datatype, "data": _json_values(values)}],
    }
    reply = rest([echo(datatype, 2, 3)], "POST", f"/v2/models/echo_{datatype.lower()}/infer", body)
    assert reply.status == 200, reply.body
    assert reply.headers[b"content-type"] == b"application/json"
    doc = reply.json()
    assert doc["model_name"] == f"echo_{datatype.lower()}"
    assert doc["model_version"] == "1"
    assert doc["id"] == "req-1"
    [output] = doc["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("out", datatype, [2, 3])
    assert "parameters" not in output
    np.testing.assert_array_equal(_from_reply(output, b""), values)
    if datatype == "BYTES":
        assert output["data"] == _json_values(values)


@pytest.mark.parametrize("datatype", DATATYPES)
def test_binary_round_trip(datatype: str) -> None:
    values = sample(datatype)
    raw = to_raw(values)
    header = {
        "inputs": [
            {
                "name": "in",
                "shape": [2, 3],
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    body, headers = binary_body(header, raw)
    reply = rest([echo(datatype, 2, 3)], "POST", f"/v2/models/echo_{datatype.lower()}/infer", body, headers)
    assert reply.status == 200, reply.body
    assert reply.headers[b"content-type"] == b"application/octet-stream"
    [output] = reply.json()["outputs"]
    assert output["parameters"] == {"binary_data_size": len(raw)}
    assert "data" not in output
    assert reply.binary == raw
    np.testing.assert_array_equal(_from_reply(output, reply.binary), values)


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d != "BYTES"])
def test_binary_input_without_size_takes_shape_times_itemsize(datatype: str) -> None:
    values = sample(datatype)
    body, headers = binary_body(
        {"inputs": [{"name": "in", "shape": [2, 3], "datatype": datatype}]}, values.tobytes()
    )
    reply = rest([echo(datatype, 2, 3)], "POST", f"/v2/models/echo_{datatype.lower()}/infer", body, headers)
    assert reply.status == 200, reply.body
    [output] = reply.json()["outputs"]
    np.testing.assert_array_equal(_from_reply(output, reply.binary), values)


def test_bytes_input_without_size_takes_the_rest() -> None:
    items = [b"alpha", b"", b"\xff\x00 raw"]
    body, headers = binary_body(
        {
            "inputs": [{"name": "in", "shape": [3], "datatype": "BYTES"}],
            "outputs": [{"name": "out", "parameters": {"binary_data": True}}],
        },
        length_prefixed(items),
    )
    reply = rest([echo("BYTES", -1)], "POST", "/v2/models/echo_bytes/infer", body, headers)
    assert reply.status == 200, reply.body
    assert reply.binary == length_prefixed(items)


def test_nested_json_data_is_accepted() -> None:
    body = {"inputs": [{"name": "in", "shape": [2, 3], "datatype": "INT32", "data": [[1, 2, 3], [4, 5, 6]]}]}
    reply = rest([echo("INT32", 2, 3)], "POST", "/v2/models/echo_int32/infer", body)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][0]["data"] == [1, 2, 3, 4, 5, 6]


def test_nested_bytes_data_is_accepted() -> None:
    body = {
        "inputs": [{"name": "in", "shape": [2, 2], "datatype": "BYTES", "data": [["a", "b"], ["c", "d"]]}]
    }
    reply = rest([echo("BYTES", -1, -1)], "POST", "/v2/models/echo_bytes/infer", body)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][0] == {
        "name": "out",
        "datatype": "BYTES",
        "shape": [2, 2],
        "data": ["a", "b", "c", "d"],
    }


def test_json_integers_are_accepted_for_float_inputs() -> None:
    body = {"inputs": [{"name": "in", "shape": [3], "datatype": "FP32", "data": [1, 2.5, -3]}]}
    reply = rest([echo("FP32", 3)], "POST", "/v2/models/echo_fp32/infer", body)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][0]["data"] == [1.0, 2.5, -3.0]


def test_empty_tensor() -> None:
    body = {"inputs": [{"name": "in", "shape": [0, 3], "datatype": "INT64", "data": []}]}
    reply = rest([echo("INT64", -1, 3)], "POST", "/v2/models/echo_int64/infer", body)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][0] == {"name": "out", "datatype": "INT64", "shape": [0, 3], "data": []}


def test_scalar_tensor() -> None:
    body = {"inputs": [{"name": "in", "shape": [], "datatype": "FP64", "data": [2.5]}]}
    reply = rest([echo("FP64")], "POST", "/v2/models/echo_fp64/infer", body)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][0] == {"name": "out", "datatype": "FP64", "shape": [], "data": [2.5]}


def test_non_utf8_bytes_output_falls_back_to_binary() -> None:
    items = [b"ok", b"\xff\xfe"]
    body, headers = binary_body(
        {
            "inputs": [
                {"name": "in", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 12}}
            ]
        },
        length_prefixed(items),
    )
    reply = rest([echo("BYTES", -1)], "POST", "/v2/models/echo_bytes/infer", body, headers)
    assert reply.status == 200, reply.body
    [output] = reply.json()["outputs"]
    assert output["parameters"] == {"binary_data_size": 12}
    assert reply.binary == length_prefixed(items)


def test_output_selection_and_per_output_binary() -> None:
    a = np.array([[0.5, 1.5, 2.5]], dtype=np.float32)
    b = np.array([[1, 2, 3]], dtype=np.int32)
    body = {
        "inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": a.ravel().tolist()},
            {"name": "b", "shape": [1, 3], "datatype": "INT32", "data": b.ravel().tolist()},
        ],
        "outputs": [{"name": "b_out", "parameters": {"binary_data": True}}, {"name": "a_out"}],
    }
    reply = rest([multi()], "POST", "/v2/models/multi/infer", body)
    assert reply.status == 200, reply.body
    outputs = reply.json()["outputs"]
    assert [o["name"] for o in outputs] == ["b_out", "a_out"]
    assert outputs[0]["parameters"] == {"binary_data_size": 12}
    assert reply.binary == b.tobytes()
    assert outputs[1]["data"] == [0.5, 1.5, 2.5]


def test_request_level_binary_overridden_per_output() -> None:
    body = {
        "inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "b", "shape": [1, 3], "datatype": "INT32", "data": [4, 5, 6]},
        ],
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "a_out", "parameters": {"binary_data": False}}, {"name": "b_out"}],
    }
    reply = rest([multi()], "POST", "/v2/models/multi/infer", body)
    outputs = reply.json()["outputs"]
    assert outputs[0]["data"] == [1.0, 2.0, 3.0]
    assert outputs[1]["parameters"] == {"binary_data_size": 12}
    assert np.frombuffer(reply.binary, np.int32).tolist() == [4, 5, 6]


def test_all_outputs_in_model_order_without_outputs() -> None:
    body = {
        "inputs": [
            {"name": "b", "shape": [1, 3], "datatype": "INT32", "data": [4, 5, 6]},
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
        ]
    }
    reply = rest([multi()], "POST", "/v2/models/multi/infer", body)
    assert [o["name"] for o in reply.json()["outputs"]] == ["a_out", "b_out"]
    assert "id" not in reply.json()


def test_binary_and_json_inputs_mixed() -> None:
    b = np.array([7, 8, 9], dtype=np.int32)
    header = {
        "inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "b", "shape": [1, 3], "datatype": "INT32", "parameters": {"binary_data_size": 12}},
        ]
    }
    body, headers = binary_body(header, b.tobytes())
    reply = rest([multi()], "POST", "/v2/models/multi/infer", body, headers)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][1]["data"] == [7, 8, 9]


def test_misaligned_binary_input_is_copied_aligned() -> None:
    servable = EchoServable("m", [spec("a", "UINT8", 1), spec("b", "FP64", 2)])
    b = np.array([1.25, -2.5])
    header = {
        "inputs": [
            {"name": "a", "shape": [1], "datatype": "UINT8", "parameters": {"binary_data_size": 1}},
            {"name": "b", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}},
        ]
    }
    body, headers = binary_body(header, b"\x07", b.tobytes())
    reply = rest([servable], "POST", "/v2/models/m/infer", body, headers)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][1]["data"] == [1.25, -2.5]


def test_bytes_framing_round_trip() -> None:
    values = sample("BYTES", (6,))
    assert deserialize_bytes(serialize_bytes(values), 6, "x").tolist() == values.tolist()
    assert serialize_bytes(np.array(["é"], dtype=object)) == b"\x02\x00\x00\x00\xc3\xa9"


def test_fp16_json_output_is_numbers() -> None:
    values = np.array([0.5, -1.0, 65504.0], dtype=np.float16)
    body, headers = binary_body(
        {"inputs": [{"name": "in", "shape": [3], "datatype": "FP16", "parameters": {"binary_data_size": 6}}]},
        values.tobytes(),
    )
    reply = rest([echo("FP16", 3)], "POST", "/v2/models/echo_fp16/infer", body, headers)
    assert orjson.loads(reply.body)["outputs"][0]["data"] == [0.5, -1.0, 65504.0]


def test_bf16_json_output_is_numbers_and_json_input_is_refused() -> None:
    values = bf16_from_float([0.5, -1.0, 3.0e38, 1.00390625])  # the last rounds to 1.0 in BF16
    body, headers = binary_body(
        {"inputs": [{"name": "in", "shape": [4], "datatype": "BF16", "parameters": {"binary_data_size": 8}}]},
        values.tobytes(),
    )
    reply = rest([echo("BF16", 4)], "POST", "/v2/models/echo_bf16/infer", body, headers)
    assert reply.status == 200, reply.body
    [output] = orjson.loads(reply.body)["outputs"]
    assert (output["datatype"], output["shape"]) == ("BF16", [4])
    served = np.array(output["data"], dtype=np.float32)
    np.testing.assert_array_equal(served, bf16_to_float32(values))
    assert output["data"][0:2] == [0.5, -1.0] and output["data"][3] == 1.0

    json_body = {"inputs": [{"name": "in", "shape": [4], "datatype": "BF16", "data": [1, 2, 3, 4]}]}
    reply = rest([echo("BF16", 4)], "POST", "/v2/models/echo_bf16/infer", json_body)
    assert reply.status == 400
    assert b"Could not parse input content - BF16 values can only be sent as binary data" in reply.body
