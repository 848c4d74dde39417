"""Strings as rows of a 2-D U8 tensor, and back, as OVMS does for text models.

A 2-D U8 input that receives strings gets them as ``[count, longest + 1]`` bytes, each
row one string followed by zeros. A 2-D U8 output whose name ends ``_string`` is sent
back as ``count`` strings, each row read up to its first zero byte.
"""

from __future__ import annotations

import numpy as np

from ovserve.errors import InvalidInput, ShapeMismatch
from ovserve.tensors import TensorSpec, bytes_array

#: OVMS's limit on the 2-D array strings become (count x (longest + 1) bytes)
MAX_ROWS_BYTES = 1024**3
OUTPUT_SUFFIX = "_string"


def strings_to_rows(spec: TensorSpec, items: np.ndarray) -> np.ndarray:
    """The 1-D ``object`` array ``items`` as zero-padded rows for the 2-D U8 input ``spec``."""
    name = spec.name
    strings = [bytes(item) for item in items]
    count = len(strings)
    width = max((len(s) for s in strings), default=0) + 1
    size = count * width
    if size > MAX_ROWS_BYTES:
        raise InvalidInput(
            f"Maximum 2D array after string conversion exceeded 1GB - actual {size // 2**20}MB "
            f"({count} strings x {width} bytes); input name: {name}"
        )
    batch, length = spec.dims
    if not (batch.accepts(count) and length.accepts(width)):
        raise ShapeMismatch(
            f"Invalid input shape - Expected batch size: {batch}; got: {count}; Expected max null terminated "
            f"string length: {length}; got: {width}; input name: {name}"
        )
    rows = np.zeros((count, width), dtype=np.uint8)
    for row, data in zip(rows, strings, strict=True):
        row[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return rows


def is_string_output(spec: TensorSpec) -> bool:
    """Whether OVMS sends this output back as strings: 2-D U8 named ``..._string``."""
    return spec.dtype == np.uint8 and len(spec.dims) == 2 and spec.name.endswith(OUTPUT_SUFFIX)


def rows_to_strings(rows: np.ndarray) -> np.ndarray:
    """A 2-D U8 array as a 1-D ``object`` array of its rows, each up to its first zero byte."""
    return bytes_array([row.tobytes().split(b"\0", 1)[0] for row in rows])
