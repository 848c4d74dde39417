"""``pyovms.Tensor``: a named buffer with a KServe datatype and a shape, as OVMS's Python nodes see it.

OVMS's ``Tensor`` (a C++ class bound with pybind11) keeps a reference to the object it was
made from and exposes that object's buffer (format, shape, strides) read-only; ``shape``
and ``datatype`` are separate attributes, taken from the buffer unless the constructor
overrides them. A tensor made by the server from a request with a KServe numeric datatype
has the buffer format of that datatype (``FP32`` -> ``f``, ``INT64`` -> ``q``); any other
datatype (``BYTES``, ``BF16``, a custom name) is a 1-D raw buffer of format ``B``.

Here the buffer is a read-only numpy view of the source (no copy). The buffer protocol
itself: ``memoryview(t)``, ``np.frombuffer(t)`` and ``io.BytesIO(t)`` need the compiled
base class (:mod:`pyovms._buffer`, built with the package where a C compiler exists) or
Python 3.12+ (``__buffer__``); ``bytes(t)``, ``np.array(t)``, ``np.asarray(t)`` and
``t.data`` work everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: KServe datatype -> struct format character of its buffer (OVMS's table).
DATATYPE_TO_BUFFER_FORMAT: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
#: struct format character -> KServe datatype. ``l``/``L`` (numpy's int64/uint64 on 64-bit Linux)
#: map by their size: OVMS maps them to INT32/UINT32 whatever their size, which mislabels every
#: numpy int64 array (a documented OVMS quirk); ovserve names the data's real type.
BUFFER_FORMAT_TO_DATATYPE: dict[str, str] = {fmt: dt for dt, fmt in DATATYPE_TO_BUFFER_FORMAT.items()}

_LONG_FORMATS = {("l", 4): "INT32", ("l", 8): "INT64", ("L", 4): "UINT32", ("L", 8): "UINT64"}
#: PyBUF_WRITABLE: a consumer asking for a writable buffer
_PYBUF_WRITABLE = 0x0001

try:  # the buffer protocol on Python < 3.12 (a C base class; optional at build time)
    from pyovms._buffer import BufferBase as _Base  # type: ignore[import-not-found,unused-ignore]

    HAS_BUFFER_BASE = True
except ImportError:  # pragma: no cover - depends on the build
    _Base = object
    HAS_BUFFER_BASE = False


def datatype_of_format(fmt: str, itemsize: int) -> str:
    """The KServe datatype of a buffer format, or the format itself when it has none (as OVMS)."""
    long_type = _LONG_FORMATS.get((fmt, itemsize))
    return long_type or BUFFER_FORMAT_TO_DATATYPE.get(fmt, fmt)


def _as_view(buffer: object) -> np.ndarray:
    """A read-only numpy view of ``buffer``'s memory, with its format, shape and strides."""
    if isinstance(buffer, Tensor):
        return buffer._view
    if isinstance(buffer, np.ndarray):
        view = buffer.view()
    else:
        try:
            memory = memoryview(buffer)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                "pyovms.Tensor: buffer must support the buffer protocol (bytes, bytearray, "
                f"memoryview, numpy.ndarray, another Tensor); got {type(buffer).__name__}"
            ) from None
        try:
            view = np.asarray(memory)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"pyovms.Tensor: unsupported buffer format {memory.format!r}: {exc}") from None
    view.flags.writeable = False
    return view


def _format(view: np.ndarray) -> str:
    """The buffer protocol's format string of ``view`` (numpy's dtype string if it has none)."""
    try:
        return view.data.format
    except (TypeError, ValueError):
        return str(view.dtype.str)


def _as_shape(shape: object) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape
    ):
        raise TypeError(f"pyovms.Tensor: shape must be a tuple or list of ints; got {shape!r}")
    return tuple(int(d) for d in shape)


class Tensor(_Base):  # type: ignore[misc,valid-type,unused-ignore]
    """``Tensor(name, buffer, shape=None, datatype=None)``: OVMS's Python tensor.

    ``buffer`` is any object with the buffer protocol; the tensor refers to its memory (no
    copy). ``shape`` and ``datatype`` only override the attributes of the same names; they
    never reshape or convert the buffer.
    """

    __slots__ = ("_datatype", "_name", "_ref", "_shape", "_view")

    def __init__(
        self,
        name: str,
        buffer: object,
        shape: Sequence[int] | None = None,
        datatype: str | None = None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"pyovms.Tensor: name must be a str; got {type(name).__name__}")
        if datatype is not None and not isinstance(datatype, str):
            raise TypeError(f"pyovms.Tensor: datatype must be a str; got {type(datatype).__name__}")
        view = _as_view(buffer)
        self._set(name, view, buffer, None if shape is None else _as_shape(shape), datatype)

    def _set(
        self, name: str, view: np.ndarray, ref: object, shape: tuple[int, ...] | None, datatype: str | None
    ) -> None:
        self._name = name
        self._view = view
        self._ref = ref
        self._shape = tuple(view.shape) if shape is None else shape
        self._datatype = (
            datatype if datatype is not None else datatype_of_format(_format(view), view.itemsize)
        )
        if HAS_BUFFER_BASE:
            self._export(view)

    @classmethod
    def _wrap(cls, name: str, view: np.ndarray, ref: object, shape: tuple[int, ...], datatype: str) -> Tensor:
        """A tensor over ``view`` as is (the server's own tensors: no checks, no format lookup)."""
        view.flags.writeable = False
        tensor = cls.__new__(cls)
        tensor._set(name, view, ref, shape, datatype)
        return tensor

    @classmethod
    def _from_request(cls, name: str, data: object, shape: Sequence[int], datatype: str) -> Tensor:
        """A tensor as the server makes it from a request's tensor: ``data`` is its raw bytes.

        A KServe numeric datatype gets its format and the request's shape; any other datatype
        (BYTES, BF16, a custom name) a 1-D buffer of bytes, the request's shape kept in ``shape``.
        """
        raw = np.frombuffer(data, dtype=np.uint8)  # type: ignore[call-overload]
        user_shape = cls._check_request(name, raw.size, shape, datatype)
        fmt = DATATYPE_TO_BUFFER_FORMAT.get(datatype)
        if fmt is None:
            return cls._wrap(name, raw, data, user_shape, datatype)
        return cls._wrap(name, raw.view(np.dtype(fmt)).reshape(user_shape), data, user_shape, datatype)

    @staticmethod
    def _check_request(name: str, size: int, shape: Sequence[int], datatype: str) -> tuple[int, ...]:
        """The shape of the tensor :meth:`_from_request` makes of ``size`` bytes, or ValueError naming
        it when a numeric datatype's shape does not fit them; builds nothing."""
        user_shape = _as_shape(shape)
        fmt = DATATYPE_TO_BUFFER_FORMAT.get(datatype)
        if fmt is not None:
            needed = math.prod(user_shape) * np.dtype(fmt).itemsize
            if size != needed:
                raise ValueError(
                    f"pyovms.Tensor {name!r}: shape {user_shape} of {datatype} needs {needed} bytes; the data has {size}"
                )
        return user_shape

    @property
    def name(self) -> str:
        """The name that ties the tensor to a node's input or output stream."""
        return self._name

    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape: the buffer's, unless the constructor (or the request) gave another."""
        return self._shape

    @property
    def datatype(self) -> str:
        """A KServe datatype (FP32, BYTES...), or any other name the tensor was given."""
        return self._datatype

    @property
    def data(self) -> memoryview:
        """A read-only memoryview of the buffer (its ``format``, ``shape`` and ``strides``)."""
        return self._view.data

    @property
    def size(self) -> int:
        """The buffer's size in bytes."""
        return int(self._view.nbytes)

    @property
    def ptr(self) -> int:
        """The address of the buffer's first byte."""
        return int(self._view.__array_interface__["data"][0])

    @property
    def ref_obj(self) -> object:
        """The object the buffer belongs to."""
        return self._ref

    def __bytes__(self) -> bytes:
        return self._view.tobytes()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self._view if dtype is None else self._view.astype(dtype, copy=False)
        if copy is False and array is not self._view:
            raise ValueError("pyovms.Tensor: a copy is needed to convert to that dtype")
        return np.array(array, copy=True) if copy else array

    def __buffer__(self, flags: int) -> memoryview:  # Python 3.12+ (PEP 688)
        if flags & _PYBUF_WRITABLE:
            raise BufferError("pyovms.Tensor is read-only")
        return self._view.data

    def __repr__(self) -> str:
        return f"Tensor(name={self._name!r}, shape={self._shape}, datatype={self._datatype!r})"
