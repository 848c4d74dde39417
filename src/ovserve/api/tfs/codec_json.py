"""TF Serving REST predict bodies: JSON to named numpy inputs, outputs back to JSON.

A request body is either *row* format (``"instances"``: one entry per batch item, each
an object of named inputs, or a bare value when the model has a single input) or
*column* format (``"inputs"``: an object of named inputs, or a bare value for a single
input). JSON numbers are cast to the dtype the servable declares for that input, so
the numeric path is one ``np.array`` call per input with no per-element Python work.
BF16 inputs take JSON numbers rounded to the nearest BF16, and BF16 outputs are written as
numbers. Strings and ``{"b64": "..."}`` objects become ``object`` arrays of ``bytes``
(DT_STRING).

Shape and dtype checks against the model are left to the shared core validation; this
module only rejects what cannot become an array at all (bad JSON, an unrecognisable
structure, ragged nesting, values that do not fit the dtype).

The response mirrors the request's format: ``{"predictions": ...}`` for row requests,
``{"outputs": ...}`` for column requests.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from ovserve.api.json_limits import check_value_count
from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, InvalidJson, UnsupportedOutput
from ovserve.tensors import (
    BF16_DTYPE,
    BYTES_DTYPE,
    NUMERIC_DTYPES,
    InferRequest,
    bf16_from_float,
    bf16_to_float32,
    bytes_array,
    precision_name,
)

AMBIGUOUS_FORMAT = "Invalid JSON structure. Could not detect row or column format"
DIFFERENT_BATCH_SIZES = "Invalid JSON structure. Request inputs have different batch sizes"
UNNAMED_NOT_SINGLE = "Inputs inside buffer does not match expected format."
NOT_AN_OBJECT = "Request body should be JSON object"
RESPONSE_ERROR = "Response parsing to JSON error"

_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY

#: numpy dtypes orjson serialises natively from an ndarray (no tolist round trip).
_ORJSON_NATIVE = frozenset(NUMERIC_DTYPES)


# -- request ---------------------------------------------------------------------------
def parse_json(body: bytes) -> Any:
    """Parse a request body; invalid JSON is FAILED_PRECONDITION (412) as in OVMS."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"Error: {exc.msg} Offset: {exc.pos}") from None


def decode_predict(body: bytes, servable: Servable) -> tuple[InferRequest, bool]:
    """Decode a predict body for ``servable``; returns the request and whether it was row format."""
    check_value_count(body, len(body), servable)
    document = parse_json(body)
    if not isinstance(document, dict):
        raise InvalidInput(NOT_AN_OBJECT)
    has_rows = "instances" in document
    if has_rows == ("inputs" in document):
        raise InvalidInput(AMBIGUOUS_FORMAT)
    if has_rows:
        return InferRequest(decode_rows(document["instances"], servable)), True
    return InferRequest(decode_columns(document["inputs"], servable)), False


def decode_rows(instances: Any, servable: Servable) -> dict[str, np.ndarray]:
    """Row format: each entry of ``instances`` adds one item to dim 0 of every input."""
    if not isinstance(instances, list) or not instances:
        raise InvalidInput('Invalid JSON structure. "instances" must be a non-empty array')
    first = instances[0]
    if not isinstance(first, dict) or _is_b64(first, servable):
        name = _single_input(servable)
        return {name: to_array(name, instances, servable, "instance")}
    columns: dict[str, list[Any]] = {}
    for item in instances:
        if not isinstance(item, dict) or _is_b64(item, servable):
            raise InvalidInput(
                "Invalid JSON structure. Instances must be all objects of named inputs or all bare values"
            )
        for key, value in item.items():
            column = columns.get(key)
            if column is None:
                columns[key] = [value]
            else:
                column.append(value)
    if len({len(values) for values in columns.values()}) > 1:
        sizes = ", ".join(f"{key}: {len(values)}" for key, values in columns.items())
        raise InvalidInput(f"{DIFFERENT_BATCH_SIZES} - {sizes}")
    return {name: to_array(name, values, servable, "instance") for name, values in columns.items()}


def decode_columns(inputs: Any, servable: Servable) -> dict[str, np.ndarray]:
    """Column format: an object name -> whole tensor, or a bare tensor for a single-input model."""
    if isinstance(inputs, dict) and not _is_b64(inputs, servable):
        return {name: to_array(name, value, servable, "input") for name, value in inputs.items()}
    name = _single_input(servable)
    return {name: to_array(name, inputs, servable, "input")}


def to_array(name: str, value: Any, servable: Servable, kind: str = "input") -> np.ndarray:
    """One input's JSON value as an array of the servable's dtype for it (strings: bytes objects)."""
    leaf = value
    while isinstance(leaf, list) and leaf:
        leaf = leaf[0]
    spec = servable.inputs.get(name) or servable.special_inputs.get(name)
    if isinstance(leaf, (str, dict)) or (leaf == [] and spec is not None and spec.is_string):
        return _string_array(name, value, kind)  # an empty list for a string input: no strings
    if name in servable.special_inputs and name not in servable.inputs:
        _check_unsigned(name, value, kind)
    dtype = None if spec is None or spec.is_string else spec.dtype
    bf16 = dtype == BF16_DTYPE
    try:
        with np.errstate(all="ignore"):
            array = np.array(value, dtype=np.float32 if bf16 else dtype)
    except ValueError as exc:
        if "sequence" in str(exc) or "inhomogeneous" in str(exc):
            raise _ragged(name, kind) from None
        raise _unparsable(name, kind, dtype, exc) from None
    except (TypeError, OverflowError) as exc:
        raise _unparsable(name, kind, dtype, exc) from None
    if array.dtype.kind in "OUS":  # strings or objects somewhere after a leading number
        raise InvalidInput(
            f"Could not parse {kind} content - input {name} mixes numbers with strings or objects"
        )
    return bf16_from_float(array) if bf16 else array


def _check_unsigned(name: str, value: Any, kind: str) -> None:
    """A special input (a stateful model's sequence_id / sequence_control_input) takes unsigned
    integers only, as OVMS parsed them: a float or a negative number is refused, not cast."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise InvalidInput(
                f"Could not parse {kind} content - input {name}: expected an unsigned integer, got "
                f"{orjson.dumps(item).decode()[:40]}"
            )


def _is_b64(value: dict[str, Any], servable: Servable) -> bool:
    """``{"b64": ...}`` is a bytes value, unless the model really has an input named b64."""
    return len(value) == 1 and "b64" in value and "b64" not in servable.inputs


def _single_input(servable: Servable) -> str:
    if len(servable.inputs) != 1:
        raise InvalidInput(
            f"{UNNAMED_NOT_SINGLE} Model {servable.name} has {len(servable.inputs)} inputs "
            f"({', '.join(servable.inputs)}); send an object of named inputs"
        )
    return next(iter(servable.inputs))


def _ragged(name: str, kind: str) -> InvalidInput:
    return InvalidInput(
        f"Could not parse {kind} content. Not valid ndarray detected - input {name} is not a "
        "rectangular array (nested lists of different lengths)"
    )


def _unparsable(name: str, kind: str, dtype: np.dtype | None, exc: Exception) -> InvalidInput:
    target = f" as {precision_name(dtype)}" if dtype is not None else ""
    return InvalidInput(
        f"Could not parse {kind} content - input {name}: values cannot be read{target}: {exc}"
    )


def _string_array(name: str, value: Any, kind: str) -> np.ndarray:
    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    flat: list[bytes] = []
    _flatten_strings(value, shape, 0, flat, name, kind)
    return bytes_array(flat, shape)


def _flatten_strings(
    value: Any, shape: list[int], depth: int, flat: list[bytes], name: str, kind: str
) -> None:
    if depth == len(shape):
        flat.append(_leaf_bytes(value, name, kind))
        return
    if not isinstance(value, list) or len(value) != shape[depth]:
        raise _ragged(name, kind)
    for item in value:
        _flatten_strings(item, shape, depth + 1, flat, name, kind)


def _leaf_bytes(value: Any, name: str, kind: str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(
                f"Could not parse {kind} content - input {name}: invalid base64: {exc}"
            ) from None
    if isinstance(value, list):
        raise _ragged(name, kind)
    raise InvalidInput(
        f'Could not parse {kind} content - input {name}: expected a string or {{"b64": "..."}}, '
        f"got {orjson.dumps(value).decode()[:40]}"
    )


# -- response --------------------------------------------------------------------------
def encode_predict(outputs: Mapping[str, np.ndarray], row: bool) -> bytes:
    """The response body: ``{"predictions": ...}`` for row requests, ``{"outputs": ...}`` otherwise."""
    if not row:
        if len(outputs) == 1:
            name, array = next(iter(outputs.items()))
            return orjson.dumps({"outputs": to_json_value(name, array)}, option=_DUMP_OPTIONS)
        return orjson.dumps(
            {"outputs": {name: to_json_value(name, array) for name, array in outputs.items()}},
            option=_DUMP_OPTIONS,
        )
    if len(outputs) == 1:
        name, array = next(iter(outputs.items()))
        return orjson.dumps({"predictions": to_json_value(name, array)}, option=_DUMP_OPTIONS)
    sizes = {name: (array.shape[0] if array.ndim else None) for name, array in outputs.items()}
    if None in sizes.values() or len(set(sizes.values())) > 1:
        detail = ", ".join(f"{name}: {'scalar' if n is None else n}" for name, n in sizes.items())
        raise UnsupportedOutput(
            f"{RESPONSE_ERROR} - row format needs every output to share dim 0 ({detail}); "
            'send "inputs" (column format) instead'
        )
    values = {name: to_json_value(name, array) for name, array in outputs.items()}
    count = next(iter(sizes.values())) or 0
    rows = [{name: value[i] for name, value in values.items()} for i in range(count)]
    return orjson.dumps({"predictions": rows}, option=_DUMP_OPTIONS)


def to_json_value(name: str, array: np.ndarray) -> Any:
    """What orjson should write for one output: the ndarray itself when it can, else lists."""
    if array.dtype == BYTES_DTYPE:
        return _strings_to_json(name, array)
    if array.dtype == BF16_DTYPE:
        array = bf16_to_float32(array)
    if array.ndim == 0:
        return array.item()
    if array.dtype in _ORJSON_NATIVE:
        return np.ascontiguousarray(array)
    return array.tolist()


def _strings_to_json(name: str, array: np.ndarray) -> Any:
    as_b64 = name.endswith("_bytes")
    flat = [_string_to_json(item, as_b64) for item in array.ravel()]
    return bytes_array(flat, array.shape).tolist()


def _string_to_json(item: Any, as_b64: bool) -> Any:
    if isinstance(item, str):
        return item
    data = bytes(item)
    if not as_b64:
        try:
            return data.decode()
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(data).decode()}
