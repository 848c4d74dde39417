"""Checks of request tensors against a servable's input specs.

The order and texts follow OVMS: input count, then per model input: presence,
precision, number of dimensions, batch size, other dimensions. Element counts versus
declared shapes are the codecs' job (they build the arrays).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from ovserve.core.ids import ServableId
from ovserve.errors import DtypeMismatch, InvalidInput, ShapeMismatch
from ovserve.tensors import TensorSpec, format_dims, precision_name


def validate_inputs(
    sid: ServableId,
    specs: Mapping[str, TensorSpec],
    inputs: Mapping[str, np.ndarray],
    *,
    unchecked: Collection[str] = (),
    kind: str = "model",
) -> None:
    """Raise an :class:`InvalidInput` naming the first problem, or return. The inputs named in
    ``unchecked`` must be present but are taken as they come (a pipeline input whose spec is
    known only when its node runs); ``kind`` names the servable in the count's message."""
    unknown = [name for name in inputs if name not in specs]
    if len(inputs) != len(specs):
        detail = f"; unexpected input: {', '.join(unknown)}" if unknown else ""
        raise InvalidInput(
            f"Invalid number of inputs - Expected: {len(specs)}; Actual: {len(inputs)}{detail}"
            f" ({kind} {sid.name} takes {', '.join(specs)})"
        )
    for spec in specs.values():
        array = inputs.get(spec.name)
        if array is None:
            extra = f"; unexpected input: {', '.join(unknown)}" if unknown else ""
            raise InvalidInput(f"Missing input with specific name - Required input: {spec.name}{extra}")
        if spec.name not in unchecked:
            check_tensor(spec, array)


def check_tensor(spec: TensorSpec, array: np.ndarray) -> None:
    """Check one input's dtype and shape against its spec."""
    if array.dtype != spec.dtype:
        raise DtypeMismatch(
            f"Invalid input precision - Expected: {precision_name(spec.dtype)}; "
            f"Actual: {precision_name(array.dtype)}; input name: {spec.name}"
        )
    if array.ndim != len(spec.dims):
        raise ShapeMismatch(
            f"Invalid number of shape dimensions - Expected: {format_dims(spec.dims)}; "
            f"Actual: {format_dims(array.shape)}; input name: {spec.name}"
        )
    for axis, (dim, size) in enumerate(zip(spec.dims, array.shape, strict=True)):
        if not dim.accepts(size):
            what = "Invalid input batch size" if axis == 0 else "Invalid input shape"
            if axis == 0:
                raise ShapeMismatch(f"{what} - Expected: {dim}; Actual: {size}; input name: {spec.name}")
            raise ShapeMismatch(
                f"{what} - Expected: {format_dims(spec.dims)}; Actual: {format_dims(array.shape)}; "
                f"input name: {spec.name}"
            )
