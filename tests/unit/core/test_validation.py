import numpy as np
import pytest

from ovserve.core.ids import ServableId
from ovserve.core.validation import validate_inputs
from ovserve.errors import DtypeMismatch, InvalidInput, ShapeMismatch
from ovserve.tensors import Dim, TensorSpec

SID = ServableId("m", 1)
SPECS = {
    "a": TensorSpec("a", np.dtype(np.float32), (Dim.any(), Dim.static(3))),
    "b": TensorSpec("b", np.dtype(np.int32), (Dim.static(1), Dim(2, 5))),
}


def good() -> dict[str, np.ndarray]:
    return {"a": np.zeros((4, 3), np.float32), "b": np.zeros((1, 3), np.int32)}


def test_valid_inputs_pass() -> None:
    validate_inputs(SID, SPECS, good())


def test_input_count() -> None:
    inputs = good() | {"c": np.zeros(1)}
    with pytest.raises(
        InvalidInput, match="Invalid number of inputs - Expected: 2; Actual: 3; unexpected input: c"
    ):
        validate_inputs(SID, SPECS, inputs)


def test_missing_input_names_it() -> None:
    inputs = {"a": good()["a"], "z": good()["b"]}
    with pytest.raises(
        InvalidInput, match="Missing input with specific name - Required input: b; unexpected input: z"
    ):
        validate_inputs(SID, SPECS, inputs)


def test_precision() -> None:
    inputs = good() | {"a": np.zeros((4, 3), np.float64)}
    with pytest.raises(
        DtypeMismatch, match="Invalid input precision - Expected: FP32; Actual: FP64; input name: a"
    ):
        validate_inputs(SID, SPECS, inputs)


def test_rank() -> None:
    inputs = good() | {"a": np.zeros((4, 3, 1), np.float32)}
    with pytest.raises(
        ShapeMismatch, match=r"Invalid number of shape dimensions - Expected: \(-1,3\); Actual: \(4,3,1\)"
    ):
        validate_inputs(SID, SPECS, inputs)


def test_batch_and_other_dims_and_ranges() -> None:
    with pytest.raises(
        ShapeMismatch, match="Invalid input batch size - Expected: 1; Actual: 2; input name: b"
    ):
        validate_inputs(SID, SPECS, good() | {"b": np.zeros((2, 3), np.int32)})
    with pytest.raises(
        ShapeMismatch, match=r"Invalid input shape - Expected: \(1,\[2~5\]\); Actual: \(1,6\)"
    ):
        validate_inputs(SID, SPECS, good() | {"b": np.zeros((1, 6), np.int32)})
    with pytest.raises(ShapeMismatch, match=r"Expected: \(-1,3\); Actual: \(4,2\)"):
        validate_inputs(SID, SPECS, good() | {"a": np.zeros((4, 2), np.float32)})


def test_unchecked_inputs_must_be_present_but_are_taken_as_they_come() -> None:
    """A pipeline's inputs that only a Python or custom node describes (``unchecked``)."""
    inputs = good() | {"b": np.zeros((7, 7, 7), np.uint8)}
    validate_inputs(SID, SPECS, inputs, unchecked={"b"})
    with pytest.raises(DtypeMismatch, match="input name: a"):
        validate_inputs(SID, SPECS, inputs | {"a": np.zeros((4, 3), np.int8)}, unchecked={"b"})
    with pytest.raises(InvalidInput, match=r"Expected: 2; Actual: 1 \(pipeline m takes a, b\)"):
        validate_inputs(SID, SPECS, {"a": good()["a"]}, unchecked={"b"}, kind="pipeline")
    with pytest.raises(
        InvalidInput, match="Missing input with specific name - Required input: b; unexpected input: c"
    ):
        validate_inputs(SID, SPECS, {"a": good()["a"], "c": good()["b"]}, unchecked={"b"})
