"""TensorFlow ``TensorProto`` to numpy and back, for the TF Serving gRPC API.

Decoding builds the array with the dtype the *request* declares; whether it is the
model's dtype is the shared core validation's call, so a mismatch reads the same on
every front end. Values may come in ``tensor_content`` (raw little-endian bytes, taken
zero-copy with ``np.frombuffer``) or in the typed repeated field of the dtype
(``float_val``, ``int_val`` for the narrow integer types, ``half_val`` holding fp16 or
bfloat16 bit patterns, ``string_val`` for DT_STRING, ...). Element counts are checked
against the declared shape here, since only the codec knows how many values arrived.

Encoding writes numbers to ``tensor_content`` and strings to ``string_val``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, cast

import numpy as np

from ovserve._generated.tensorflow.core.framework import tensor_pb2, types_pb2
from ovserve.errors import DtypeMismatch, InvalidInput, UnsupportedOutput
from ovserve.tensors import (
    BYTES_DTYPE,
    NUMPY_TO_TF,
    TF_NAMES,
    TF_TO_NUMPY,
    TensorSpec,
    bytes_array,
    check_declared_size,
    format_dims,
    precision_name,
)

DT_STRING = 7
DT_BFLOAT16 = 14
DT_HALF = 19
#: dtypes whose typed values are 16-bit patterns in ``half_val``
_HALF_VAL_DTYPES = (DT_BFLOAT16, DT_HALF)

#: DataType -> the TensorProto repeated field that carries its values when
#: ``tensor_content`` is empty.
VALUE_FIELDS: dict[int, str] = {
    1: "float_val",  # DT_FLOAT
    2: "double_val",  # DT_DOUBLE
    3: "int_val",  # DT_INT32
    4: "int_val",  # DT_UINT8
    5: "int_val",  # DT_INT16
    6: "int_val",  # DT_INT8
    7: "string_val",  # DT_STRING
    9: "int64_val",  # DT_INT64
    10: "bool_val",  # DT_BOOL
    14: "half_val",  # DT_BFLOAT16
    17: "int_val",  # DT_UINT16
    19: "half_val",  # DT_HALF
    22: "uint32_val",  # DT_UINT32
    23: "uint64_val",  # DT_UINT64
}


class ShapeError(InvalidInput):
    """A TensorProto shape with a negative dimension."""

    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        super().__init__(
            f"Invalid input shape - Negative or zero dimension size is not acceptable: "
            f"{format_dims(shape)}; input name: {name}"
        )


def dtype_name(tf_dtype: int) -> str:
    """``DT_FLOAT`` etc., from the DataType enum itself (it knows types we do not serve)."""
    name = TF_NAMES.get(tf_dtype)
    if name is None:
        try:
            name = str(types_pb2.DataType.Name(tf_dtype))
        except ValueError:
            name = f"DataType {tf_dtype}"
    return name


def decode_inputs(
    protos: Mapping[str, tensor_pb2.TensorProto], specs: Mapping[str, TensorSpec]
) -> dict[str, np.ndarray]:
    """Every ``PredictRequest.inputs`` entry as an array; ``specs`` (the model's) only word messages."""
    decoded = {}
    for name, proto in protos.items():
        spec = specs.get(name)
        decoded[name] = decode_tensor(name, proto, spec.dtype if spec is not None else None)
    return decoded


def decode_tensor(name: str, proto: tensor_pb2.TensorProto, expected: np.dtype | None = None) -> np.ndarray:
    """One ``TensorProto`` as an array of the dtype it declares."""
    tf_dtype = int(proto.dtype)
    dtype = TF_TO_NUMPY.get(tf_dtype)
    if dtype is None:
        want = f"Expected: {precision_name(expected)}; " if expected is not None else ""
        raise DtypeMismatch(
            f"Invalid input precision - {want}Actual: {dtype_name(tf_dtype)} "
            f"(not supported); input name: {name}"
        )
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise ShapeError(name, shape)
    count = check_declared_size(shape, dtype.itemsize, name)
    content: bytes = proto.tensor_content
    if content:
        if dtype == BYTES_DTYPE:
            raise InvalidInput(
                f"Invalid tensor proto - DT_STRING values must be sent in string_val, not tensor_content; "
                f"input name: {name}"
            )
        expected_bytes = count * dtype.itemsize
        if len(content) != expected_bytes:
            raise InvalidInput(
                f"Invalid content size of tensor proto - Expected: {expected_bytes} bytes; "
                f"Actual: {len(content)} bytes; input name: {name} (shape {format_dims(shape)}, "
                f"{dtype_name(tf_dtype)} of {dtype.itemsize} bytes each)"
            )
        return np.frombuffer(content, dtype=dtype).reshape(shape)
    values = getattr(proto, VALUE_FIELDS[tf_dtype])
    if len(values) != count:
        if not values and dtype != BYTES_DTYPE:
            raise InvalidInput(
                f"Invalid content size of tensor proto - Expected: {count * dtype.itemsize} bytes; "
                f"Actual: 0 bytes; input name: {name} (no tensor_content and no {VALUE_FIELDS[tf_dtype]})"
            )
        raise InvalidInput(
            f"Invalid number of values in tensor proto container - Expected: {count}; "
            f"Actual: {len(values)}; input name: {name} (shape {format_dims(shape)}, "
            f"field {VALUE_FIELDS[tf_dtype]})"
        )
    if dtype == BYTES_DTYPE:
        return bytes_array(list(values), shape)
    if tf_dtype in _HALF_VAL_DTYPES:
        return _checked(name, values, np.dtype(np.uint16), tf_dtype).view(dtype).reshape(shape)
    return _checked(name, values, dtype, tf_dtype).reshape(shape)


def _checked(name: str, values: Any, dtype: np.dtype, tf_dtype: int) -> np.ndarray:
    """Typed values as ``dtype``; a value out of the dtype's range is the client's error."""
    try:
        return np.array(values, dtype=dtype)
    except OverflowError as exc:
        raise InvalidInput(
            f"Invalid tensor proto - a value in {VALUE_FIELDS[tf_dtype]} does not fit "
            f"{dtype_name(tf_dtype)}: {exc}; input name: {name}"
        ) from None


def encode_outputs(
    outputs: Mapping[str, np.ndarray],
    target: Mapping[str, tensor_pb2.TensorProto],
    typed: Collection[str] = (),
) -> None:
    """Fill the ``outputs`` map of a ``PredictResponse`` (``target``) from numpy outputs.

    Outputs named in ``typed`` (a servable's special outputs) carry their values in the
    dtype's ``*_val`` field, as OVMS writes ``sequence_id`` (``uint64_val``), not in
    ``tensor_content``.
    """
    for name, array in outputs.items():
        proto = encode_tensor(name, array, target[name])
        if name in typed and proto.tensor_content:
            proto.ClearField("tensor_content")
            getattr(proto, VALUE_FIELDS[proto.dtype]).extend(array.ravel().tolist())


def encode_tensor(
    name: str, array: np.ndarray, proto: tensor_pb2.TensorProto | None = None
) -> tensor_pb2.TensorProto:
    """``array`` as a TensorProto: numbers in ``tensor_content``, strings in ``string_val``."""
    if proto is None:
        proto = tensor_pb2.TensorProto()
    tf_dtype = NUMPY_TO_TF.get(array.dtype)
    if tf_dtype is None:
        raise UnsupportedOutput(
            f"Unsupported serialization precision - output {name} has dtype {array.dtype}"
        )
    proto.dtype = cast("types_pb2.DataType", tf_dtype)  # the stubs type the enum field; ours is its int
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    if tf_dtype == DT_STRING:
        proto.string_val.extend(
            item.encode() if isinstance(item, str) else bytes(item) for item in array.ravel()
        )
    else:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto
