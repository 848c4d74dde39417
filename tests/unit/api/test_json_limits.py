"""The value bound on JSON bodies, checked before they are parsed."""

from __future__ import annotations

import numpy as np
import pytest

from ovserve.api.json_limits import STRUCTURE_SLACK, check_value_count, max_values
from ovserve.errors import InvalidInput
from ovserve.tensors import Dim, TensorSpec

from .kserve.fakes import EchoServable, spec

F32 = np.dtype(np.float32)


def test_max_values() -> None:
    assert max_values([spec("a", "FP32", 1, 10), spec("b", "INT64", 2, 3)]) == 16
    assert max_values([TensorSpec("r", F32, (Dim(1, 4), Dim.static(3)))]) == 12  # a range: its top
    assert max_values([spec("a", "FP32", -1, 10)]) is None  # unbounded
    assert max_values([spec("s", "BYTES", 2)]) is None  # commas in strings are no separators


def test_a_body_with_far_more_commas_is_refused_unparsed() -> None:
    servable = EchoServable("m", [spec("in", "FP32", 1, 10)])
    ok = b"[" + b",".join([b"1"] * (10 + STRUCTURE_SLACK)) + b"]"
    check_value_count(ok, len(ok), servable)  # within the slack: left to the decoder
    body = b"not even json" + b"," * (11 + STRUCTURE_SLACK)
    with pytest.raises(InvalidInput, match="model m takes at most 10"):
        check_value_count(body, len(body), servable)
    check_value_count(body, 10, servable)  # only the JSON part (before binary data) counts


def test_unbounded_models_are_not_checked() -> None:
    body = b"," * 100_000
    check_value_count(body, len(body), EchoServable("m", [spec("in", "FP32", -1, 10)]))
