"""What the KServe v2 REST and gRPC codecs share: datatypes, shapes, raw buffers, output selection.

Raw tensor buffers (the REST binary extension and gRPC ``raw_input_contents``) hold
numbers little-endian in row-major order, and BYTES elements each behind a 4-byte
little-endian length. Numbers become numpy arrays with :func:`numpy.frombuffer` (no
copy unless the buffer is misaligned); BYTES become ``object`` arrays of ``bytes``.
Every function raises :class:`~ovserve.errors.InvalidInput` with a message naming the
input and the problem.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, UnsupportedOutput
from ovserve.tensors import (
    BYTES_DTYPE,
    KSERVE_TO_NUMPY,
    NUMPY_TO_KSERVE,
    RawInput,
    bytes_array,
    check_declared_size,
    kserve_datatype,
)

#: The datatypes ovserve accepts, in the order messages list them.
DATATYPES = tuple(KSERVE_TO_NUMPY)

_LENGTH = struct.Struct("<I")


def numpy_dtype(datatype: object, input_name: str) -> np.dtype:
    """The numpy dtype of a KServe datatype name; unknown names are a 400 naming the input."""
    dtype = KSERVE_TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise InvalidInput(
            f"Invalid datatype {datatype!r} of input {input_name}; supported: {', '.join(DATATYPES)}"
        )
    return dtype


def datatype_of(name: str, array: np.ndarray) -> str:
    """The KServe datatype of an output array; a dtype KServe cannot carry is a server error."""
    datatype = NUMPY_TO_KSERVE.get(array.dtype)
    if datatype is None:
        raise UnsupportedOutput(f"Unsupported serialization precision {array.dtype} of output {name}")
    return datatype


def check_shape(shape: Sequence[object], input_name: str, dtype: np.dtype) -> tuple[int, ...]:
    """A request shape as a tuple of non-negative ints (zero is allowed, as in OVMS) that an
    array of ``dtype`` can have (:func:`~ovserve.tensors.check_declared_size`)."""
    dims: list[int] = []
    for dim in shape:
        if type(dim) is not int:  # bool is an int subclass: refuse it too
            raise InvalidInput(
                f"Invalid input shape - dimensions must be integers; Actual: {list(shape)}; "
                f"input name: {input_name}"
            )
        if dim < 0:
            raise InvalidInput(
                "Invalid input shape - Negative or zero dimension size is not acceptable; "
                f"Actual: {list(shape)}; input name: {input_name}"
            )
        dims.append(dim)
    check_declared_size(dims, dtype.itemsize, input_name)
    return tuple(dims)


def element_count(shape: Iterable[int]) -> int:
    return math.prod(shape)


# -- raw buffers -------------------------------------------------------------------


def from_raw(
    buffer: bytes | memoryview,
    dtype: np.dtype,
    shape: tuple[int, ...],
    input_name: str,
    offset: int = 0,
    size: int | None = None,
) -> np.ndarray:
    """The array in ``buffer[offset:offset+size]`` (the whole rest when ``size`` is None)."""
    if size is None:
        size = len(buffer) - offset
    count = element_count(shape)
    if dtype == BYTES_DTYPE:
        return deserialize_bytes(memoryview(buffer)[offset : offset + size], count, input_name).reshape(shape)
    expected = count * dtype.itemsize
    if size != expected:
        raise InvalidInput(
            f"Invalid content size of tensor proto - Expected: {expected} bytes; Actual: {size} bytes; "
            f"input name: {input_name} (shape {list(shape)}, {kserve_datatype(dtype)})"
        )
    array = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    if not array.flags.aligned:
        array = array.copy()
    return array.reshape(shape)


def deserialize_bytes(buffer: bytes | memoryview, count: int, input_name: str) -> np.ndarray:
    """Split length-prefixed BYTES elements; the buffer must hold exactly ``count`` of them."""
    view = memoryview(buffer)
    end = len(view)
    items: list[bytes] = []
    pos = 0
    while pos < end:
        if pos + 4 > end:
            raise InvalidInput(
                f"Invalid BYTES content of input {input_name}: element {len(items)} has a truncated "
                f"4-byte length prefix ({end - pos} bytes left)"
            )
        (length,) = _LENGTH.unpack_from(view, pos)
        pos += 4
        if pos + length > end:
            raise InvalidInput(
                f"Invalid BYTES content of input {input_name}: element {len(items)} declares {length} bytes "
                f"but only {end - pos} remain"
            )
        items.append(bytes(view[pos : pos + length]))
        pos += length
    if len(items) != count:
        raise InvalidInput(
            f"Invalid number of values in tensor proto container - Expected: {count}; "
            f"Actual: {len(items)}; input name: {input_name}"
        )
    return bytes_array(items)


def _as_bytes(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    return bytes(item)  # type: ignore[call-overload, no-any-return]


def serialize_bytes(array: np.ndarray) -> bytes:
    """BYTES elements, each behind its 4-byte little-endian length."""
    parts: list[bytes] = []
    for item in array.ravel():
        data = _as_bytes(item)
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def raw_output_array(raw: RawInput, name: str) -> np.ndarray | None:
    """A raw output (a graph's Python tensor, ``tensors.RawInput``) as the array its KServe datatype and
    shape make; None when they make none (a custom datatype, BYTES not in KServe's format, a size that
    does not fit): it is then sent as binary data, as is."""
    dtype = KSERVE_TO_NUMPY.get(raw.datatype)
    if dtype is None:
        return None
    count = element_count(raw.shape)
    try:
        if dtype == BYTES_DTYPE:
            return deserialize_bytes(raw.data, count, name).reshape(raw.shape)
        if len(raw.data) != count * dtype.itemsize:
            return None
        return np.frombuffer(raw.data, dtype=dtype).reshape(raw.shape)
    except InvalidInput:
        return None


def to_raw(array: np.ndarray) -> bytes:
    """The raw wire form of an output array."""
    if array.dtype == BYTES_DTYPE:
        return serialize_bytes(array)
    return np.ascontiguousarray(array).tobytes()


# -- outputs ---------------------------------------------------------------------


def check_requested_outputs(servable: Servable, names: Sequence[str]) -> tuple[str, ...]:
    """The requested output names, deduplicated in request order; unknown names are a 400.

    A servable's special outputs (a stateful model's ``sequence_id``) are always sent.
    """
    special = servable.special_outputs
    unknown = [name for name in names if name not in servable.outputs and name not in special]
    if unknown:
        raise InvalidInput(
            f"Invalid output name - {', '.join(unknown)} is not an output of model {servable.name}; "
            f"outputs: {', '.join(servable.outputs)}"
        )
    return tuple(dict.fromkeys([*names, *special]))


def selected_outputs(
    outputs: Mapping[str, np.ndarray], requested: tuple[str, ...] | None
) -> list[tuple[str, np.ndarray]]:
    """The outputs to send: the requested ones in request order, or all in the model's order."""
    if requested is None:
        return list(outputs.items())
    return [(name, outputs[name]) for name in requested]


# -- Triton's sequence parameters ------------------------------------------------------
_UINT64_MAX = 2**64 - 1


def add_sequence_parameters(
    params: Mapping[str, object], servable: Servable, arrays: dict[str, np.ndarray]
) -> None:
    """Triton's sequence request parameters as a stateful model's special inputs.

    tritonclient's ``infer(sequence_id=…, sequence_start=…, sequence_end=…)`` sends them as
    request parameters; they become ``sequence_id`` / ``sequence_control_input`` (1 start,
    2 end, 0 none). Only for servables that take those special inputs; ignored otherwise.
    """
    if "sequence_id" not in servable.special_inputs or not any(
        key in params for key in ("sequence_id", "sequence_start", "sequence_end")
    ):
        return
    if "sequence_id" in arrays or "sequence_control_input" in arrays:
        raise InvalidInput(
            "Give a sequence either as the inputs sequence_id / sequence_control_input or as the "
            "request parameters sequence_id / sequence_start / sequence_end, not both"
        )
    sequence_id = params.get("sequence_id", 0)
    if (
        isinstance(sequence_id, bool)
        or not isinstance(sequence_id, int)
        or not 0 <= sequence_id <= _UINT64_MAX
    ):
        raise InvalidInput(
            "Invalid request parameter sequence_id - an unsigned 64-bit integer is expected "
            f"(string sequence ids are not supported); Actual: {sequence_id!r}"
        )
    start, end = params.get("sequence_start", False), params.get("sequence_end", False)
    if not isinstance(start, bool) or not isinstance(end, bool):
        raise InvalidInput(
            f"Invalid request parameters sequence_start / sequence_end - true or false expected; "
            f"Actual: {start!r} / {end!r}"
        )
    if start and end:
        raise InvalidInput(
            "sequence_start and sequence_end in one request (a one-request sequence) are not "
            "supported: start the sequence, then end it with its next request"
        )
    arrays["sequence_id"] = np.array([sequence_id], np.uint64)
    arrays["sequence_control_input"] = np.array([1 if start else 2 if end else 0], np.uint32)
