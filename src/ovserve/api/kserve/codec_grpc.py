"""KServe v2 gRPC messages: ``ModelInferRequest`` in, ``ModelInferResponse`` out.

An input's values come either in its typed ``contents`` (the field its datatype names:
``int_contents`` for INT8/16/32, ``uint_contents`` for UINT8/16/32, ``int64_contents``,
``uint64_contents``, ``bool_contents``, ``fp32_contents``, ``fp64_contents``,
``bytes_contents``) or, for every input of the request at once, in
``raw_input_contents`` (one buffer per input, in input order). FP16 and BF16 have no typed
field, so they only travel raw. Replies always carry ``raw_output_contents``.
"""

from __future__ import annotations

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
            if tensor.contents.ListFields():
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
    for index, tensor in enumerate(tensors):
        name = tensor.name
        if name in arrays:
            raise InvalidInput(f"Duplicate input name in request - input name: {name}")
        _check_parameters(tensor.parameters, f"input {name}")
        if raw and name in servable.raw_inputs:  # a graph's Python tensor input: the bytes as sent
            dims = check_shape(list(tensor.shape), name, np.dtype(np.uint8))
            arrays[name] = raw_input_array(RawInput(raw[index], dims, tensor.datatype))
            continue
        dtype = numpy_dtype(tensor.datatype, name)
        dims = check_shape(list(tensor.shape), name, dtype)
        if raw:
            arrays[name] = from_raw(raw[index], dtype, dims, name)
        else:
            arrays[name] = _from_contents(tensor, dtype, dims)
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


def encode_infer_response(request: InferRequest, response: InferResponse) -> pb.ModelInferResponse:
    """A ``ModelInferResponse`` with every (or every requested) output in ``raw_output_contents``."""
    tensors = []
    buffers = []
    for name, array in selected_outputs(response.outputs, request.requested_outputs):
        raw = raw_input_of(array)
        if raw is not None:  # a graph's Python tensor: its bytes as they are, with its datatype (OVMS)
            tensors.append(
                pb.ModelInferResponse.InferOutputTensor(name=name, datatype=raw.datatype, shape=raw.shape)
            )
            buffers.append(raw.data)
            continue
        tensors.append(
            pb.ModelInferResponse.InferOutputTensor(
                name=name, datatype=datatype_of(name, array), shape=array.shape
            )
        )
        buffers.append(to_raw(array))
    message = pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=str(response.model_version),
        id=response.id,
        outputs=tensors,
        raw_output_contents=buffers,
    )
    for key, value in (response.parameters or {}).items():
        parameter = message.parameters[key]
        if isinstance(value, bool):
            parameter.bool_param = value
        elif isinstance(value, int):
            parameter.int64_param = value
        else:
            parameter.string_param = value
    return message
