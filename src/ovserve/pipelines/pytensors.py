"""numpy arrays <-> ``pyovms.Tensor``, as OVMS converts a Python node's inputs and outputs.

An input becomes the tensor OVMS makes from a request tensor: a KServe numeric datatype
keeps its shape and gets that datatype's buffer format (INT64 -> ``q``); BYTES becomes
OVMS's packed buffer (each element preceded by its length, 4 bytes little-endian) of
format ``B``, its shape kept in ``Tensor.shape``; BF16 a raw ``B`` buffer. No copy is made
but for BYTES.

An output becomes a numpy array by its ``datatype`` and ``shape`` (the attributes, as OVMS
serialises them), the buffer read as raw bytes: a numeric datatype's shape must match the
buffer's size, BYTES must be OVMS's packed format; numpy string arrays (``<U``/``S``/
object of str or bytes) become BYTES. The array is a copy: user code may reuse its buffers.
Problems raise :class:`ValueError` naming the tensor (the node adds its own name).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ovserve.tensors import BF16_DTYPE, BYTES_DTYPE, KSERVE_TO_NUMPY, NUMPY_TO_KSERVE, bytes_array
from pyovms import DATATYPE_TO_BUFFER_FORMAT, Tensor

#: the length prefix of each element of a packed BYTES buffer
_PREFIX = 4


def pack_bytes(items: Sequence[object]) -> bytes:
    """Elements as OVMS's BYTES buffer: each preceded by its length (4 bytes, little-endian)."""
    parts: list[bytes] = []
    for item in items:
        data = item.encode() if isinstance(item, str) else bytes(item)  # type: ignore[call-overload]
        parts += (len(data).to_bytes(_PREFIX, "little"), data)
    return b"".join(parts)


def unpack_bytes(raw: bytes, name: str) -> list[bytes]:
    """The elements of a packed BYTES buffer; ValueError naming the tensor when it is not one."""
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + _PREFIX > len(raw):
            raise ValueError(f"output {name!r}: BYTES data ends inside an element's 4-byte length")
        length = int.from_bytes(raw[offset : offset + _PREFIX], "little")
        offset += _PREFIX
        if offset + length > len(raw):
            raise ValueError(
                f"output {name!r}: BYTES element {len(items)} declares {length} bytes; "
                f"{len(raw) - offset} are left (BYTES data is each element preceded by its 4-byte length)"
            )
        items.append(raw[offset : offset + length])
        offset += length
    return items


#: numpy dtype of each KServe numeric datatype -> the dtype whose buffer format is OVMS's for it
#: (numpy's int64 exports format "l"; OVMS's INT64 input tensors have "q")
_FORMAT_DTYPES: dict[np.dtype, np.dtype] = {
    KSERVE_TO_NUMPY[datatype]: np.dtype(fmt) for datatype, fmt in DATATYPE_TO_BUFFER_FORMAT.items()
}


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array``, copied only when it is not C-contiguous (and kept 0-d when it is)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def tensor_from_array(name: str, array: np.ndarray) -> Tensor:
    """The ``pyovms.Tensor`` OVMS would give a Python node for this input."""
    format_dtype = _FORMAT_DTYPES.get(array.dtype)
    if format_dtype is not None:
        view = _contiguous(array).view(format_dtype)
        return Tensor._wrap(name, view, array, array.shape, NUMPY_TO_KSERVE[array.dtype])
    if array.dtype == BYTES_DTYPE:
        return Tensor._from_request(name, pack_bytes(array.ravel().tolist()), array.shape, "BYTES")
    if array.dtype == BF16_DTYPE:
        raw = _contiguous(array).view(np.uint8).reshape(-1)
        return Tensor._wrap(name, raw, array, array.shape, "BF16")
    raise ValueError(f"input {name!r}: numpy dtype {array.dtype} has no KServe datatype")


def _count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _strings(tensor: Tensor, view: np.ndarray) -> np.ndarray:
    """A numpy string (or object) array output as a BYTES array of the tensor's shape."""
    items = [x.encode() if isinstance(x, str) else x for x in view.ravel().tolist()]
    if not all(isinstance(x, bytes) for x in items):
        raise ValueError(f"output {tensor.name!r}: an object array must hold str or bytes")
    if len(items) != _count(tensor.shape):
        raise ValueError(
            f"output {tensor.name!r}: shape {tensor.shape} needs {_count(tensor.shape)} strings; "
            f"the data has {len(items)}"
        )
    return bytes_array(items, tensor.shape)


def _raw(tensor: Tensor, dtype: np.dtype) -> np.ndarray:
    """The buffer's bytes read as ``dtype`` in the tensor's shape (sizes must agree)."""
    raw = bytes(tensor)
    need = _count(tensor.shape) * dtype.itemsize
    if len(raw) != need:
        raise ValueError(
            f"output {tensor.name!r}: shape {tensor.shape} of {tensor.datatype} needs {need} bytes; "
            f"the data has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(tensor.shape).copy()


def array_from_tensor(tensor: Tensor) -> np.ndarray:
    """The numpy array a pipeline carries for a Python node's output ``tensor`` (a copy)."""
    view = np.asarray(tensor)
    datatype = tensor.datatype
    if view.dtype.kind in "USO":
        return _strings(tensor, view)
    if datatype == "BYTES":
        items = unpack_bytes(bytes(tensor), tensor.name)
        if len(items) != _count(tensor.shape):
            raise ValueError(
                f"output {tensor.name!r}: BYTES data holds {len(items)} elements; "
                f"shape {tensor.shape} needs {_count(tensor.shape)}"
            )
        return bytes_array(items, tensor.shape)
    dtype = KSERVE_TO_NUMPY.get(datatype)
    if dtype is None:
        raise ValueError(
            f"output {tensor.name!r}: datatype {datatype!r} is not a KServe datatype, which a pipeline "
            "needs to carry it (give Tensor(..., datatype=...) one of BOOL, UINT8..UINT64, INT8..INT64, "
            "FP16, FP32, FP64, BF16, BYTES)"
        )
    if view.dtype == dtype and view.shape == tensor.shape:
        return np.array(view, copy=True)
    return _raw(tensor, dtype)


def tensor_from_raw(name: str, data: bytes, shape: Sequence[int], datatype: str) -> Tensor:
    """The tensor OVMS makes from a request tensor's raw bytes (a graph's ``OVMS_PY_TENSOR``
    input): ValueError naming it when a numeric datatype's shape does not fit the bytes."""
    return Tensor._from_request(name, data, shape, datatype)


def check_raw(name: str, data: bytes, shape: Sequence[int], datatype: str) -> None:
    """What :func:`tensor_from_raw` refuses (ValueError naming the tensor), without making the tensor:
    a request's raw input is checked before the graph runs, and made into a tensor once, by the node."""
    Tensor._check_request(name, len(data), shape, datatype)
