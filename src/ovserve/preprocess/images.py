"""JPEG/PNG strings sent to a 4-D model input, decoded into one NHWC tensor as OVMS does.

Each item is decoded by OpenCV as stored (``IMREAD_UNCHANGED``: BGR, BGRA or grey, 8 or
16 bits), converted to the input's precision the way OpenCV's ``convertTo`` does (values
kept, rounded and saturated, no scaling), then resized (bilinear, OpenCV's default) to the
input's height and width when the input allows it: no dimension is -1 and the layout is
``NHWC`` or ``N?HWC``. Otherwise every image must have the first one's resolution and fit
the input's dimensions. Dynamic height or width take the first image's size, clamped to
a range's nearer bound.

OpenCV (``opencv-python-headless``) is imported on first use, so a server that never
receives an image does not load it. The errors and their texts are OVMS's; an item
OpenCV cannot decode is UNKNOWN (HTTP 500), as in OVMS.
"""

from __future__ import annotations

import re
from functools import cache
from types import ModuleType

import numpy as np

from ovserve.errors import (
    Code,
    DtypeMismatch,
    EmptyBinaryItem,
    InvalidInput,
    ServingError,
    ShapeMismatch,
    Unimplemented,
)
from ovserve.tensors import Dim, TensorSpec, format_dims, precision_name

IMAGE_PARSING_FAILED = "Image parsing failed"
UNSUPPORTED_LAYOUT = "Received binary image input but resource not configured to accept NHWC layout"
INVALID_CHANNELS = "Invalid number of channels in binary input"
RESOLUTION_MISMATCH = "Binary input images for this endpoint are required to have the same resolution"

#: precisions an image can be converted to (OVMS's list), by numpy dtype
TARGET_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(t)
    for t in (np.float32, np.float64, np.float16, np.int32, np.int16, np.uint16, np.int8, np.uint8)
)
#: dtypes cv2.resize handles itself; the others are resized in float and converted back
_RESIZABLE = frozenset(np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64))
#: layouts whose inputs are resized to the model's height and width
_RESIZE_LAYOUTS = frozenset({"NHWC", "N?HWC", "..."})
_LAYOUT_TOKEN = re.compile(r"\.\.\.|[^.]")


class ImageParsingFailed(ServingError):
    """An image item that OpenCV cannot decode (UNKNOWN, as OVMS answers it)."""

    code = Code.UNKNOWN


@cache
def _cv2() -> ModuleType:
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise Unimplemented(
            f"{IMAGE_PARSING_FAILED} - image inputs need OpenCV (opencv-python-headless): {exc}"
        ) from None
    return cv2


def layout_names(layout: str, rank: int) -> list[str] | None:
    """The dimension names of ``layout`` for a tensor of ``rank`` ("?" = unnamed); None if it cannot fit.

    ``""`` (no layout known) is OVMS's default ``N...``.
    """
    text = (layout or "N...").upper()
    split = text.strip("[]").split(",") if text.startswith("[") else _LAYOUT_TOKEN.findall(text)
    tokens = [t.strip() for t in split]
    if "..." in tokens:
        at = tokens.index("...")
        before, after = tokens[:at], [t for t in tokens[at + 1 :] if t != "..."]
        missing = rank - len(before) - len(after)
        if missing < 0:
            return None
        return [*before, *["?"] * missing, *after]
    return tokens if len(tokens) == rank else None


def fits_nhwc(layout: str) -> bool:
    """Whether a 4-D input's layout is compatible with ``N...HWC`` (NCHW is not)."""
    names = layout_names(layout, 4)
    return names is not None and all(n in ("?", want) for n, want in zip(names, "NHWC", strict=True))


def resizable(spec: TensorSpec) -> bool:
    """OVMS resizes images only for inputs with no -1 dimension and an NHWC (or ``...``) layout."""
    return all(not (d.lo == 0 and d.hi == -1) for d in spec.dims) and spec.layout in _RESIZE_LAYOUTS


def decode_images(spec: TensorSpec, items: np.ndarray) -> np.ndarray:
    """The 1-D ``object`` array ``items`` of encoded images as one tensor for the 4-D input ``spec``.

    An empty item is :class:`~ovserve.errors.EmptyBinaryItem`, which each API words its own way.
    """
    name = spec.name
    if not fits_nhwc(spec.layout):
        raise InvalidInput(f"{UNSUPPORTED_LAYOUT} - input {name} has layout {spec.layout}; send NHWC images")
    for index, item in enumerate(items):
        if not len(item):
            raise EmptyBinaryItem(f"item {index} of input {name} has no bytes")
    resize = resizable(spec)
    height_dim, width_dim, channels_dim = spec.dims[1], spec.dims[2], spec.dims[3]
    height = width = 0
    images: list[np.ndarray] = []
    for index, item in enumerate(items):
        image = decode(bytes(item), name, index)
        if images:
            first = images[0]
            if not resize and image.shape[:2] != first.shape[:2]:
                raise InvalidInput(
                    f"{RESOLUTION_MISMATCH} - image 0 is {_size(first)}, image {index} is {_size(image)} "
                    f"(height x width); input name: {name}"
                )
            channels_dim = Dim.static(first.shape[2])
        _check_channels(channels_dim, image, name, index)
        if not images:
            height, width = _target(height_dim, image.shape[0]), _target(width_dim, image.shape[1])
        image = convert(image, spec.dtype, name)
        if image.shape[:2] != (height, width):
            if not resize:
                raise ShapeMismatch(
                    f"Invalid input shape - Expected: {format_dims(spec.dims)}; Actual: "
                    f"{format_dims((len(items), *image.shape))} (image {index}, height x width x channels; "
                    f"this input takes images of its exact size, as it has a -1 dimension or a layout "
                    f"other than NHWC); input name: {name}"
                )
            image = resize_image(image, height, width)
        images.append(image)
    return np.stack(images)


def decode(data: bytes, name: str, index: int) -> np.ndarray:
    """One encoded image as height x width x channels, as stored (BGR/BGRA/grey)."""
    cv2 = _cv2()
    image: np.ndarray | None
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise ImageParsingFailed(
            f"{IMAGE_PARSING_FAILED} - item {index} of input {name} is not an image OpenCV can decode "
            f"({len(data)} bytes)"
        )
    return image if image.ndim == 3 else image[:, :, np.newaxis]


def convert(image: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``image`` in ``dtype`` as OpenCV's ``convertTo`` makes it: rounded, saturated, not scaled."""
    if image.dtype == dtype:
        return image
    if dtype not in TARGET_DTYPES:
        raise DtypeMismatch(
            f"Invalid input precision - Expected: {precision_name(dtype)}; Actual: binary image, which "
            f"converts only to {', '.join(precision_name(d) for d in TARGET_DTYPES)}; input name: {name}"
        )
    if dtype.kind == "f":
        return image.astype(dtype)
    info = np.iinfo(dtype)
    wide = image.astype(np.int64) if image.dtype.kind in "iub" else np.rint(image.astype(np.float64))
    clipped: np.ndarray = np.clip(wide, info.min, info.max)
    return clipped.astype(dtype)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` resized bilinearly (cv2.resize's default) to ``height`` x ``width``, same dtype."""
    cv2 = _cv2()
    source = image if image.dtype in _RESIZABLE else image.astype(np.float64)
    resized: np.ndarray = cv2.resize(source, (width, height))
    if resized.ndim == 2:
        resized = resized[:, :, np.newaxis]
    return resized if resized.dtype == image.dtype else convert(resized, image.dtype, "resized image")


def _target(dim: Dim, size: int) -> int:
    """The size to resize to: the model's, the image's when the model takes it, else the nearer bound."""
    if dim.accepts(size):
        return size
    return dim.hi if dim.hi != -1 and size > dim.hi else dim.lo


def _check_channels(dim: Dim, image: np.ndarray, name: str, index: int) -> None:
    channels = image.shape[2]
    if not dim.accepts(channels):
        raise InvalidInput(
            f"{INVALID_CHANNELS} - Expected: {dim}; Actual: {channels} (image {index}); input name: {name}"
        )


def _size(image: np.ndarray) -> str:
    return f"{image.shape[0]}x{image.shape[1]}"
