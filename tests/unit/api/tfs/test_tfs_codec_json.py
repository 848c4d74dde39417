"""REST predict bodies: row and column JSON to arrays and back, for every dtype, and each bad body."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

from ovserve.api.tfs.codec_json import (
    AMBIGUOUS_FORMAT,
    DIFFERENT_BATCH_SIZES,
    UNNAMED_NOT_SINGLE,
    decode_predict,
    encode_predict,
)
from ovserve.errors import Code, InvalidInput, ServingError
from ovserve.tensors import BF16_DTYPE, NUMERIC_DTYPES, bf16_to_float32

from .fakes import EchoServable, spec

NUMERIC = [d.type for d in NUMERIC_DTYPES]


def sample(dtype: type, shape: tuple[int, ...] = (2, 3)) -> np.ndarray:
    info = np.arange(int(np.prod(shape))).reshape(shape)
    if dtype == np.bool_:
        return info % 2 == 0
    if np.issubdtype(dtype, np.floating):
        return (info * 0.25 - 0.5).astype(dtype)
    if np.issubdtype(dtype, np.signedinteger):
        return (info - 2).astype(dtype)
    return info.astype(dtype) + (np.iinfo(dtype).max - dtype(10))  # large unsigned values


def body(document: object) -> bytes:
    return orjson.dumps(document)


def decode(document: object, servable: EchoServable) -> tuple[dict[str, np.ndarray], bool]:
    request, row = decode_predict(body(document), servable)
    return request.inputs, row


# -- round trips -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
def test_row_round_trip_every_dtype(dtype: type) -> None:
    data = sample(dtype)
    servable = EchoServable("m", [spec("x", dtype, -1, 3)])
    inputs, row = decode({"instances": data.tolist()}, servable)
    assert row is True
    assert inputs["x"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(inputs["x"], data)
    answer = orjson.loads(encode_predict({"x": inputs["x"]}, row))
    assert answer == {"predictions": data.tolist()}


@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
def test_column_round_trip_every_dtype(dtype: type) -> None:
    data = sample(dtype)
    servable = EchoServable("m", [spec("x", dtype, 2, 3)])
    inputs, row = decode({"inputs": {"x": data.tolist()}}, servable)
    assert row is False
    assert inputs["x"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(inputs["x"], data)
    answer = orjson.loads(encode_predict({"x": inputs["x"]}, row))
    assert answer == {"outputs": data.tolist()}


def test_json_numbers_are_cast_to_the_model_dtype() -> None:
    servable = EchoServable("m", [spec("x", np.int32, -1)])
    inputs, _ = decode({"inputs": [1.0, 2.7, True]}, servable)
    assert inputs["x"].dtype == np.int32
    np.testing.assert_array_equal(inputs["x"], [1, 2, 1])
    servable = EchoServable("m", [spec("x", np.float16, -1)])
    inputs, _ = decode({"instances": [1, 2]}, servable)
    assert inputs["x"].dtype == np.float16


def test_row_named_instances_stack_on_dim0() -> None:
    servable = EchoServable("m", [spec("a", np.float32, -1, 2), spec("b", np.int64, -1)])
    inputs, row = decode(
        {"signature_name": "ignored", "instances": [{"a": [1, 2], "b": 7}, {"a": [3, 4], "b": 8}]}, servable
    )
    assert row
    np.testing.assert_array_equal(inputs["a"], np.array([[1, 2], [3, 4]], np.float32))
    np.testing.assert_array_equal(inputs["b"], np.array([7, 8], np.int64))
    answer = orjson.loads(encode_predict(inputs, row))
    assert answer == {"predictions": [{"a": [1.0, 2.0], "b": 7}, {"a": [3.0, 4.0], "b": 8}]}


def test_row_unnamed_scalars_for_a_single_input() -> None:
    servable = EchoServable("m", [spec("x", np.float64, -1)])
    inputs, _ = decode({"instances": [1.5, 2.5]}, servable)
    np.testing.assert_array_equal(inputs["x"], [1.5, 2.5])


def test_column_scalar_and_named_multi_input() -> None:
    servable = EchoServable("m", [spec("x", np.float32)])
    inputs, _ = decode({"inputs": 3}, servable)
    assert inputs["x"].shape == () and inputs["x"].dtype == np.float32
    assert orjson.loads(encode_predict(inputs, False)) == {"outputs": 3.0}
    servable = EchoServable("m", [spec("a", np.float32, 1, 2), spec("b", np.uint8, 1, 2)])
    inputs, _ = decode({"inputs": {"a": [[1, 2]], "b": [[3, 4]]}}, servable)
    assert inputs["b"].dtype == np.uint8
    assert orjson.loads(encode_predict(inputs, False)) == {"outputs": {"a": [[1.0, 2.0]], "b": [[3, 4]]}}


def test_b64_and_strings_become_bytes() -> None:
    raw = bytes([0, 255, 1, 128])
    servable = EchoServable("m", [spec("s", object, -1)])
    inputs, _ = decode({"instances": [{"b64": base64.b64encode(raw).decode()}, "text"]}, servable)
    assert inputs["s"].dtype == object
    assert inputs["s"].tolist() == [raw, b"text"]
    answer = orjson.loads(encode_predict(inputs, True))
    assert answer == {"predictions": [{"b64": base64.b64encode(raw).decode()}, "text"]}


def test_column_b64_value_for_single_input_and_2d_strings() -> None:
    servable = EchoServable("m", [spec("s", object, -1, -1)])
    inputs, _ = decode({"inputs": [["a", "bc"], ["d", {"b64": "ZWY="}]]}, servable)
    assert inputs["s"].shape == (2, 2)
    assert inputs["s"].tolist() == [[b"a", b"bc"], [b"d", b"ef"]]
    servable = EchoServable("m", [spec("s", object, -1)])
    inputs, _ = decode({"inputs": {"b64": "aGk="}}, servable)
    assert inputs["s"].shape == () and inputs["s"].item() == b"hi"


def test_named_instance_with_b64_values() -> None:
    servable = EchoServable("m", [spec("img", object, -1), spec("k", np.int32, -1)])
    inputs, _ = decode(
        {"instances": [{"img": {"b64": "AQI="}, "k": 1}, {"img": {"b64": "Aw=="}, "k": 2}]}, servable
    )
    assert inputs["img"].tolist() == [b"\x01\x02", b"\x03"]
    np.testing.assert_array_equal(inputs["k"], [1, 2])


def test_string_outputs_named_bytes_are_b64() -> None:
    out = np.array([b"ok", b"fine"], dtype=object)
    answer = orjson.loads(encode_predict({"data_bytes": out, "text": out}, False))
    assert answer == {
        "outputs": {"data_bytes": [{"b64": "b2s="}, {"b64": "ZmluZQ=="}], "text": ["ok", "fine"]}
    }


def test_non_contiguous_and_scalar_outputs_encode() -> None:
    wide = np.arange(12, dtype=np.float32).reshape(3, 4)
    answer = orjson.loads(encode_predict({"x": wide[:, ::2]}, False))
    assert answer == {"outputs": wide[:, ::2].tolist()}
    answer = orjson.loads(encode_predict({"x": np.array(7, np.int64), "y": np.array([1], np.int8)}, False))
    assert answer == {"outputs": {"x": 7, "y": [1]}}


# -- bad bodies ------------------------------------------------------------------------
def decode_error(raw: bytes, servable: EchoServable) -> ServingError:
    with pytest.raises(ServingError) as caught:
        decode_predict(raw, servable)
    return caught.value


SINGLE = EchoServable("m", [spec("x", np.float32, -1, 2)])
DOUBLE = EchoServable("m", [spec("a", np.float32, -1, 2), spec("b", np.float32, -1, 2)])


def test_invalid_json_is_failed_precondition() -> None:
    error = decode_error(b'{"instances": [1, 2', SINGLE)
    assert error.code == Code.FAILED_PRECONDITION
    assert error.message.startswith("The file is not valid json - Error: ")
    assert "Offset: " in error.message


@pytest.mark.parametrize(
    "document", [{"instances": [[1, 2]], "inputs": [[1, 2]]}, {"signature_name": "x"}, {}]
)
def test_both_or_neither_format(document: object) -> None:
    error = decode_error(body(document), SINGLE)
    assert isinstance(error, InvalidInput)
    assert error.message == AMBIGUOUS_FORMAT


def test_body_must_be_an_object() -> None:
    assert decode_error(b"[1, 2]", SINGLE).message == "Request body should be JSON object"


@pytest.mark.parametrize("instances", [[], {}, 3])
def test_instances_must_be_a_non_empty_array(instances: object) -> None:
    error = decode_error(body({"instances": instances}), SINGLE)
    assert error.code == Code.INVALID_ARGUMENT and "non-empty array" in error.message


def test_row_batch_sizes_must_agree() -> None:
    error = decode_error(body({"instances": [{"a": [1, 2], "b": [1, 2]}, {"a": [3, 4]}]}), DOUBLE)
    assert error.message.startswith(DIFFERENT_BATCH_SIZES)
    assert "a: 2, b: 1" in error.message


def test_row_mixed_named_and_bare() -> None:
    error = decode_error(body({"instances": [{"a": [1, 2]}, [3, 4]]}), DOUBLE)
    assert "Invalid JSON structure" in error.message


@pytest.mark.parametrize("document", [{"instances": [[1, 2]]}, {"inputs": [[1, 2]]}, {"inputs": 1}])
def test_unnamed_values_need_a_single_input_model(document: object) -> None:
    error = decode_error(body(document), DOUBLE)
    assert error.message.startswith(UNNAMED_NOT_SINGLE)
    assert "a, b" in error.message


@pytest.mark.parametrize(
    "document",
    [
        {"instances": [[1, 2], [3]]},
        {"inputs": {"x": [[1, 2], [3, [4, 5]]]}},
        {"inputs": [[1, 2], 3]},
        {"inputs": [["a", "b"], ["c"]]},
        {"inputs": [["a", "b"], "c"]},
    ],
)
def test_ragged_arrays(document: object) -> None:
    servable = (
        EchoServable("m", [spec("x", np.float32, -1, 2)])
        if "a" not in str(document)
        else EchoServable("m", [spec("x", object, -1, 2)])
    )
    error = decode_error(body(document), servable)
    assert "Not valid ndarray detected" in error.message
    assert "input x" in error.message


def test_values_that_do_not_fit_the_dtype() -> None:
    servable = EchoServable("m", [spec("x", np.uint8, -1)])
    error = decode_error(body({"inputs": [1, 300]}), servable)
    assert error.code == Code.INVALID_ARGUMENT
    assert "input x" in error.message and "U8" in error.message
    servable = EchoServable("m", [spec("x", np.int32, -1)])
    error = decode_error(body({"inputs": [1, None]}), servable)
    assert "input x" in error.message and "I32" in error.message


def test_numbers_mixed_with_strings_or_objects() -> None:
    for value in ([1, "a"], [1, {"b64": "AA=="}]):
        error = decode_error(body({"inputs": {"zz": value}}), SINGLE)
        assert "input zz" in error.message


def test_invalid_base64_and_bad_string_leaves() -> None:
    servable = EchoServable("m", [spec("s", object, -1)])
    error = decode_error(body({"inputs": [{"b64": "not base64!"}]}), servable)
    assert "invalid base64" in error.message and "input s" in error.message
    error = decode_error(body({"inputs": ["a", 5]}), servable)
    assert 'expected a string or {"b64"' in error.message


def test_row_response_needs_shared_dim0() -> None:
    with pytest.raises(ServingError) as caught:
        encode_predict({"a": np.zeros((2, 1), np.float32), "b": np.zeros((3,), np.float32)}, True)
    assert caught.value.code == Code.INTERNAL
    assert caught.value.message.startswith("Response parsing to JSON error")
    assert "a: 2, b: 3" in caught.value.message


def test_bfloat16_takes_numbers_rounded_to_nearest_and_answers_numbers() -> None:
    servable = EchoServable("m", [spec("x", BF16_DTYPE, -1)])
    inputs, row = decode({"instances": [1.5, 1.00390625, 1.01171875, -3]}, servable)
    assert inputs["x"].dtype == BF16_DTYPE
    # 1.00390625 is halfway between two BF16 values: ties go to the even one (1.0), 1.01171875 up
    np.testing.assert_array_equal(bf16_to_float32(inputs["x"]), [1.5, 1.0, 1.015625, -3.0])
    assert orjson.loads(encode_predict({"y": inputs["x"]}, row)) == {
        "predictions": [1.5, 1.0, 1.015625, -3.0]
    }
    assert orjson.loads(encode_predict({"y": inputs["x"][:1].reshape(())}, False)) == {"outputs": 1.5}
