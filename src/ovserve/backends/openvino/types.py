"""OpenVINO element types and shapes, as numpy dtypes and ovserve dims."""

from __future__ import annotations

import numpy as np
import openvino as ov

from ovserve.errors import LoadError
from ovserve.tensors import BYTES_DTYPE, Dim, TensorSpec


def numpy_dtype(element_type: ov.Type, what: str) -> np.dtype:
    if element_type == ov.Type.string:
        return BYTES_DTYPE
    try:
        dtype: np.dtype = np.dtype(element_type.to_dtype())
    except Exception as exc:
        raise LoadError(f"{what} has element type {element_type}, which ovserve cannot serve") from exc
    if dtype.kind not in "biuf":
        raise LoadError(f"{what} has element type {element_type}, which ovserve cannot serve")
    return dtype


def dims_of(shape: ov.PartialShape) -> tuple[Dim, ...]:
    if shape.rank.is_dynamic:
        raise LoadError("models with a dynamic rank are not supported")
    return tuple(
        Dim.static(d.get_length()) if d.is_static else Dim(d.get_min_length(), d.get_max_length())
        for d in shape
    )


def partial_shape(dims: tuple[Dim, ...]) -> ov.PartialShape:
    return ov.PartialShape(
        [ov.Dimension(d.lo, d.hi) if d.hi != -1 or d.lo > 0 else ov.Dimension(-1) for d in dims]
    )


def port_name(port: ov.Output, fallback: str) -> str:
    """The name the model file gives a tensor (what metadata shows)."""
    try:
        return str(port.get_any_name())
    except RuntimeError:
        return fallback


def spec_of(port: ov.Output, name: str) -> TensorSpec:
    return TensorSpec(
        name, numpy_dtype(port.get_element_type(), f"tensor {name}"), dims_of(port.get_partial_shape())
    )
