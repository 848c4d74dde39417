"""Which inputs of a servable turn strings into tensors, and which outputs turn into strings.

OVMS routes a string-typed request input (TF Serving DT_STRING or ``{"b64": ...}``,
KServe BYTES) by the model input it targets: a string input takes the strings as they
are; a 2-D U8 input takes them as zero-padded rows (:mod:`.text`); a 4-D input takes them
as encoded images (:mod:`.images`). Other inputs are left to the usual precision check.
Outputs that are 2-D U8 and named ``..._string`` go back as strings.

:func:`conversion_for` answers, once per servable, with a :class:`StringConversion`, or
None for the (usual) servable that has no such input or output, so requests to it pay
nothing more than a dictionary lookup.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping

import numpy as np

from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, ShapeMismatch
from ovserve.preprocess import images, text
from ovserve.tensors import BYTES_DTYPE, TensorSpec

STRING_VAL_EMPTY = "String val is empty"  # TF Serving's text for an empty image
BYTES_CONTENTS_EMPTY = "Bytes contents is empty"  # KServe's

#: id(servable) -> its conversion or None; an entry goes when its servable is collected
_conversions: dict[int, StringConversion | None] = {}


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

    def convert_inputs(self, inputs: Mapping[str, np.ndarray], empty_item: str) -> Mapping[str, np.ndarray]:
        """``inputs`` with strings sent to image or 2-D U8 inputs replaced by the tensors they make.

        ``empty_item`` is the API's text for an empty image (see the module constants).
        """
        converted: dict[str, np.ndarray] | None = None
        for name, array in inputs.items():
            if array.dtype != BYTES_DTYPE:
                continue
            spec = self.image_inputs.get(name)
            if spec is not None:
                _check_items(spec, array)
                tensor = images.decode_images(spec, array, empty_item)
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


def conversion_for(servable: Servable) -> StringConversion | None:
    """The servable's :class:`StringConversion`, or None when it has nothing to convert (cached).

    Called on the event loop for every inference, so the answer is one dictionary lookup.
    """
    key = id(servable)
    try:
        return _conversions[key]
    except KeyError:
        conversion = StringConversion(servable.inputs, servable.outputs)
        found = None if conversion.idle else conversion
        _conversions[key] = found
        weakref.finalize(servable, _conversions.pop, key, None)
        return found


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
