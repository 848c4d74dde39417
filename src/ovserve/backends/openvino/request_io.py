"""Copying arrays into and out of an OpenVINO infer request's own tensors, and running it here."""

from __future__ import annotations

import numpy as np
import openvino as ov
from openvino._pyopenvino import InferRequest as _CoreInferRequest

from ovserve.tensors import BF16_DTYPE, BYTES_DTYPE, TensorSpec, bytes_array

#: output dtypes whose numpy view OpenVINO's binding copies as they are (not strings, not bf16)
PLAIN_DTYPES = frozenset(
    np.dtype(code) for code in ("f4", "f8", "f2", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "?")
)
#: ``InferRequest.infer`` of the binding itself: runs the request synchronously and returns its
#: outputs (copied, or views with ``share_outputs``). openvino's Python wrapper of it first
#: dispatches inputs ovserve has already filled and wraps the outputs in a dict of its own.
run_now = _CoreInferRequest.infer


def fill(request: ov.InferRequest, index: int, array: np.ndarray) -> None:
    """Copy ``array`` into the request's own input tensor ``index`` (resized to fit).

    Handing OpenVINO a tensor over the caller's memory (``set_input_tensor`` or
    ``share_inputs=True``) is avoided on purpose: for a model whose output is one of its
    inputs (Parameter -> Result) with a dynamic dimension, OpenVINO 2026.4 then returns
    stale outputs and touches freed memory when the shape changes between calls.
    """
    tensor = request.get_input_tensor(index)
    if array.dtype == BYTES_DTYPE:
        if tensor_shape(tensor, True) != array.shape:
            tensor.shape = list(array.shape)
        if array.size:  # OpenVINO 2026.4 refuses an empty list ("Unknown string kind")
            tensor.bytes_data = [bytes(item) for item in array.ravel()]
        return
    data = tensor.data  # a numpy view of the tensor (~0.5 µs to make: made once if the shape fits)
    if data.shape != array.shape:
        tensor.shape = list(array.shape)
        data = tensor.data
    if not array.size:
        return
    if array.dtype == BF16_DTYPE:  # OpenVINO shows bf16 data as float16: copy the bits
        np.copyto(data.view(np.uint16), array.view(np.uint16), casting="no")
    else:
        np.copyto(data, array, casting="no")


def tensor_shape(tensor: ov.Tensor, is_string: bool) -> tuple[int, ...]:
    """The tensor's shape as a tuple. Iterating an ``ov.Shape`` costs about 20 µs (the end of
    the iteration is a C++ exception); the numpy view's shape costs 0.5 µs."""
    if not is_string:
        return tuple(tensor.data.shape)
    shape = tensor.get_shape()
    return tuple(shape[i] for i in range(len(shape)))


def from_ov(tensor: ov.Tensor, spec: TensorSpec) -> np.ndarray:
    if spec.is_string:
        shape = tensor_shape(tensor, True)
        if 0 in shape:  # reading bytes_data of an empty string tensor kills the process (SIGFPE)
            return np.empty(shape, dtype=BYTES_DTYPE)
        data = tensor.bytes_data.ravel()  # items, not the rows of a string output of rank 2 or more
        return bytes_array([bytes(item) for item in data], shape)
    if spec.dtype == BF16_DTYPE:
        return np.array(tensor.data, copy=True).view(BF16_DTYPE)
    return np.array(tensor.data, copy=True)
