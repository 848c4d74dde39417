"""TensorProto <-> numpy: every dtype through tensor_content and through its typed field, and bad protos."""

from __future__ import annotations

import numpy as np
import pytest

from ovserve._generated.tensorflow.core.framework import tensor_pb2, types_pb2
from ovserve.api.tfs.codec_proto import decode_inputs, decode_tensor, encode_tensor
from ovserve.errors import Code, DtypeMismatch, InvalidInput, ServingError
from ovserve.tensors import BF16_DTYPE, NUMERIC_DTYPES, NUMPY_TO_TF, bf16_from_float, bf16_to_float32

from .fakes import spec

NUMERIC = [d.type for d in NUMERIC_DTYPES]


def sample(dtype: type, shape: tuple[int, ...] = (2, 3)) -> np.ndarray:
    base = np.arange(int(np.prod(shape))).reshape(shape)
    if dtype == np.bool_:
        return base % 3 == 0
    if np.issubdtype(dtype, np.floating):
        return (base * 0.5 - 1.25).astype(dtype)
    if np.issubdtype(dtype, np.signedinteger):
        return (base - 3).astype(dtype) * (np.iinfo(dtype).max // 8)
    return base.astype(dtype) * (np.iinfo(dtype).max // 8)


def proto(dtype: int, shape: tuple[int, ...], **fields: object) -> tensor_pb2.TensorProto:
    message = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for size in shape:
        message.tensor_shape.dim.add().size = size
    return message


@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
def test_round_trip_through_tensor_content(dtype: type) -> None:
    data = sample(dtype)
    message = encode_tensor("x", data)
    assert message.dtype == NUMPY_TO_TF[np.dtype(dtype)]
    assert [d.size for d in message.tensor_shape.dim] == [2, 3]
    assert message.tensor_content == data.tobytes()
    wire = tensor_pb2.TensorProto.FromString(message.SerializeToString())
    back = decode_tensor("x", wire)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, data)


def test_strings_round_trip_through_string_val() -> None:
    data = np.array([[b"a", b"\xff\x00"], [b"", b"longer text"]], dtype=object)
    message = encode_tensor("s", data)
    assert message.dtype == types_pb2.DT_STRING
    assert list(message.string_val) == [b"a", b"\xff\x00", b"", b"longer text"]
    assert not message.tensor_content
    back = decode_tensor("s", tensor_pb2.TensorProto.FromString(message.SerializeToString()))
    assert back.dtype == object and back.shape == (2, 2)
    assert back.tolist() == data.tolist()
    assert list(encode_tensor("s", np.array(["é"], dtype=object)).string_val) == ["é".encode()]


TYPED = [
    (np.float32, types_pb2.DT_FLOAT, "float_val"),
    (np.float64, types_pb2.DT_DOUBLE, "double_val"),
    (np.int32, types_pb2.DT_INT32, "int_val"),
    (np.int16, types_pb2.DT_INT16, "int_val"),
    (np.int8, types_pb2.DT_INT8, "int_val"),
    (np.uint8, types_pb2.DT_UINT8, "int_val"),
    (np.uint16, types_pb2.DT_UINT16, "int_val"),
    (np.int64, types_pb2.DT_INT64, "int64_val"),
    (np.uint32, types_pb2.DT_UINT32, "uint32_val"),
    (np.uint64, types_pb2.DT_UINT64, "uint64_val"),
    (np.bool_, types_pb2.DT_BOOL, "bool_val"),
]


@pytest.mark.parametrize(("dtype", "tf_dtype", "field"), TYPED, ids=lambda v: str(v))
def test_typed_value_fields(dtype: type, tf_dtype: int, field: str) -> None:
    data = sample(dtype)
    message = proto(tf_dtype, data.shape, **{field: data.ravel().tolist()})
    back = decode_tensor("x", message)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, data)


def test_half_val_holds_fp16_bit_patterns() -> None:
    data = np.array([[0.5, -2.0, 65504.0]], np.float16)
    message = proto(types_pb2.DT_HALF, data.shape, half_val=data.view(np.uint16).ravel().tolist())
    back = decode_tensor("h", message)
    assert back.dtype == np.float16
    np.testing.assert_array_equal(back, data)


def test_scalar_and_empty_tensors() -> None:
    back = decode_tensor("x", proto(types_pb2.DT_FLOAT, (), float_val=[2.5]))
    assert back.shape == () and back.item() == 2.5
    back = decode_tensor("x", proto(types_pb2.DT_FLOAT, (0, 3)))
    assert back.shape == (0, 3) and back.dtype == np.float32


def test_request_dtype_is_kept_for_core_validation() -> None:
    inputs = decode_inputs(
        {"x": proto(types_pb2.DT_INT32, (1, 2), int_val=[1, 2])}, {"x": spec("x", np.float32, 1, 2)}
    )
    assert inputs["x"].dtype == np.int32  # the precision check in core/validation reports it


# -- bad protos ------------------------------------------------------------------------
def error_of(message: tensor_pb2.TensorProto, expected: object = None) -> ServingError:
    with pytest.raises(ServingError) as caught:
        decode_tensor("x", message, None if expected is None else np.dtype(expected))
    assert caught.value.code == Code.INVALID_ARGUMENT
    assert "input name: x" in caught.value.message
    return caught.value


def test_content_size_mismatch() -> None:
    error = error_of(proto(types_pb2.DT_FLOAT, (1, 3), tensor_content=b"\x00" * 8))
    assert error.message.startswith(
        "Invalid content size of tensor proto - Expected: 12 bytes; Actual: 8 bytes"
    )


def test_no_values_at_all_reads_as_empty_content() -> None:
    error = error_of(proto(types_pb2.DT_INT64, (2,)))
    assert error.message.startswith(
        "Invalid content size of tensor proto - Expected: 16 bytes; Actual: 0 bytes"
    )


def test_typed_value_count_must_match_shape() -> None:
    error = error_of(proto(types_pb2.DT_FLOAT, (2, 2), float_val=[1.0, 2.0, 3.0]))
    assert error.message.startswith(
        "Invalid number of values in tensor proto container - Expected: 4; Actual: 3"
    )
    error = error_of(proto(types_pb2.DT_STRING, (2,), string_val=[b"a"]))
    assert "Expected: 2; Actual: 1" in error.message


def test_unsupported_dtype_names_both_sides() -> None:
    error = error_of(proto(types_pb2.DT_COMPLEX64, (1,), scomplex_val=[1.0, 2.0]), np.float32)
    assert isinstance(error, DtypeMismatch)
    assert error.message.startswith("Invalid input precision - Expected: FP32; Actual: DT_COMPLEX64")


def test_negative_dimension() -> None:
    error = error_of(proto(types_pb2.DT_FLOAT, (-1, 2)))
    assert error.message.startswith("Invalid input shape - Negative")
    assert "(-1,2)" in error.message


def test_out_of_range_typed_value() -> None:
    error = error_of(proto(types_pb2.DT_INT8, (1,), int_val=[1000]))
    assert "int_val" in error.message and "DT_INT8" in error.message


def test_strings_in_tensor_content_are_refused() -> None:
    error = error_of(proto(types_pb2.DT_STRING, (1,), tensor_content=b"abc"))
    assert isinstance(error, InvalidInput) and "string_val" in error.message


def test_unserialisable_output_dtype() -> None:
    with pytest.raises(ServingError) as caught:
        encode_tensor("out", np.zeros(2, np.complex64))
    assert caught.value.code == Code.INTERNAL
    assert caught.value.message.startswith("Unsupported serialization precision - output out")


def test_bfloat16_in_tensor_content_and_in_half_val() -> None:
    values = bf16_from_float([[1.5, -2.0, 3.0e38], [0.0, -0.0, 1.00390625]])
    message = encode_tensor("x", values)
    assert message.dtype == types_pb2.DT_BFLOAT16
    assert message.tensor_content == values.tobytes()
    back = decode_tensor("x", tensor_pb2.TensorProto.FromString(message.SerializeToString()))
    assert back.dtype == BF16_DTYPE and back.shape == (2, 3)
    np.testing.assert_array_equal(back, values)
    # TensorFlow's own form: one bf16 bit pattern per half_val entry
    typed = proto(types_pb2.DT_BFLOAT16, (2, 3), half_val=values.view(np.uint16).ravel().tolist())
    np.testing.assert_array_equal(decode_tensor("x", typed), values)
    np.testing.assert_array_equal(bf16_to_float32(back)[0], np.array([1.5, -2.0, 3.0040553e38], np.float32))
    with pytest.raises(InvalidInput, match="does not fit DT_BFLOAT16"):
        decode_tensor("x", proto(types_pb2.DT_BFLOAT16, (1,), half_val=[70000]))
