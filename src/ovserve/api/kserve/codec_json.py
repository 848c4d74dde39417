"""KServe v2 REST bodies: JSON (orjson) plus the binary tensor data extension.

Request body: a JSON header, optionally followed by raw tensor bytes. The header's
length is ``Inference-Header-Content-Length`` (the whole body when absent); the bytes
after it are consumed input by input, in request order: ``parameters.binary_data_size``
bytes, or, for an input with neither ``data`` nor a size, shape × itemsize bytes (the
whole rest for BYTES). Numbers in JSON ``data`` may be nested or flat; only their count
is checked against ``shape``. JSON ``data`` must match the datatype's kind (integers for
INT/UINT, booleans for BOOL, numbers for FP32/FP64, strings for BYTES); FP16 and BF16
only travel as binary data (as in OVMS). In a JSON reply, BF16 outputs are numbers.

Reply: JSON, or JSON plus binary output data when the request asks for it
(``parameters.binary_data_output`` for every output, per-output
``parameters.binary_data`` overriding it). A BYTES output that is not valid UTF-8 cannot
be a JSON string, so it is sent as binary data even when JSON was asked for; clients of
the binary extension (tritonclient among them) read it from ``binary_data_size``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from ovserve.api.json_limits import check_value_count
from ovserve.api.kserve import json_data
from ovserve.api.kserve.codec import (
    add_sequence_parameters,
    check_requested_outputs,
    check_shape,
    datatype_of,
    element_count,
    from_raw,
    numpy_dtype,
    raw_output_array,
    selected_outputs,
    to_raw,
)
from ovserve.api.kserve.json_values import decode_data
from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, InvalidJson, Unimplemented
from ovserve.tensors import (
    BF16_DTYPE,
    BYTES_DTYPE,
    InferRequest,
    InferResponse,
    bf16_to_float32,
    kserve_datatype,
    raw_input_of,
)

HEADER_LENGTH = b"inference-header-content-length"


@dataclass(slots=True)
class RestInferRequest(InferRequest):
    """An :class:`InferRequest` plus how the client wants each output sent back."""

    binary_outputs: dict[str, bool] = field(default_factory=dict)  # per-output ``binary_data``
    binary_default: bool = False  # request-level ``binary_data_output``


def _structure(problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid JSON structure, {problem}")


def _json_header_end(body: bytes, header_length: bytes | None) -> int:
    if header_length is None:
        return len(body)
    text = header_length.strip()
    if not text.isdigit():
        raise InvalidInput(
            "Inference-Header-Content-Length header must be a non-negative integer; "
            f"Actual: {text.decode(errors='replace')!r}"
        )
    end = int(text)
    if end > len(body):
        raise InvalidInput(
            "Inference-Header-Content-Length header exceeds actual payload length - "
            f"header: {end} bytes; payload: {len(body)} bytes"
        )
    return end


def _load_json(body: bytes, end: int) -> tuple[Any, list[json_data.Region]]:
    """The JSON document in ``body[:end]``, and where its numeric data arrays were cut out
    (large bodies: see :mod:`ovserve.api.kserve.json_data`)."""
    document, regions = json_data.split(body, end)
    try:
        return orjson.loads(document), regions
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(str(exc)) from None


def _parameters(owner: dict[str, Any], what: str) -> dict[str, Any]:
    params = owner.get("parameters")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise _structure(f"parameters of {what} should be an object")
    if "shared_memory_region" in params:
        raise Unimplemented(
            f"The shared memory extension is not supported ({what} names a shared memory region)"
        )
    return params


def _flag(params: dict[str, Any], key: str, what: str) -> bool | None:
    value = params.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _structure(f"parameter {key} of {what} should be true or false; Actual: {value!r}")


def decode_infer_request(body: bytes, header_length: bytes | None, servable: Servable) -> RestInferRequest:
    """Decode an infer body (and its binary part) into numpy inputs with the *request's* datatypes."""
    json_end = _json_header_end(body, header_length)
    check_value_count(body, json_end, servable)
    doc, regions = _load_json(body, json_end)
    if type(doc) is dict and len(doc) == 1 and json_end == len(body) and not regions:
        plain = _plain_inputs(doc.get("inputs"))
        if plain is not None:  # what the rest of this function makes of such a body
            return RestInferRequest(plain, None, "")
    if not isinstance(doc, dict):
        raise InvalidInput("Request body should be JSON object")
    request_id = doc.get("id", "")
    if not isinstance(request_id, str):
        raise _structure(f"id should be a string; Actual: {request_id!r}")
    binary_default = _flag(_parameters(doc, "the request"), "binary_data_output", "the request") or False
    inputs = doc.get("inputs")
    if inputs is None:
        raise _structure("missing inputs")
    if not isinstance(inputs, list):
        raise _structure("inputs should be an array")
    arrays = _decode_inputs(inputs, body, json_end, regions)
    parameters = _parameters(doc, "the request")
    add_sequence_parameters(parameters, servable, arrays)
    requested, binary_outputs = _decode_outputs(doc, servable)
    return RestInferRequest(
        arrays,
        requested,
        request_id,
        parameters=parameters or None,
        binary_outputs=binary_outputs,
        binary_default=binary_default,
    )


def _plain_inputs(inputs: Any) -> dict[str, np.ndarray] | None:
    """The inputs of the usual request, ``{"inputs": [...]}`` with nothing else, each input exactly
    a name, datatype, shape and JSON ``data``: decoded by the same calls, in the same order, as
    :func:`_decode_inputs` makes for them (so the same errors), minus the checks of what such a
    body lacks (binary data, parameters, outputs). None for any other ``inputs``: the caller then
    decodes the body the long way, from the start."""
    if type(inputs) is not list:
        return None
    arrays: dict[str, np.ndarray] = {}
    for item in inputs:
        if type(item) is not dict or len(item) != 4 or "datatype" not in item:
            return None
        name, shape, data = item.get("name"), item.get("shape"), item.get("data")
        if type(name) is not str or name in arrays or type(shape) is not list or type(data) is not list:
            return None
        dtype = numpy_dtype(item["datatype"], name)
        arrays[name] = decode_data(data, dtype, check_shape(shape, name, dtype), name)
    return arrays


def _decode_inputs(
    inputs: list[Any], body: bytes, json_end: int, regions: list[json_data.Region]
) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    offset = json_end
    for index, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise _structure(f"input {index} should be an object")
        name = item.get("name")
        if not isinstance(name, str):
            raise _structure(f"input {index} is missing its name")
        if name in arrays:
            raise InvalidInput(f"Duplicate input name in request - input name: {name}")
        if "datatype" not in item:
            raise _structure(f"input {name} is missing datatype")
        dtype = numpy_dtype(item["datatype"], name)
        shape = item.get("shape")
        if not isinstance(shape, list):
            raise _structure(f"input {name} is missing shape (an array of integers)")
        dims = check_shape(shape, name, dtype)
        size = _parameters(item, f"input {name}").get("binary_data_size")
        data = item.get("data")
        if size is not None:
            if type(size) is not int or size < 0:
                raise _structure(
                    f"binary_data_size of input {name} should be a non-negative integer; Actual: {size!r}"
                )
            if data is not None:
                raise InvalidInput(
                    f"Request contains values both in binary data and in content value - input name: {name}"
                )
            if offset + size > len(body):
                raise InvalidInput(
                    "Received buffer size is smaller than binary_data_size parameter indicates - "
                    f"binary_data_size: {size}; bytes left: {len(body) - offset}; input name: {name}"
                )
        elif data is not None:
            if json_data.is_placeholder(data):  # a large numeric array, parsed once counted
                data = json_data.load(body, regions, data, dims, name)
            arrays[name] = decode_data(data, dtype, dims, name)
            continue
        else:
            if json_end == len(body):
                raise _structure(f'input {name} has no data: give "data" or binary data')
            size = len(body) - offset if dtype == BYTES_DTYPE else element_count(dims) * dtype.itemsize
            if offset + size > len(body):
                raise InvalidInput(
                    f"Received buffer size is smaller than the input needs - Expected: {size} bytes "
                    f"(shape {list(dims)}, {kserve_datatype(dtype)}); bytes left: {len(body) - offset}; "
                    f"input name: {name}"
                )
        arrays[name] = from_raw(body, dtype, dims, name, offset, size)
        offset += size
    if offset != len(body):
        raise InvalidInput(f"Binary data has {len(body) - offset} bytes left over after the last input")
    return arrays


def _decode_outputs(
    doc: dict[str, Any], servable: Servable
) -> tuple[tuple[str, ...] | None, dict[str, bool]]:
    outputs = doc.get("outputs")
    if outputs is None:
        return None, {}
    if not isinstance(outputs, list):
        raise _structure("outputs should be an array")
    names: list[str] = []
    binary: dict[str, bool] = {}
    for index, item in enumerate(outputs):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise _structure(f"output {index} should be an object with a name")
        params = _parameters(item, f"output {name}")
        if params.get("classification"):
            raise Unimplemented(f"The classification extension is not supported - output name: {name}")
        flag = _flag(params, "binary_data", f"output {name}")
        if flag is not None:
            binary[name] = flag
        names.append(name)
    return check_requested_outputs(servable, names), binary


def _texts(array: np.ndarray) -> list[str] | None:
    """BYTES elements as JSON strings, or None when one is not valid UTF-8."""
    try:
        return [item.decode() if isinstance(item, bytes) else str(item) for item in array.ravel()]
    except UnicodeDecodeError:
        return None


def _binary_entry(
    name: str, datatype: str, shape: tuple[int, ...], data: bytes, buffers: list[bytes]
) -> dict[str, Any]:
    buffers.append(data)
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(shape),
        "parameters": {"binary_data_size": len(data)},
    }


def encode_infer_response(request: RestInferRequest, response: InferResponse) -> tuple[bytes, int | None]:
    """The reply body, and the JSON header's length when binary data follows it (else None)."""
    entries: list[dict[str, Any]] = []
    buffers: list[bytes] = []
    for name, array in selected_outputs(response.outputs, request.requested_outputs):
        kept = raw_input_of(array)
        if kept is not None:  # a graph's Python tensor: as an array if its datatype makes one
            converted = raw_output_array(kept, name)
            if converted is None:  # a custom datatype: its bytes as binary data, as they are
                entries.append(_binary_entry(name, kept.datatype, kept.shape, kept.data, buffers))
                continue
            array = converted
        entry: dict[str, Any] = {
            "name": name,
            "datatype": datatype_of(name, array),
            "shape": list(array.shape),
        }
        binary = request.binary_outputs.get(name, request.binary_default)
        if not binary:
            if array.dtype == BYTES_DTYPE:
                texts = _texts(array)
                if texts is None:
                    binary = True
                else:
                    entry["data"] = texts
            elif array.dtype == BF16_DTYPE:
                entry["data"] = bf16_to_float32(array).reshape(-1)
            else:
                entry["data"] = np.ascontiguousarray(array).reshape(-1)
        if binary:
            raw = to_raw(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            buffers.append(raw)
        entries.append(entry)
    doc: dict[str, Any] = {"model_name": response.model_name, "model_version": str(response.model_version)}
    if response.id:
        doc["id"] = response.id
    doc["outputs"] = entries
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not buffers:
        return header, None
    return b"".join([header, *buffers]), len(header)
