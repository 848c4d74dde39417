"""BF16 carried as bit patterns: conversions checked against ml_dtypes' bfloat16."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from ovserve.tensors import (
    BF16_DTYPE,
    KSERVE_TO_NUMPY,
    NUMERIC_DTYPES,
    NUMPY_TO_PRECISION,
    TF_TO_NUMPY,
    bf16_from_float,
    bf16_to_float32,
)


def test_bf16_is_its_own_dtype_in_every_table() -> None:
    assert BF16_DTYPE.itemsize == 2
    assert np.dtype(np.uint16) != BF16_DTYPE
    assert KSERVE_TO_NUMPY["BF16"] == BF16_DTYPE
    assert TF_TO_NUMPY[14] == BF16_DTYPE  # DT_BFLOAT16
    assert NUMPY_TO_PRECISION[BF16_DTYPE] == "BF16"
    assert BF16_DTYPE not in NUMERIC_DTYPES  # numpy has no type of its own for it


def test_rounding_matches_ml_dtypes_including_ties_infinities_and_nan() -> None:
    rng = np.random.default_rng(7)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 3.4e38, -3.4e38, 1e-40, 1.00390625], np.float32)
    values = np.concatenate([(rng.standard_normal(50_000) * 1e4).astype(np.float32), specials])
    ours = bf16_from_float(values)
    assert ours.dtype == BF16_DTYPE
    np.testing.assert_array_equal(ours.view(np.uint16), values.astype(ml_dtypes.bfloat16).view(np.uint16))


def test_back_to_float32_is_exact_and_keeps_shape() -> None:
    bits = np.arange(0, 65536, 7, dtype=np.uint16)
    expected = bits.view(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(bf16_to_float32(bits.view(BF16_DTYPE)), expected)
    grid = bf16_from_float([[1.5, 2.0], [3.0, -4.0]])
    assert bf16_to_float32(grid.T).tolist() == [[1.5, 3.0], [2.0, -4.0]]
    assert bf16_to_float32(bf16_from_float(2.5)).shape == ()
