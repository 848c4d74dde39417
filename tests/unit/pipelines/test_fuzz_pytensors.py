"""Property-based checks (hypothesis) of the conversions between pipeline arrays and pyovms.Tensor:
everything a pipeline carries survives a node unchanged, and whatever user code builds as an output
either converts or fails with a ValueError naming the output, never anything else."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ovserve.pipelines.pytensors import array_from_tensor, pack_bytes, tensor_from_array, unpack_bytes
from ovserve.tensors import NUMERIC_DTYPES, bytes_array
from pyovms import Tensor

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
numeric = st.sampled_from(NUMERIC_DTYPES).flatmap(lambda dtype: hnp.arrays(dtype, shapes))
byte_items = st.lists(st.binary(max_size=12), max_size=12)


@FUZZ
@given(numeric)
def test_a_numeric_array_round_trips_through_a_tensor(array: np.ndarray) -> None:
    tensor = tensor_from_array("x", array)
    assert tensor.shape == array.shape and np.asarray(tensor).tobytes() == array.tobytes()
    back = array_from_tensor(tensor)
    assert back.dtype == array.dtype and back.shape == array.shape and back.tobytes() == array.tobytes()


@FUZZ
@given(byte_items)
def test_bytes_round_trip_through_the_packed_format(items: list[bytes]) -> None:
    assert unpack_bytes(pack_bytes(items), "x") == items
    back = array_from_tensor(tensor_from_array("x", bytes_array(items)))
    assert back.dtype == object and back.tolist() == items


@FUZZ
@given(
    st.binary(max_size=40),
    st.sampled_from(["BYTES", "FP32", "INT64", "BOOL", "UINT8", "BF16", "FP16", "custom", "<U3", "5w"]),
    st.lists(st.integers(min_value=0, max_value=6), max_size=3),
)
def test_any_output_converts_or_fails_naming_it(data: bytes, datatype: str, shape: list[int]) -> None:
    tensor = Tensor("out", data, shape=shape, datatype=datatype)
    try:
        array = array_from_tensor(tensor)
    except ValueError as exc:
        assert "'out'" in str(exc)
    else:
        assert array.shape == tuple(shape)
