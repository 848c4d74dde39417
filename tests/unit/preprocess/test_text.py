"""Strings as zero-padded 2-D U8 rows, and ``..._string`` outputs back as strings."""

from __future__ import annotations

import numpy as np
import pytest

from ovserve.errors import InvalidInput, ShapeMismatch
from ovserve.preprocess import text
from ovserve.tensors import Dim, TensorSpec

ANY_2D = TensorSpec("text", np.dtype(np.uint8), (Dim.any(), Dim.any()))


def items(*blobs: bytes) -> np.ndarray:
    out = np.empty(len(blobs), dtype=object)
    out[:] = list(blobs)
    return out


def test_strings_become_rows_one_byte_longer_than_the_longest() -> None:
    rows = text.strings_to_rows(ANY_2D, items(b"abcd", b"ab", b""))
    assert rows.dtype == np.uint8
    np.testing.assert_array_equal(rows, [[97, 98, 99, 100, 0], [97, 98, 0, 0, 0], [0, 0, 0, 0, 0]])


def test_rows_must_fit_the_models_shape() -> None:
    fixed = TensorSpec("text", np.dtype(np.uint8), (Dim.static(2), Dim(1, 4)))
    assert text.strings_to_rows(fixed, items(b"abc", b"x")).shape == (2, 4)
    with pytest.raises(
        ShapeMismatch,
        match=r"Expected batch size: 2; got: 2; Expected max null terminated string length: \[1~4\]; got: 5",
    ):
        text.strings_to_rows(fixed, items(b"abcd", b"x"))


def test_the_rows_may_not_exceed_one_gigabyte(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "MAX_ROWS_BYTES", 10)
    with pytest.raises(InvalidInput, match=r"exceeded 1GB .*\(2 strings x 6 bytes\); input name: text"):
        text.strings_to_rows(ANY_2D, items(b"hello", b"x"))


def test_string_outputs_are_read_up_to_the_first_zero() -> None:
    rows = np.array([[104, 105, 0, 120], [0, 1, 2, 3], [65, 66, 67, 68]], np.uint8)
    assert text.rows_to_strings(rows).tolist() == [b"hi", b"", b"ABCD"]


def test_which_outputs_are_strings() -> None:
    u8 = np.dtype(np.uint8)
    two = (Dim.any(), Dim.any())
    assert text.is_string_output(TensorSpec("label_string", u8, two))
    assert not text.is_string_output(TensorSpec("label", u8, two))
    assert not text.is_string_output(TensorSpec("label_string", np.dtype(np.int32), two))
    assert not text.is_string_output(TensorSpec("label_string", u8, (Dim.any(),)))
