"""Large KServe JSON bodies: numeric ``data`` arrays are counted before they are parsed.

Parsing JSON makes a Python object of every value (a 50 MB array of numbers: 0.4-1 GB), and only
then can the values be counted against the input's shape. For a JSON part of
:data:`SPLIT_FROM` bytes or more, every ``"data": [...]`` array made only of numbers, booleans
and brackets is cut out of the document before it is parsed (replaced by a placeholder
string), and parsed on its own once the input's shape is known, and only if the array can
hold that many values:

- a regular array of ``L > 0`` values, nested or flat, has exactly ``L - 1`` commas; more
  commas than the shape's count allows are too many values (or empty arrays among values,
  which no shape with values takes either);
- data for a shape with no values (a zero dimension) may only be empty arrays, at most
  :data:`MAX_EMPTY_ARRAYS` of them.

Both counts are :func:`~ovserve.api.json_limits.count_byte` calls, and finding where a numeric
array ends is a ``bytes.translate`` and a ``find`` per chunk (a regular expression's character
class took twice as long as orjson's parse of the whole body). Arrays of strings keep the usual path.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from ovserve.api.json_limits import COUNT_CHUNK, count_byte
from ovserve.errors import InvalidInput, InvalidJson

#: the size of a JSON part from which numeric data arrays are cut out and counted first
SPLIT_FROM = 1 << 20
PLACEHOLDER = "\x00ovserve-data-"
#: the most ``[`` in data for a shape with no values (``[[], [], ...]``)
MAX_EMPTY_ARRAYS = 1024

_DATA_KEY = re.compile(rb'"data"\s*:\s*\[')
#: the bytes of a numeric data array (``\s`` of a bytes regular expression for the blanks)
_NUMERIC = b"0123456789eE+-.,[]truefals \t\n\r\x0b\x0c"
#: ``bytes.translate`` table: 0 for a byte of a numeric array, 1 for any other
_OTHER = bytes(0 if byte in _NUMERIC else 1 for byte in range(256))
_SPACE = b" \t\r\n"

Region = tuple[int, int]


def split(body: bytes, end: int) -> tuple[bytes | memoryview, list[Region]]:
    """``body[:end]`` with its numeric data arrays replaced by placeholders, and where they were."""
    if end < SPLIT_FROM:
        return body if end == len(body) else memoryview(body)[:end], []
    parts: list[bytes] = []
    regions: list[Region] = []
    pos = 0
    for match in _DATA_KEY.finditer(body, 0, end):
        if match.start() < pos or not _is_key(body, match.start()):
            continue
        region = _numeric_array(body, match.end() - 1, end)
        if region is None:
            continue
        parts += [body[pos : region[0]], b'"\\u0000ovserve-data-%d"' % len(regions)]
        regions.append(region)
        pos = region[1]
    if not regions:
        return memoryview(body)[:end], []
    parts.append(body[pos:end])
    return b"".join(parts), regions


def _is_key(body: bytes, quote: int) -> bool:
    """Whether the ``"data"`` at ``quote`` is an object key: ``{`` or ``,`` before it (inside a
    JSON string every quote follows a backslash)."""
    index = quote - 1
    while index >= 0 and body[index] in _SPACE:
        index -= 1
    return index >= 0 and body[index] in b"{,"


def _numeric_array(body: bytes, start: int, end: int) -> Region | None:
    """The array starting at ``start`` when it holds only numbers, booleans and arrays."""
    stop = _first_other(body, start, end)
    close = body.rfind(b"]", start, stop)
    if close < 0 or count_byte(body, b"[", start, close + 1) != count_byte(body, b"]", start, close + 1):
        return None
    return start, close + 1


def _first_other(body: bytes, start: int, end: int) -> int:
    """Where the first byte in ``body[start:end]`` that no numeric array holds is (``end``: none).
    Chunks grow from 4 KiB: an array of strings stops the scan at its first quote."""
    low, size = start, 4096
    while low < end:
        high = min(low + size, end)
        found = body[low:high].translate(_OTHER).find(1)
        if found >= 0:
            return low + found
        low, size = high, min(2 * size, COUNT_CHUNK)
    return end


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PLACEHOLDER)


def load(body: bytes, regions: list[Region], placeholder: str, dims: tuple[int, ...], name: str) -> Any:
    """The data array a placeholder stands for, parsed once it cannot hold too many values."""
    start, end = regions[int(placeholder[len(PLACEHOLDER) :])]
    count = math.prod(dims)
    if count:
        values = count_byte(body, b",", start, end) + 1  # exact for a regular array without empty ones
        if values > count:  # too many values, or empty arrays where values belong: both refused
            raise InvalidInput(
                f"Invalid number of values in data - Expected: {count} (shape {list(dims)}); "
                f"Actual: {values} (counting commas); input name: {name}"
            )
    elif count_byte(body, b"[", start, end) > MAX_EMPTY_ARRAYS:
        raise InvalidInput(
            f"Could not parse input content - data for shape {list(dims)} holds more than "
            f"{MAX_EMPTY_ARRAYS} empty arrays; input name: {name}"
        )
    try:
        return orjson.loads(memoryview(body)[start:end])
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(str(exc)) from None
