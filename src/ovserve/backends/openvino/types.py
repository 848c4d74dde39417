"""OpenVINO element types and shapes, as numpy dtypes and ovserve dims."""

from __future__ import annotations

import numpy as np
import openvino as ov

from ovserve.errors import LoadError
from ovserve.tensors import BF16_DTYPE, BYTES_DTYPE, Dim, TensorSpec


def numpy_dtype(element_type: ov.Type, what: str) -> np.dtype:
    if element_type == ov.Type.string:
        return BYTES_DTYPE
    if element_type == ov.Type.bf16:
        # OpenVINO hands bf16 data out as float16 views of the bits: the codecs carry the bits
        return BF16_DTYPE
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


def layout_of(port: ov.Output) -> str:
    """The layout a model input declares (configured, or from the model file): ``NHWC``, ``N...``.

    Empty when none is set, and for outputs. Dimension names longer than a letter keep
    OpenVINO's ``[a,b]`` form.
    """
    node = port.get_node()
    if node.get_type_name() != "Parameter":
        return ""
    try:
        layout = node.get_layout()
    except Exception:
        return ""
    if layout.empty:
        return ""
    text = str(layout.to_string())
    names = text.strip("[]").split(",")
    if all(len(n) == 1 or n == "..." for n in names):
        return "".join(names)
    return text


def spec_of(port: ov.Output, name: str) -> TensorSpec:
    """The spec of a model input or output (inputs with their layout)."""
    return TensorSpec(
        name,
        numpy_dtype(port.get_element_type(), f"tensor {name}"),
        dims_of(port.get_partial_shape()),
        layout_of(port),
    )
