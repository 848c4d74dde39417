"""Routing string inputs of a servable to images or rows, and the checks made before converting."""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import pytest

from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, ShapeMismatch
from ovserve.preprocess import StringConversion, conversion_for
from ovserve.tensors import BYTES_DTYPE, Dim, TensorSpec

U8, F32 = np.dtype(np.uint8), np.dtype(np.float32)
IMAGE = TensorSpec("image", F32, (Dim.static(1), Dim.static(2), Dim.static(2), Dim.static(3)), "NHWC")
TEXT = TensorSpec("text", U8, (Dim.any(), Dim.any()))
PLAIN = TensorSpec("plain", F32, (Dim.any(), Dim.static(3)))
NATIVE = TensorSpec("native", BYTES_DTYPE, (Dim.any(),))
LABELS = TensorSpec("labels_string", U8, (Dim.any(), Dim.any()))


class Fixed(Servable):
    def __init__(self, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
        super().__init__(ServableId("m", 1), inputs, outputs)

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise AssertionError("not run here")


def strings(*blobs: bytes) -> np.ndarray:
    out = np.empty(len(blobs), dtype=object)
    out[:] = list(blobs)
    return out


def png(height: int = 2, width: int = 2) -> bytes:
    return cv2.imencode(".png", np.full((height, width, 3), 7, np.uint8))[1].tobytes()


def conversion_of(servable: Servable) -> StringConversion | None:
    return conversion_for(servable.inputs, servable.outputs)


def test_servables_without_such_tensors_need_no_conversion() -> None:
    plain = Fixed([PLAIN, NATIVE], [PLAIN])
    assert conversion_of(plain) is None
    servable = Fixed([IMAGE, TEXT, PLAIN], [LABELS])
    conversion = conversion_of(servable)
    assert conversion is not None
    assert list(conversion.image_inputs) == ["image"] and list(conversion.text_inputs) == ["text"]
    assert conversion.string_outputs == ("labels_string",)


def test_only_string_values_are_converted_and_others_pass_through_untouched() -> None:
    conversion = conversion_of(Fixed([IMAGE, TEXT, PLAIN], []))
    assert conversion is not None
    numbers = {
        "image": np.zeros((1, 2, 2, 3), F32),
        "text": np.zeros((1, 4), U8),
        "plain": np.ones((1, 3), F32),
    }
    assert conversion.convert_inputs(numbers) is numbers
    assert not conversion.decodes_images(numbers)
    request = {"image": strings(png()), "text": strings(b"hi"), "plain": numbers["plain"]}
    assert conversion.decodes_images(request)
    converted = conversion.convert_inputs(request)
    assert converted["image"].shape == (1, 2, 2, 3) and converted["image"].dtype == F32
    np.testing.assert_array_equal(converted["text"], [[104, 105, 0]])
    assert converted["plain"] is numbers["plain"]
    assert request["image"].dtype == BYTES_DTYPE  # the request itself is left as it was


def test_string_outputs_are_converted() -> None:
    conversion = conversion_of(Fixed([PLAIN], [PLAIN, LABELS]))
    assert conversion is not None
    out = conversion.convert_outputs(
        {"plain": np.ones((1, 3), F32), "labels_string": np.array([[111, 107, 0]], U8)}
    )
    assert out["labels_string"].tolist() == [b"ok"]


@pytest.mark.parametrize("target", [IMAGE, TEXT])
def test_string_inputs_must_be_one_dimensional_with_a_batch_the_model_takes(target: TensorSpec) -> None:
    conversion = conversion_of(Fixed([target], []))
    assert conversion is not None
    blob = png() if target is IMAGE else b"x"
    with pytest.raises(ShapeMismatch, match="Expected number of binary input shape dimensions: 1; Actual: 2"):
        conversion.convert_inputs({target.name: strings(blob).reshape(1, 1)})
    with pytest.raises(ShapeMismatch, match=r"Invalid input batch size - Expected: .*; Actual: 0"):
        conversion.convert_inputs({target.name: strings()})


def test_image_count_must_match_a_static_batch() -> None:
    conversion = conversion_of(Fixed([IMAGE], []))
    assert conversion is not None
    with pytest.raises(
        ShapeMismatch, match="Invalid input batch size - Expected: 1; Actual: 2; input name: image"
    ):
        conversion.convert_inputs({"image": strings(png(), png())})


def test_an_input_without_a_batch_dimension_is_refused() -> None:
    no_batch = TensorSpec("image", F32, IMAGE.dims, "?HWC")
    conversion = conversion_of(Fixed([no_batch], []))
    assert conversion is not None
    with pytest.raises(
        InvalidInput, match="Invalid input batch size - Batch not present in input name: image"
    ):
        conversion.convert_inputs({"image": strings(png())})
