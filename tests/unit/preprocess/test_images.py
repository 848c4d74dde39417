"""Image decoding for 4-D inputs, checked against OpenCV used directly on the same bytes."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from ovserve.errors import Code, DtypeMismatch, EmptyBinaryItem, InvalidInput, ShapeMismatch
from ovserve.preprocess import images
from ovserve.preprocess.images import ImageParsingFailed, convert, decode_images, fits_nhwc, layout_names
from ovserve.tensors import Dim, TensorSpec


def spec(dims: Sequence[int | tuple[int, int]], dtype: type = np.float32, layout: str = "NHWC") -> TensorSpec:
    """A 4-D input spec: ints are static (-1 any), pairs are ranges."""
    made = tuple(Dim(*d) if isinstance(d, tuple) else (Dim.any() if d == -1 else Dim.static(d)) for d in dims)
    return TensorSpec("image", np.dtype(dtype), made, layout)


def picture(height: int, width: int, channels: int = 3, seed: int = 0, dtype: type = np.uint8) -> np.ndarray:
    top = 65535 if dtype == np.uint16 else 255
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, top, shape, endpoint=True).astype(dtype)


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def items(*blobs: bytes) -> np.ndarray:
    out = np.empty(len(blobs), dtype=object)
    out[:] = list(blobs)
    return out


def test_png_decodes_to_the_exact_bgr_pixels_in_the_input_precision() -> None:
    first, second = picture(6, 8, seed=1), picture(6, 8, seed=2)
    tensor = decode_images(spec([2, 6, 8, 3]), items(encode(first), encode(second)))
    assert tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, np.stack([first, second]).astype(np.float32))


def test_jpeg_decodes_as_opencv_decodes_it() -> None:
    data = encode(picture(16, 12), ".jpg")
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    tensor = decode_images(spec([1, 16, 12, 3], np.uint8), items(data))
    np.testing.assert_array_equal(tensor[0], expected)


def test_static_nhwc_input_resizes_bilinearly_after_converting() -> None:
    image = picture(40, 50)
    tensor = decode_images(spec([1, 16, 20, 3]), items(encode(image)))
    expected = cv2.resize(image.astype(np.float32), (20, 16), interpolation=cv2.INTER_LINEAR)
    assert tensor.shape == (1, 16, 20, 3)
    np.testing.assert_array_equal(tensor[0], expected)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.float16])
def test_precisions_opencv_cannot_resize_are_resized_in_float(dtype: type) -> None:
    image = picture(9, 7)
    tensor = decode_images(spec([1, 4, 5, 3], dtype), items(encode(image)))
    wide = cv2.resize(convert(image, np.dtype(dtype), "x").astype(np.float64), (5, 4))
    assert tensor.dtype == dtype
    np.testing.assert_array_equal(tensor[0], convert(wide, np.dtype(dtype), "x"))


def test_ranged_height_and_width_clamp_to_the_nearer_bound() -> None:
    image = picture(30, 5)
    tensor = decode_images(spec([1, (10, 20), (10, 20), 3]), items(encode(image)))
    assert tensor.shape == (1, 20, 10, 3)
    np.testing.assert_array_equal(tensor[0], cv2.resize(image.astype(np.float32), (10, 20)))


def test_dynamic_dimensions_take_the_first_images_size_and_keep_it() -> None:
    first, second = picture(5, 6, seed=3), picture(5, 6, seed=4)
    tensor = decode_images(spec([-1, -1, -1, 3]), items(encode(first), encode(second)))
    np.testing.assert_array_equal(tensor, np.stack([first, second]).astype(np.float32))
    with pytest.raises(
        InvalidInput, match="required to have the same resolution - image 0 is 5x6, image 1 is 6x5"
    ):
        decode_images(spec([-1, -1, -1, 3]), items(encode(first), encode(picture(6, 5))))


def test_without_resizing_images_must_have_the_models_size() -> None:
    # a -1 dimension (here the batch) turns resizing off, as in OVMS
    with pytest.raises(
        ShapeMismatch, match=r"Invalid input shape - Expected: \(-1,8,8,3\); Actual: \(1,9,8,3\)"
    ):
        decode_images(spec([-1, 8, 8, 3]), items(encode(picture(9, 8))))
    # so does a layout other than NHWC (no layout is OVMS's default N...)
    with pytest.raises(ShapeMismatch, match="Invalid input shape"):
        decode_images(spec([1, 8, 8, 3], layout=""), items(encode(picture(9, 8))))
    exact = picture(8, 8)
    tensor = decode_images(spec([1, 8, 8, 3], layout=""), items(encode(exact)))
    np.testing.assert_array_equal(tensor[0], exact)


def test_grey_and_bgra_images_keep_their_channels() -> None:
    grey, bgra = picture(4, 4, channels=1), picture(4, 4, channels=4)
    np.testing.assert_array_equal(decode_images(spec([1, 4, 4, 1]), items(encode(grey)))[0, :, :, 0], grey)
    np.testing.assert_array_equal(decode_images(spec([1, 4, 4, 4]), items(encode(bgra)))[0], bgra)
    with pytest.raises(
        InvalidInput, match="Invalid number of channels in binary input - Expected: 3; Actual: 1"
    ):
        decode_images(spec([1, 4, 4, 3]), items(encode(grey)))
    with pytest.raises(InvalidInput, match=r"channels in binary input - Expected: 1; Actual: 4 \(image 1\)"):
        decode_images(spec([-1, 4, 4, -1]), items(encode(grey), encode(bgra)))


def test_conversion_saturates_and_rounds_like_opencv_convert_to() -> None:
    deep = picture(3, 3, dtype=np.uint16)
    tensor = decode_images(spec([1, 3, 3, 3], np.uint8), items(encode(deep)))
    np.testing.assert_array_equal(tensor[0], np.minimum(deep, 255).astype(np.uint8))
    np.testing.assert_array_equal(
        convert(np.array([0, 100, 200, 255], np.uint8), np.dtype(np.int8), "x"), [0, 100, 127, 127]
    )
    np.testing.assert_array_equal(
        convert(np.array([-3.5, -0.5, 0.5, 1.5, 300.0]), np.dtype(np.uint8), "x"), [0, 0, 0, 2, 255]
    )


def test_precisions_images_cannot_take_are_refused() -> None:
    with pytest.raises(DtypeMismatch, match="Invalid input precision - Expected: I64; Actual: binary image"):
        decode_images(spec([1, 2, 2, 3], np.int64), items(encode(picture(2, 2))))


@pytest.mark.parametrize("layout", ["NCHW", "NC..."])
def test_layouts_other_than_nhwc_are_refused(layout: str) -> None:
    with pytest.raises(InvalidInput, match="resource not configured to accept NHWC layout"):
        decode_images(spec([1, 3, 4, 4], layout=layout), items(encode(picture(4, 4))))


def test_empty_items_are_refused_before_anything_is_decoded() -> None:
    with pytest.raises(EmptyBinaryItem, match="Bytes contents is empty - item 1 of input image") as caught:
        decode_images(spec([2, 4, 4, 3]), items(b"not an image", b""))
    tfs = caught.value.tfs()  # TF Serving's front ends answer in their words
    assert isinstance(tfs, InvalidInput) and tfs.message.startswith(
        "String val is empty - item 1 of input image"
    )


def test_undecodable_bytes_are_an_unknown_error() -> None:
    with pytest.raises(ImageParsingFailed, match="Image parsing failed - item 0 of input image") as caught:
        decode_images(spec([1, 4, 4, 3]), items(b"\x89PNG but not really"))
    assert caught.value.code == Code.UNKNOWN


def test_layout_names_and_nhwc_fit() -> None:
    assert layout_names("", 4) == ["N", "?", "?", "?"]
    assert layout_names("N...", 2) == ["N", "?"]
    assert layout_names("...HWC", 4) == ["?", "H", "W", "C"]
    assert layout_names("[N,H,W,C]", 4) == ["N", "H", "W", "C"]
    assert layout_names("NCHW", 3) is None
    assert [fits_nhwc(x) for x in ("", "NHWC", "N...", "?HWC", "...", "N?HWC", "NCHW", "NHCW")] == [
        True, True, True, True, True, False, False, False,
    ]  # fmt: skip
    assert images.resizable(spec([1, 2, 2, 3]))
    assert not images.resizable(spec([1, 2, 2, 3], layout="N..."))
    assert not images.resizable(spec([1, -1, 2, 3]))
