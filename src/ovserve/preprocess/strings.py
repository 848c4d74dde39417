"""Which inputs of a servable turn strings into tensors, and which outputs turn into strings.

OVMS routes a string-typed request input (TF Serving DT_STRING or ``{"b64": ...}``,
KServe BYTES) by the model input it targets: a string input takes the strings as they
are; a 2-D U8 input takes them as zero-padded rows (:mod:`.text`); a 4-D input takes them
as encoded images (:mod:`.images`). Other inputs are left to the usual precision check.
Outputs that are 2-D U8 and named ``..._string`` go back as strings.

A :class:`StringConversion` is built once per servable, at load time
(:mod:`ovserve.preprocess.servable` installs it as a wrapper servable); the usual servable
has nothing to convert and gets no wrapper.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ovserve.errors import InvalidInput, ShapeMismatch
from ovserve.preprocess import images, text
from ovserve.tensors import BYTES_DTYPE, TensorSpec


class StringConversion:
    """The string-taking inputs and string-giving outputs of one servable."""

    __slots__ = ("image_inputs", "string_outputs", "text_inputs")

    def __init__(self, inputs: Mapping[str, TensorSpec], outputs: Mapping[str, TensorSpec]) -> None:
        #: 4-D inputs: strings are encoded images
        self.image_inputs = {n: s for n, s in inputs.items() if not s.is_string and len(s.dims) == 4}
        #: 2-D U8 inputs: strings become zero-padded rows
        self.text_inputs = {n: s for n, s in inputs.items() if s.dtype == np.uint8 and len(s.dims) == 2}
        #: 2-D U8 outputs named ``..._string``
        self.string_outputs = tuple(n for n, s in outputs.items() if text.is_string_output(s))

    @property
    def idle(self) -> bool:
        return not (self.image_inputs or self.text_inputs or self.string_outputs)

    def decodes_images(self, inputs: Mapping[str, np.ndarray]) -> bool:
        """Whether ``inputs`` carry images to decode (worth running off the event loop)."""
        return any(
            (array := inputs.get(name)) is not None and array.dtype == BYTES_DTYPE
            for name in self.image_inputs
        )

    def convert_inputs(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """``inputs`` with strings sent to image or 2-D U8 inputs replaced by the tensors they make."""
        converted: dict[str, np.ndarray] | None = None
        for name, array in inputs.items():
            if array.dtype != BYTES_DTYPE:
                continue
            spec = self.image_inputs.get(name)
            if spec is not None:
                _check_items(spec, array)
                tensor = images.decode_images(spec, array)
            elif (spec := self.text_inputs.get(name)) is not None:
                _check_items(spec, array)
                tensor = text.strings_to_rows(spec, array)
            else:
                continue
            if converted is None:
                converted = dict(inputs)
            converted[name] = tensor
        return inputs if converted is None else converted

    def convert_outputs(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``outputs`` with the ``..._string`` ones as 1-D ``object`` arrays of strings."""
        for name in self.string_outputs:
            array = outputs.get(name)
            if array is not None and array.ndim == 2:
                outputs[name] = text.rows_to_strings(array)
        return outputs


def conversion_for(
    inputs: Mapping[str, TensorSpec], outputs: Mapping[str, TensorSpec]
) -> StringConversion | None:
    """The :class:`StringConversion` of a servable with these tensors; None when it has nothing to convert."""
    conversion = StringConversion(inputs, outputs)
    return None if conversion.idle else conversion


def _check_items(spec: TensorSpec, items: np.ndarray) -> None:
    """OVMS's checks of a string input before conversion: one dimension, a batch the model takes."""
    name = spec.name
    if items.ndim != 1:
        raise ShapeMismatch(
            "Invalid number of shape dimensions - Expected number of binary input shape dimensions: 1; "
            f"Actual: {items.ndim} (shape {list(items.shape)}); input name: {name}"
        )
    names = images.layout_names(spec.layout, len(spec.dims))
    if names is not None and "N" not in names:
        raise InvalidInput(
            f"Invalid input batch size - Batch not present in input name: {name} (layout {spec.layout})"
        )
    count = items.shape[0]
    batch = spec.dims[names.index("N") if names is not None else 0]
    if count == 0 or not batch.accepts(count):
        raise ShapeMismatch(
            f"Invalid input batch size - Expected: {batch}; Actual: {count}; input name: {name}"
        )
