"""Tensors as numpy arrays, their specs, and the datatype tables of every protocol.

A tensor travels from the wire to OpenVINO and back as a numpy array. BYTES / string
tensors are numpy ``object`` arrays holding ``bytes``. BF16 has no numpy type: BF16
tensors hold their 16-bit patterns in :data:`BF16_DTYPE` (see :func:`bf16_from_float` and
:func:`bf16_to_float32`). A :class:`TensorSpec` describes a model input or output with the
names the model file gives.

The tables here are the one place that knows how KServe datatypes, TensorFlow
``DataType`` enum values and OVMS precision names map onto numpy dtypes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ovserve.errors import InvalidInput

BYTES_DTYPE = np.dtype(object)
#: BF16 values as their bit patterns (the upper half of the float32 bits), little-endian.
#: A one-field structured dtype: never mistaken for UINT16, and numpy copies, reshapes,
#: concatenates and (de)serialises it like any 2-byte type.
BF16_DTYPE = np.dtype([("bf16", "<u2")])


def bytes_array(items: Sequence[object], shape: Sequence[int] | None = None) -> np.ndarray:
    """A 1-D ``object`` array holding ``items`` (never a 2-D array of characters, as
    ``np.array`` would make of equal-length bytes), reshaped to ``shape`` when given."""
    out = np.empty(len(items), dtype=BYTES_DTYPE)
    out[:] = items
    return out if shape is None else out.reshape(shape)


#: KServe v2 datatype name -> numpy dtype (BYTES -> object array of bytes).
KSERVE_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BF16": BF16_DTYPE,
    "BYTES": BYTES_DTYPE,
}
NUMPY_TO_KSERVE: dict[np.dtype, str] = {v: k for k, v in KSERVE_TO_NUMPY.items()}
#: every numeric (and boolean) dtype with a numpy type of its own: all but BYTES and BF16
NUMERIC_DTYPES: tuple[np.dtype, ...] = tuple(
    d for d in KSERVE_TO_NUMPY.values() if d not in (BYTES_DTYPE, BF16_DTYPE)
)

#: OVMS precision names (used in OVMS's error texts) per numpy dtype.
NUMPY_TO_PRECISION: dict[np.dtype, str] = {
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint8): "U8",
    np.dtype(np.uint16): "U16",
    np.dtype(np.uint32): "U32",
    np.dtype(np.uint64): "U64",
    np.dtype(np.int8): "I8",
    np.dtype(np.int16): "I16",
    np.dtype(np.int32): "I32",
    np.dtype(np.int64): "I64",
    np.dtype(np.float16): "FP16",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
    BF16_DTYPE: "BF16",
    BYTES_DTYPE: "STRING",
}

#: TensorFlow ``DataType`` enum value -> numpy dtype (the subset a model server meets).
TF_TO_NUMPY: dict[int, np.dtype] = {
    1: np.dtype(np.float32),  # DT_FLOAT
    2: np.dtype(np.float64),  # DT_DOUBLE
    3: np.dtype(np.int32),  # DT_INT32
    4: np.dtype(np.uint8),  # DT_UINT8
    5: np.dtype(np.int16),  # DT_INT16
    6: np.dtype(np.int8),  # DT_INT8
    7: BYTES_DTYPE,  # DT_STRING
    9: np.dtype(np.int64),  # DT_INT64
    10: np.dtype(np.bool_),  # DT_BOOL
    14: BF16_DTYPE,  # DT_BFLOAT16
    17: np.dtype(np.uint16),  # DT_UINT16
    19: np.dtype(np.float16),  # DT_HALF
    22: np.dtype(np.uint32),  # DT_UINT32
    23: np.dtype(np.uint64),  # DT_UINT64
}
NUMPY_TO_TF: dict[np.dtype, int] = {v: k for k, v in TF_TO_NUMPY.items()}

#: TensorFlow ``DataType`` enum names, for metadata and messages.
TF_NAMES: dict[int, str] = {
    0: "DT_INVALID",
    1: "DT_FLOAT",
    2: "DT_DOUBLE",
    3: "DT_INT32",
    4: "DT_UINT8",
    5: "DT_INT16",
    6: "DT_INT8",
    7: "DT_STRING",
    9: "DT_INT64",
    10: "DT_BOOL",
    14: "DT_BFLOAT16",
    17: "DT_UINT16",
    19: "DT_HALF",
    22: "DT_UINT32",
    23: "DT_UINT64",
}


def bf16_from_float(values: object) -> np.ndarray:
    """Numbers as BF16 (float32 rounded to the nearest BF16, ties to even; NaN stays NaN)."""
    floats = np.array(values, dtype=np.float32, order="C")  # a copy: the view below must not alias
    bits = floats.view(np.uint32)
    rounded = np.asarray((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16, dtype=np.uint16)
    nan = np.isnan(floats)
    if nan.any():
        rounded[nan] = ((bits[nan] >> 16) | 0x0040).astype(np.uint16)  # keep it a (quiet) NaN
    return rounded.view(BF16_DTYPE)


def bf16_to_float32(array: np.ndarray) -> np.ndarray:
    """BF16 values as float32 (exact: every BF16 value is a float32 value)."""
    bits = (array if array.flags.c_contiguous else array.copy()).view(np.uint16)
    return (bits.astype(np.uint32) << 16).view(np.float32)


#: the most dimensions a request tensor may have (numpy's own limit)
MAX_RANK = 64
#: the most bytes a request shape may declare, zero dimensions counted as 1: numpy's limit for one
#: array. Past it no array of the shape can exist, even an empty one.
MAX_DECLARED_BYTES = sys.maxsize


def check_declared_size(shape: Sequence[int], itemsize: int, name: str) -> int:
    """The element count of ``shape`` (non-negative ints), once an array of that shape can exist.

    Overflow-safe: the running product stops as soon as it passes :data:`MAX_DECLARED_BYTES`,
    before anything is allocated. Raises :class:`InvalidInput` naming the input otherwise.
    """
    if len(shape) > MAX_RANK:
        raise InvalidInput(
            f"Invalid input shape - {len(shape)} dimensions; at most {MAX_RANK} are supported; "
            f"input name: {name}"
        )
    declared = max(itemsize, 1)
    count = 1
    for dim in shape:
        count *= dim
        declared *= dim or 1
        if declared > MAX_DECLARED_BYTES:
            raise InvalidInput(
                "Provided shape and datatype declare too large buffer - shape "
                f"{format_dims(shape)} of {itemsize}-byte elements is past {MAX_DECLARED_BYTES} bytes; "
                f"input name: {name}"
            )
    return count


def kserve_datatype(dtype: np.dtype) -> str:
    """The KServe datatype name of a numpy dtype ("BYTES" for strings)."""
    return NUMPY_TO_KSERVE[dtype]


def precision_name(dtype: np.dtype) -> str:
    """OVMS's precision name of a numpy dtype, e.g. FP32 or I64."""
    return NUMPY_TO_PRECISION.get(dtype, str(dtype))


@dataclass(frozen=True, slots=True)
class Dim:
    """One dimension of a model tensor: static (lo == hi), a range, or any (-1)."""

    lo: int
    hi: int  # -1: no upper bound

    @staticmethod
    def static(n: int) -> Dim:
        return Dim(n, n)

    @staticmethod
    def any() -> Dim:
        return Dim(0, -1)

    @property
    def is_static(self) -> bool:
        return self.lo == self.hi

    @property
    def size(self) -> int:
        """The static size, or -1 when the dimension is dynamic (what metadata shows)."""
        return self.lo if self.is_static else -1

    def accepts(self, n: int) -> bool:
        return n >= self.lo and (self.hi == -1 or n <= self.hi)

    def __str__(self) -> str:
        if self.is_static:
            return str(self.lo)
        if self.lo == 0 and self.hi == -1:
            return "-1"
        return f"[{self.lo}~{self.hi if self.hi != -1 else 'inf'}]"


def format_dims(dims: Iterable[object]) -> str:
    """``(1,3,224,224)`` in OVMS's style for messages."""
    return "(" + ",".join(str(d) for d in dims) + ")"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output as clients see it: its name, dtype and (maybe dynamic) shape.

    ``layout`` is an input's declared layout as clients send it (``NHWC``, ``N...``; empty
    when none is known); image inputs need it (see ``ovserve.preprocess``).
    """

    name: str
    dtype: np.dtype
    dims: tuple[Dim, ...]
    layout: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape with -1 for every dynamic dimension."""
        return tuple(d.size for d in self.dims)

    @property
    def datatype(self) -> str:
        """The KServe datatype name."""
        return kserve_datatype(self.dtype)

    @property
    def is_string(self) -> bool:
        return self.dtype == BYTES_DTYPE


@dataclass(frozen=True, slots=True)
class RawInput:
    """A request tensor's ``raw_input_contents`` kept as sent, with its declared shape and datatype
    (any datatype name): what OVMS gives a MediaPipe graph's ``OVMS_PY_TENSOR`` input. Carried as
    a 0-d object array (:func:`raw_input_array`) among the request's numpy inputs."""

    data: bytes
    shape: tuple[int, ...]
    datatype: str


def raw_input_array(raw: RawInput) -> np.ndarray:
    array = np.empty((), dtype=BYTES_DTYPE)
    array[()] = raw
    return array


def raw_input_of(array: np.ndarray) -> RawInput | None:
    """The :class:`RawInput` an input array carries, or None for an ordinary array."""
    if array.dtype == BYTES_DTYPE and array.ndim == 0:
        item = array[()]
        return item if isinstance(item, RawInput) else None
    return None


@dataclass(slots=True)
class InferRequest:
    """A decoded inference request: named numpy inputs, and the outputs the client asked for."""

    inputs: dict[str, np.ndarray]
    requested_outputs: tuple[str, ...] | None = None
    id: str = ""
    #: the request's parameters (KServe), plain values; a MediaPipe graph reads OVMS_MP_TIMESTAMP
    parameters: Mapping[str, object] | None = None


@dataclass(slots=True)
class InferResponse:
    """The outputs of one inference, in the model's output order."""

    model_name: str
    model_version: int
    outputs: dict[str, np.ndarray]
    id: str = ""
    #: response parameters (a MediaPipe graph's ``OVMS_MP_TIMESTAMP`` on a gRPC stream)
    parameters: Mapping[str, int | str | bool] | None = None
