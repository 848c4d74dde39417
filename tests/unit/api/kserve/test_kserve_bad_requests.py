"""Every bad REST input: its status and a message that names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from .fakes import EchoServable, Reply, binary_body, echo, length_prefixed, multi, rest, spec

URL = "/v2/models/echo_fp32/infer"


def _fp32(body: object, headers: dict[str, str] | None = None, url: str = URL) -> Reply:
    return rest([echo("FP32", 2, 3)], "POST", url, body, headers)


def _input(**fields: object) -> dict[str, object]:
    item: dict[str, object] = {"name": "in", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}
    item.update(fields)
    return {"inputs": [{k: v for k, v in item.items() if v is not None}]}


def _bad(reply: Reply, status: int, *fragments: str) -> None:
    assert reply.status == status, (reply.status, reply.body)
    for fragment in fragments:
        assert fragment in reply.error, reply.error


def test_good_request_passes() -> None:
    assert _fp32(_input()).status == 200


def test_not_json() -> None:
    _bad(_fp32(b"{not json"), 412, "The file is not valid json - ")


def test_empty_body() -> None:
    _bad(_fp32(b""), 412, "The file is not valid json")


def test_body_not_an_object() -> None:
    _bad(_fp32(b"[1, 2]"), 400, "Request body should be JSON object")


def test_missing_inputs() -> None:
    _bad(_fp32({"id": "x"}), 400, "Invalid JSON structure, missing inputs")


def test_inputs_not_an_array() -> None:
    _bad(_fp32({"inputs": {"name": "in"}}), 400, "inputs should be an array")


def test_input_without_name() -> None:
    _bad(
        _fp32({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}),
        400,
        "input 0 is missing its name",
    )


def test_input_without_datatype() -> None:
    body = {"inputs": [{"name": "in", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}]}
    _bad(_fp32(body), 400, "input in is missing datatype")


def test_input_without_shape() -> None:
    _bad(_fp32(_input(shape=None)), 400, "input in is missing shape")


def test_input_without_data() -> None:
    _bad(_fp32(_input(data=None)), 400, "input in has no data")


def test_unknown_datatype() -> None:
    _bad(_fp32(_input(datatype="FP8")), 400, "Invalid datatype 'FP8' of input in", "FP32")


def test_datatype_differs_from_model() -> None:
    _bad(
        _fp32(_input(datatype="INT32")),
        400,
        "Invalid input precision - Expected: FP32; Actual: I32; input name: in",
    )


def test_element_count_differs_from_shape() -> None:
    _bad(
        _fp32(_input(data=[1, 2, 3, 4, 5])), 400, "Invalid number of values", "Expected: 6", "Actual: 5", "in"
    )


def test_shape_differs_from_model() -> None:
    _bad(_fp32(_input(shape=[2, 1, 3])), 400, "Invalid number of shape dimensions", "(2,3)", "(2,1,3)")
    reply = rest([echo("FP32", 2, 3)], "POST", URL, _input(shape=[2, 2], data=[1, 2, 3, 4]))
    _bad(reply, 400, "Invalid input shape - Expected: (2,3); Actual: (2,2)")


def test_negative_dimension() -> None:
    _bad(
        _fp32(_input(shape=[-2, -3])),
        400,
        "Negative or zero dimension size is not acceptable",
        "[-2, -3]",
        "in",
    )


def test_non_integer_dimension() -> None:
    _bad(_fp32(_input(shape=[2, "3"])), 400, "dimensions must be integers", "in")


def test_fp16_in_json() -> None:
    reply = rest(
        [echo("FP16", 3)],
        "POST",
        "/v2/models/echo_fp16/infer",
        _input(datatype="FP16", shape=[3], data=[1, 2, 3]),
    )
    _bad(reply, 400, "Could not parse input content", "FP16", "binary")


def test_strings_in_numeric_data() -> None:
    _bad(
        _fp32(_input(data=["1", "2", "3", "4", "5", "6"])), 400, "FP32 data must be numbers; Actual: strings"
    )


def test_fraction_in_integer_data() -> None:
    reply = rest(
        [echo("INT32", 2)],
        "POST",
        "/v2/models/echo_int32/infer",
        _input(datatype="INT32", shape=[2], data=[1, 2.5]),
    )
    _bad(reply, 400, "INT32 data must be integers")


def test_integer_out_of_range() -> None:
    reply = rest(
        [echo("UINT8", 2)],
        "POST",
        "/v2/models/echo_uint8/infer",
        _input(datatype="UINT8", shape=[2], data=[1, 256]),
    )
    _bad(reply, 400, "value 256 is out of range for UINT8")
    reply = rest(
        [echo("UINT8", 2)],
        "POST",
        "/v2/models/echo_uint8/infer",
        _input(datatype="UINT8", shape=[2], data=[-1, 2]),
    )
    _bad(reply, 400, "value -1 is out of range for UINT8")


@pytest.mark.parametrize(
    ("data", "expected"),
    [([-1, 2**64 - 1], "out of range for UINT64"), ([1.5, 2**64 - 1], "UINT64 data must be integers")],
)
def test_uint64_past_int64(data: list[float], expected: str) -> None:
    body = _input(datatype="UINT64", shape=[2], data=data)
    _bad(rest([echo("UINT64", 2)], "POST", "/v2/models/echo_uint64/infer", body), 400, expected)


def test_numbers_in_bool_data() -> None:
    reply = rest(
        [echo("BOOL", 2)],
        "POST",
        "/v2/models/echo_bool/infer",
        _input(datatype="BOOL", shape=[2], data=[1, 0]),
    )
    _bad(reply, 400, "BOOL data must be booleans")


def test_ragged_data() -> None:
    _bad(_fp32(_input(data=[[1, 2, 3], [4, 5]])), 400, "Could not parse input content", "not a regular array")


def test_numbers_in_bytes_data() -> None:
    reply = rest(
        [echo("BYTES", 2)],
        "POST",
        "/v2/models/echo_bytes/infer",
        _input(datatype="BYTES", shape=[2], data=[1, 2]),
    )
    _bad(reply, 400, "BYTES data must be strings", "in")


def test_data_not_an_array() -> None:
    _bad(_fp32(_input(data=5)), 400, "data of input in should be an array")


def test_duplicate_input() -> None:
    body = _input()
    body["inputs"] = body["inputs"] * 2  # type: ignore[operator]
    _bad(_fp32(body), 400, "Duplicate input name", "in")


def test_missing_model_input() -> None:
    body = {"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    _bad(
        rest([multi()], "POST", "/v2/models/multi/infer", body),
        400,
        "Invalid number of inputs - Expected: 2; Actual: 1",
    )


def test_unexpected_input_name() -> None:
    _bad(_fp32(_input(name="other")), 400, "Missing input with specific name - Required input: in", "other")


def test_unknown_output() -> None:
    body = _input()
    body["outputs"] = [{"name": "nope"}]
    _bad(_fp32(body), 400, "Invalid output name - nope", "echo_fp32")


def test_binary_and_json_data_both() -> None:
    raw = np.zeros(6, np.float32).tobytes()
    body, headers = binary_body(_input(parameters={"binary_data_size": 24}), raw)
    _bad(_fp32(body, headers), 400, "Request contains values both in binary data and in content value", "in")


def test_header_length_past_body() -> None:
    body, _ = binary_body(_input())
    _bad(
        _fp32(body, {"Inference-Header-Content-Length": str(len(body) + 1)}),
        400,
        "Inference-Header-Content-Length header exceeds actual payload length",
    )


def test_header_length_not_a_number() -> None:
    body, _ = binary_body(_input())
    _bad(
        _fp32(body, {"Inference-Header-Content-Length": "12x"}),
        400,
        "Inference-Header-Content-Length header must be a non-negative integer",
    )


def test_binary_data_size_past_buffer() -> None:
    body, headers = binary_body(_input(data=None, parameters={"binary_data_size": 24}), b"\0" * 20)
    _bad(
        _fp32(body, headers),
        400,
        "Received buffer size is smaller than binary_data_size parameter indicates",
        "bytes left: 20",
        "in",
    )


def test_binary_data_size_not_matching_shape() -> None:
    body, headers = binary_body(_input(data=None, parameters={"binary_data_size": 20}), b"\0" * 20)
    _bad(
        _fp32(body, headers),
        400,
        "Invalid content size of tensor proto - Expected: 24 bytes; Actual: 20 bytes",
        "in",
    )


def test_binary_data_size_not_an_integer() -> None:
    body, headers = binary_body(_input(data=None, parameters={"binary_data_size": "24"}), b"\0" * 24)
    _bad(_fp32(body, headers), 400, "binary_data_size of input in should be a non-negative integer")


def test_implicit_binary_size_past_buffer() -> None:
    body, headers = binary_body(_input(data=None), b"\0" * 10)
    _bad(
        _fp32(body, headers),
        400,
        "Received buffer size is smaller than the input needs",
        "Expected: 24 bytes",
    )


def test_binary_left_over() -> None:
    body, headers = binary_body(_input(data=None, parameters={"binary_data_size": 24}), b"\0" * 30)
    _bad(_fp32(body, headers), 400, "6 bytes left over")


def test_bytes_binary_truncated_element() -> None:
    raw = length_prefixed([b"abc"])[:-1]
    header = {
        "inputs": [
            {"name": "in", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}
        ]
    }
    body, headers = binary_body(header, raw)
    reply = rest([echo("BYTES", 1)], "POST", "/v2/models/echo_bytes/infer", body, headers)
    _bad(reply, 400, "element 0 declares 3 bytes but only 2 remain", "in")


def test_bytes_binary_count_mismatch() -> None:
    raw = length_prefixed([b"a", b"b", b"c"])
    header = {
        "inputs": [
            {"name": "in", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}
        ]
    }
    body, headers = binary_body(header, raw)
    reply = rest([echo("BYTES", 2)], "POST", "/v2/models/echo_bytes/infer", body, headers)
    _bad(reply, 400, "Invalid number of values", "Expected: 2", "Actual: 3")


def test_bytes_binary_truncated_prefix() -> None:
    header = {
        "inputs": [{"name": "in", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 2}}]
    }
    body, headers = binary_body(header, b"\x01\x00")
    reply = rest([echo("BYTES", 1)], "POST", "/v2/models/echo_bytes/infer", body, headers)
    _bad(reply, 400, "truncated 4-byte length prefix")


def test_version_not_an_integer() -> None:
    _bad(
        _fp32(_input(), url="/v2/models/echo_fp32/versions/one/infer"),
        400,
        "invalid model version format in request",
    )


def test_id_not_a_string() -> None:
    body = _input()
    body["id"] = 5
    _bad(_fp32(body), 400, "id should be a string")


def test_binary_flag_not_boolean() -> None:
    body = _input()
    body["parameters"] = {"binary_data_output": "yes"}
    _bad(_fp32(body), 400, "binary_data_output", "true or false")


@pytest.mark.parametrize(
    ("field", "expected"),
    [("parameters", "shared memory"), ("outputs", "classification")],
)
def test_unsupported_extensions(field: str, expected: str) -> None:
    body = _input(parameters={"shared_memory_region": "r"}) if field == "parameters" else _input()
    if field == "outputs":
        body["outputs"] = [{"name": "out", "parameters": {"classification": 3}}]
    _bad(_fp32(body), 501, expected)


def test_unknown_model() -> None:
    # OVMS (MediaPipe builds) answers its graph lookup for an unknown name on KServe infer
    _bad(
        _fp32(_input(), url="/v2/models/nope/infer"),
        404,
        "Mediapipe graph definition with requested name is not found - nope",
    )


def test_unknown_version() -> None:
    _bad(
        _fp32(_input(), url="/v2/models/echo_fp32/versions/7/infer"),
        404,
        "Model with requested version is not found - echo_fp32 version 7",
    )


def test_model_that_failed_to_load() -> None:
    reply = rest([], "POST", "/v2/models/broken/infer", _input(), failing=["broken"])
    _bad(reply, 404, "Model with requested version is not loaded yet", "the model file is broken")


def test_model_not_called_on_bad_input() -> None:
    servable = EchoServable("m", [spec("in", "FP32", 2, 3)])
    rest([servable], "POST", "/v2/models/m/infer", _input(datatype="INT32"))
    assert servable.calls == 0
