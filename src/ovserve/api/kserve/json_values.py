"""KServe JSON ``data`` arrays as numpy arrays: the datatype's kind checked, the count against the shape.

JSON ``data`` must match the datatype's kind (integers for INT/UINT, booleans for BOOL, numbers for
FP32/FP64, strings for BYTES); FP16 and BF16 only travel as binary data (as in OVMS). Values may be
nested or flat; only their count is checked against ``shape``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ovserve.api.kserve.codec import element_count
from ovserve.errors import InvalidInput
from ovserve.tensors import BF16_DTYPE, BYTES_DTYPE, bytes_array, kserve_datatype

#: dtypes only binary data carries; UINT64 (parsed exactly when numpy reads floats). Compared as
#: dtype objects: ``dtype == np.float16`` builds a dtype from the type on every call (~0.3 µs).
_BINARY_ONLY = frozenset({np.dtype(np.float16), BF16_DTYPE})
_UINT64 = np.dtype(np.uint64)
#: numpy kind of a target dtype -> kinds JSON data may arrive as.
_ACCEPTED_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}
_EXPECTED_WORDS = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers"}
_KIND_WORDS = {
    "b": "booleans",
    "i": "integers",
    "u": "integers",
    "f": "non-integer numbers",
    "U": "strings",
    "O": "mixed or out-of-range values",
}


def decode_data(data: Any, dtype: np.dtype, dims: tuple[int, ...], name: str) -> np.ndarray:
    """JSON ``data`` (nested or flat) as an array of ``dtype`` shaped ``dims``."""
    if dtype in _BINARY_ONLY:
        raise InvalidInput(
            f"Could not parse input content - {kserve_datatype(dtype)} values can only be sent as binary data "
            f"(parameters.binary_data_size); input name: {name}"
        )
    if not isinstance(data, list):
        raise InvalidInput(f"Invalid JSON structure, data of input {name} should be an array")
    count = element_count(dims)
    apparent = apparent_count(data)
    if apparent > count:  # too many: refused before numpy copies them (a ragged array may be fewer)
        _check_count(apparent, count, dims, name)
    array = _strings(data, name) if dtype == BYTES_DTYPE else _numbers(data, dtype, name)
    _check_count(array.size, count, dims, name)
    return array.reshape(dims)


def apparent_count(data: list[Any]) -> int:
    """How many values nested lists hold if they are regular: the product of the lengths down
    the first items (O(depth); a ragged array is found when numpy reads it)."""
    count = 1
    probe: Any = data
    while isinstance(probe, list):
        count *= len(probe)
        if not probe:
            break
        probe = probe[0]
    return count


def _check_count(actual: int, count: int, dims: tuple[int, ...], name: str) -> None:
    if actual != count:
        raise InvalidInput(
            f"Invalid number of values in data - Expected: {count} (shape {list(dims)}); "
            f"Actual: {actual}; input name: {name}"
        )


def _numbers(data: list[Any], dtype: np.dtype, name: str) -> np.ndarray:
    try:
        parsed = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"Could not parse input content - data is not a regular array ({exc}); input name: {name}"
        ) from None
    if parsed.size == 0:
        return parsed.astype(dtype)
    kind = parsed.dtype.kind
    if kind == "f" and dtype == _UINT64 and not np.any(np.mod(parsed, 1)):
        # numpy infers float64 when integers past int64 mix with others: parse them exactly
        return _exact_uint64(data, name)
    if kind not in _ACCEPTED_KINDS[dtype.kind]:
        raise InvalidInput(
            f"Could not parse input content - {kserve_datatype(dtype)} data must be "
            f"{_EXPECTED_WORDS[dtype.kind]}; Actual: "
            f"{_KIND_WORDS.get(kind, 'values of another type')}; input name: {name}"
        )
    if dtype.kind in "iu" and parsed.dtype != dtype:
        info = np.iinfo(dtype)
        low, high = parsed.min(), parsed.max()
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise InvalidInput(
                f"Could not parse input content - value {bad} is out of range for {kserve_datatype(dtype)} "
                f"[{info.min}, {info.max}]; input name: {name}"
            )
    return parsed.astype(dtype, copy=False)


def _exact_uint64(data: list[Any], name: str) -> np.ndarray:
    try:
        return np.asarray(data, dtype=np.uint64)
    except OverflowError:
        raise InvalidInput(
            "Could not parse input content - a value is out of range for UINT64 "
            f"[0, {2**64 - 1}]; input name: {name}"
        ) from None


def _strings(data: list[Any], name: str) -> np.ndarray:
    try:
        flat = np.asarray(data, dtype=BYTES_DTYPE).ravel()
        encoded = [item.encode() for item in flat]
    except (AttributeError, ValueError, TypeError):
        raise InvalidInput(
            "Could not parse input content - BYTES data must be strings (or nested arrays of strings); "
            f"input name: {name}"
        ) from None
    return bytes_array(encoded)
