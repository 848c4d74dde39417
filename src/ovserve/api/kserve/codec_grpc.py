"""KServe v2 gRPC messages: ``ModelInferRequest`` in, ``ModelInferResponse`` out.

An input's values come either in its typed ``contents`` (the field its datatype names:
``int_contents`` for INT8/16/32, ``uint_contents`` for UINT8/16/32, ``int64_contents``,
``uint64_contents``, ``bool_contents``, ``fp32_contents``, ``fp64_contents``,
``bytes_contents``) or, for every input of the request at once, in
``raw_input_contents`` (one buffer per input, in input order). FP16 and BF16 have no typed
field, so they only travel raw. Replies always carry ``raw_output_contents``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve.api.kserve.codec import (
    add_sequence_parameters,
    check_requested_outputs,
    check_shape,
    datatype_of,
    element_count,
    from_raw,
    numpy_dtype,
    selected_outputs,
    to_raw,
)
from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, Unimplemented
from ovserve.tensors import (
    BYTES_DTYPE,
    KSERVE_TO_NUMPY,
    MAX_RANK,
    InferRequest,
    InferResponse,
    RawInput,
    bytes_array,
    raw_input_array,
    raw_input_of,
)

#: KServe datatype -> the InferTensorContents field that carries it (None: raw only).
CONTENTS_FIELD: dict[str, str | None] = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP16": None,
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BF16": None,
    "BYTES": "bytes_contents",
}

#: the datatypes whose raw buffers :func:`_plain_raw` reads in one step (all but BYTES)
_PLAIN_DTYPES = {name: dtype for name, dtype in KSERVE_TO_NUMPY.items() if dtype != BYTES_DTYPE}
#: and the other way, for the outputs :func:`encode_infer_reply` writes in one step
_PLAIN_DATATYPES = {dtype: name for name, dtype in _PLAIN_DTYPES.items()}


def _check_parameters(parameters: Mapping[str, pb.InferParameter], what: str) -> None:
    if "shared_memory_region" in parameters:
        raise Unimplemented(
            f"The shared memory extension is not supported ({what} names a shared memory region)"
        )


def _parameter_values(parameters: Mapping[str, pb.InferParameter]) -> dict[str, object]:
    """A protobuf map of ``InferParameter`` as plain values (whichever field each one set)."""
    values: dict[str, object] = {}
    for key, parameter in parameters.items():
        field = parameter.WhichOneof("parameter_choice")
        values[key] = getattr(parameter, field) if field else None
    return values


def decode_infer_request(request: pb.ModelInferRequest, servable: Servable) -> InferRequest:
    """Decode a ``ModelInferRequest`` into numpy inputs with the *request's* datatypes."""
    raw = request.raw_input_contents
    tensors = request.inputs
    if raw:
        for tensor in tensors:
            if tensor.HasField("contents") and tensor.contents.ListFields():
                raise InvalidInput(
                    "Passing buffers both in InferInputTensor contents and in ModelInferRequest "
                    f"raw_input_contents is not allowed - input name: {tensor.name}"
                )
        if len(raw) != len(tensors):
            raise InvalidInput(
                "Invalid number of raw_input_contents - "
                f"Expected: {len(tensors)} (one per input); Actual: {len(raw)}"
            )
    arrays: dict[str, np.ndarray] = {}
    taken_raw = servable.raw_inputs if raw else frozenset()
    for index, tensor in enumerate(tensors):
        name = tensor.name
        if name in arrays:
            raise InvalidInput(f"Duplicate input name in request - input name: {name}")
        if tensor.parameters:
            _check_parameters(tensor.parameters, f"input {name}")
        if name in taken_raw:  # a graph's Python tensor input: the bytes as sent
            dims = check_shape(list(tensor.shape), name, np.dtype(np.uint8))
            arrays[name] = raw_input_array(RawInput(raw[index], dims, tensor.datatype))
            continue
        array = _plain_raw(tensor, raw[index]) if raw else None
        if array is None:
            array = _decode_tensor(tensor, raw[index] if raw else None)
        arrays[name] = array
    parameters = _parameter_values(request.parameters) if request.parameters else None
    if parameters:
        add_sequence_parameters(parameters, servable, arrays)
    requested = None
    if request.outputs:
        for output in request.outputs:
            _check_parameters(output.parameters, f"output {output.name}")
            if "classification" in output.parameters:
                raise Unimplemented(
                    f"The classification extension is not supported - output name: {output.name}"
                )
        requested = check_requested_outputs(servable, [output.name for output in request.outputs])
    return InferRequest(arrays, requested, request.id, parameters)


def _plain_raw(tensor: pb.ModelInferRequest.InferInputTensor, buffer: bytes) -> np.ndarray | None:
    """The common case in one step: a numeric input whose raw buffer holds exactly what its positive
    dimensions declare, aligned; None for anything else (:func:`_decode_tensor` then decides, with
    its errors), so the result is the one :func:`_decode_tensor` would give."""
    dtype = _PLAIN_DTYPES.get(tensor.datatype)
    dims = tuple(tensor.shape)
    if dtype is None or not dims or len(dims) > MAX_RANK or min(dims) <= 0:
        return None
    if math.prod(dims) * dtype.itemsize != len(buffer):
        return None
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(dims) if array.flags.aligned else None


def _decode_tensor(tensor: pb.ModelInferRequest.InferInputTensor, buffer: bytes | None) -> np.ndarray:
    """An input from its raw buffer (``buffer``) or its typed contents (None), or the error saying why not."""
    name = tensor.name
    dtype = numpy_dtype(tensor.datatype, name)
    dims = check_shape(list(tensor.shape), name, dtype)
    if buffer is not None:
        return from_raw(buffer, dtype, dims, name)
    return _from_contents(tensor, dtype, dims)


def _from_contents(
    tensor: pb.ModelInferRequest.InferInputTensor, dtype: np.dtype, dims: tuple[int, ...]
) -> np.ndarray:
    name, datatype = tensor.name, tensor.datatype
    field = CONTENTS_FIELD[datatype]
    used = [descriptor.name for descriptor, _ in tensor.contents.ListFields()]
    if field is None:
        raise InvalidInput(
            f"Could not parse input content - {datatype} values can only be sent in raw_input_contents; "
            f"input name: {name}"
        )
    if used and used != [field]:
        raise InvalidInput(
            f"Invalid contents of input {name} - datatype {datatype} is carried in {field}; "
            f"Actual: {', '.join(used)}"
        )
    values = getattr(tensor.contents, field)
    count = element_count(dims)
    if len(values) != count:
        raise InvalidInput(
            f"Invalid number of values in tensor proto container - Expected: {count} (shape {list(dims)}); "
            f"Actual: {len(values)}; input name: {name}"
        )
    if dtype == BYTES_DTYPE:
        return bytes_array(list(values)).reshape(dims)
    try:
        array = np.fromiter(values, dtype=dtype, count=count)
    except OverflowError:
        info = np.iinfo(dtype)
        raise InvalidInput(
            f"Could not parse input content - a value of {field} is out of range for {datatype} "
            f"[{info.min}, {info.max}]; input name: {name}"
        ) from None
    return array.reshape(dims)


def encode_infer_reply(
    servable: Servable, request: InferRequest, response: InferResponse
) -> pb.ModelInferResponse:
    """A ``ModelInferResponse`` with every (or every requested) output in ``raw_output_contents``
    (``servable`` unused: the request path's encoder signature, without a function around this)."""
    message = pb.ModelInferResponse(
        model_name=response.model_name, model_version=str(response.model_version), id=response.id
    )
    tensors = message.outputs
    buffers = message.raw_output_contents
    requested = request.requested_outputs
    outputs = response.outputs.items() if requested is None else selected_outputs(response.outputs, requested)
    for name, array in outputs:
        datatype = _PLAIN_DATATYPES.get(array.dtype)
        if datatype is not None:  # a numeric array: the common case in one step
            tensors.add(name=name, datatype=datatype, shape=array.shape)
            buffers.append(array.tobytes())  # C order, whatever the array's layout
            continue
        raw = raw_input_of(array)
        if raw is not None:  # a graph's Python tensor: its bytes as they are, with its datatype (OVMS)
            tensors.add(name=name, datatype=raw.datatype, shape=raw.shape)
            buffers.append(raw.data)
            continue
        tensors.add(name=name, datatype=datatype_of(name, array), shape=array.shape)
        buffers.append(to_raw(array))
    if response.parameters:
        _add_parameters(message, response.parameters)
    return message


def _add_parameters(message: pb.ModelInferResponse, parameters: Mapping[str, int | str | bool]) -> None:
    for key, value in parameters.items():
        parameter = message.parameters[key]
        if isinstance(value, bool):
            parameter.bool_param = value
        elif isinstance(value, int):
            parameter.int64_param = value
        else:
            parameter.string_param = value
