"""OVMS 2026's input preprocessing (mean, scale, color_format, precision) built into the model.

The steps are added to the model's :class:`openvino.preprocess.PrePostProcessor` at load
time, so OpenVINO runs them inside the compiled model: nothing is computed in numpy per
request. Order and meaning are OVMS's (``applyPreprocessingConfiguration`` in
``src/modelinstance.cpp``, v2026.3): the client's color format is set on the tensor and
converted to the model's; the tensor takes the client's precision and is converted to
the model's; then the mean is subtracted and the result divided by the scale. As in
OVMS the steps apply to the model's only input (a model with several inputs is refused).
"""

from __future__ import annotations

import openvino as ov

from ovserve.backends.openvino.messages import first_line
from ovserve.config.types import PreprocessSpec
from ovserve.errors import LoadError

PREPROCESS_FAILED = "Failed to configure input preprocessing configuration"

_CF = ov.preprocess.ColorFormat
_COLOR_FORMATS = {
    "RGB": _CF.RGB,
    "BGR": _CF.BGR,
    "GRAY": _CF.GRAY,
    "NV12": _CF.NV12_SINGLE_PLANE,
    "NV12_2": _CF.NV12_TWO_PLANES,
    "I420": _CF.I420_SINGLE_PLANE,
    "I420_3": _CF.I420_THREE_PLANES,
}
#: client color formats that split the input into several planes (several inputs): not served
_PLANAR = ("NV12_2", "I420_3")
_PRECISIONS = {
    "BF16": ov.Type.bf16,
    "FP64": ov.Type.f64,
    "FP32": ov.Type.f32,
    "FP16": ov.Type.f16,
    "INT64": ov.Type.i64,
    "INT32": ov.Type.i32,
    "INT16": ov.Type.i16,
    "INT8": ov.Type.i8,
    "INT4": ov.Type.i4,
    "UINT64": ov.Type.u64,
    "UINT32": ov.Type.u32,
    "UINT16": ov.Type.u16,
    "UINT8": ov.Type.u8,
    "UINT4": ov.Type.u4,
    "UINT1": ov.Type.u1,
}


def build(
    ppp: ov.preprocess.PrePostProcessor, inputs: int, spec: PreprocessSpec | None, fallback: str
) -> ov.Model:
    """Add ``spec``'s steps to ``ppp`` (a model with ``inputs`` inputs) and build the model.

    A failure is a :class:`LoadError`: OVMS's preprocessing text when ``spec`` is set,
    else ``fallback`` (the layout error the caller reports).
    """
    if spec is None:
        try:
            return ppp.build()
        except Exception as exc:
            raise LoadError(f"{fallback}: {first_line(exc)}") from exc
    if inputs != 1:
        raise LoadError(
            f"{PREPROCESS_FAILED}: mean, scale, color_format and precision apply to a model with one input; "
            f"this one has {inputs}"
        )
    client_color = spec.color_format[1] if spec.color_format else None
    if client_color in _PLANAR:
        raise LoadError(
            f"{PREPROCESS_FAILED}: color_format {client_color} splits the input into planes, "
            "which ovserve does not serve; use NV12 or I420 (one plane)"
        )
    try:
        _add_steps(ppp.input(0), spec)
        return ppp.build()
    except Exception as exc:
        raise LoadError(f"{PREPROCESS_FAILED}: {first_line(exc)}") from exc


def _add_steps(port: ov.preprocess.InputInfo, spec: PreprocessSpec) -> None:
    if spec.color_format is not None:
        model_format, client_format = spec.color_format
        port.tensor().set_color_format(_COLOR_FORMATS[client_format])
        port.preprocess().convert_color(_COLOR_FORMATS[model_format])
    if spec.precision is not None:
        client_type, model_type = spec.precision
        port.tensor().set_element_type(_PRECISIONS[client_type])
        port.preprocess().convert_element_type(_PRECISIONS[model_type])
    if spec.mean is not None:
        port.preprocess().mean(list(spec.mean) if isinstance(spec.mean, tuple) else spec.mean)
    if spec.scale is not None:
        port.preprocess().scale(list(spec.scale) if isinstance(spec.scale, tuple) else spec.scale)
