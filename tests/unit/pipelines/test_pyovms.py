"""pyovms.Tensor behaves as OVMS's documents and its binding tests say (docs/python_support/reference.md)."""

from __future__ import annotations

import ctypes
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pyovms import Tensor

NUMERIC = [np.bool_, np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64]
NUMERIC += [np.float16, np.float32, np.float64]
KSERVE = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
]


@pytest.mark.parametrize(("dtype", "datatype"), list(zip(NUMERIC, KSERVE, strict=True)))
def test_a_numpy_array_gives_its_buffer_and_the_kserve_datatype_of_its_format(
    dtype: type, datatype: str
) -> None:
    array = np.ones((1, 3, 4, 5), dtype=dtype)
    tensor = Tensor("input", array)
    assert tensor.name == "input"
    assert tensor.shape == array.shape
    assert tensor.datatype == datatype  # numpy's int64 is format "l": INT64 here (OVMS says INT32)
    assert tensor.data.shape == array.data.shape
    assert tensor.data.format == array.data.format
    assert tensor.data.strides == array.data.strides
    assert tensor.data == array.data
    assert tensor.size == array.nbytes
    assert tensor.data.readonly


def test_python_bytes_are_uint8_of_their_length() -> None:
    data = b"some text"
    tensor = Tensor("input", data)
    assert (tensor.shape, tensor.datatype, tensor.data.format, tensor.data.ndim) == ((9,), "UINT8", "B", 1)
    assert bytes(tensor) == data
    assert tensor.ref_obj is data


@pytest.mark.parametrize("data", ["single_string", ["batch", "of", "strings"]])
def test_a_numpy_string_array_keeps_its_format_which_is_its_datatype(data: object) -> None:
    array = np.array(data)
    tensor = Tensor("input", array)
    assert tensor.shape == array.shape
    assert tensor.data.format == array.data.format
    assert tensor.datatype == array.data.format  # no KServe type: the format itself, as OVMS
    assert tensor.data.tobytes() == array.data.tobytes()


def test_shape_and_datatype_given_override_the_attributes_only() -> None:
    array = np.ones((300, 300, 3), dtype=np.uint8)
    tensor = Tensor("input", array, shape=(1,), datatype="IMAGE_FRAME")
    assert (tensor.shape, tensor.datatype) == ((1,), "IMAGE_FRAME")
    assert tensor.data.shape == array.shape
    strings = np.array(["batch", "of", "strings"])
    typed = Tensor("input", strings, datatype=strings.dtype.str)
    assert np.array_equal(np.frombuffer(bytes(typed), dtype=typed.datatype), strings)


def test_the_tensor_converts_as_a_buffer_without_copying() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = Tensor("x", array)
    view = np.asarray(tensor)
    assert view.dtype == np.float32 and view.shape == (2, 3)
    assert np.shares_memory(view, array) and not view.flags.writeable
    copy = np.array(tensor)
    assert copy.flags.writeable and np.array_equal(copy, array)
    again = Tensor("y", tensor)  # a Tensor is a buffer too
    assert again.datatype == "FP32" and np.array_equal(np.asarray(again), array)
    assert again.ref_obj is tensor


@pytest.mark.parametrize(
    ("args", "kwargs", "text"),
    [
        (("x", "a str is not a buffer"), {}, "buffer protocol"),
        ((1, b"x"), {}, "name must be a str"),
        (("x", b"x"), {"shape": "3"}, "shape must be"),
        (("x", b"x"), {"shape": (1.5,)}, "shape must be"),
        (("x", b"x"), {"datatype": 3}, "datatype must be a str"),
    ],
)
def test_bad_constructor_arguments_are_type_errors_naming_the_argument(
    args: tuple[object, ...], kwargs: dict[str, object], text: str
) -> None:
    with pytest.raises(TypeError, match=text):
        Tensor(*args, **kwargs)  # type: ignore[arg-type]


def test_attributes_are_read_only() -> None:
    tensor = Tensor("x", b"abc")
    with pytest.raises(AttributeError):
        tensor.name = "y"  # type: ignore[misc]


def test_a_request_tensor_of_a_numeric_datatype_has_that_datatypes_format() -> None:
    raw = np.arange(4, dtype=np.int64).tobytes()
    tensor = Tensor._from_request("in", raw, (2, 2), "INT64")
    assert (tensor.datatype, tensor.shape, tensor.data.format, tensor.data.shape) == (
        "INT64",
        (2, 2),
        "q",
        (2, 2),
    )
    assert np.array_equal(np.asarray(tensor), np.arange(4).reshape(2, 2))
    with pytest.raises(ValueError, match="needs 16 bytes; the data has 8"):
        Tensor._from_request("in", raw[:8], (2,), "FP64")


def test_a_request_tensor_of_any_other_datatype_is_raw_bytes_with_the_requests_shape() -> None:
    tensor = Tensor._from_request("in", b"null0terminated0string0", (3,), "my_string")
    assert (tensor.datatype, tensor.shape, tensor.data.format, tensor.data.shape) == (
        "my_string",
        (3,),
        "B",
        (23,),
    )


def test_the_distribution_packages_pyovms_beside_ovserve() -> None:
    """``pip install`` must give node code its ``import pyovms`` (pyproject's package discovery)."""
    import tomllib
    from setuptools import find_packages

    root = Path(__file__).resolve().parents[3]
    find = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = find_packages(str(root / find["where"][0]), include=find.get("include", ("*",)))
    assert "pyovms" in found and "ovserve.pipelines" in found


def test_the_tensor_exports_the_buffer_protocol_read_only() -> None:
    """memoryview / numpy.frombuffer / io.BytesIO read the tensor itself, as OVMS's pybind11 Tensor."""
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = Tensor("x", array)
    memory = memoryview(tensor)
    assert (memory.format, memory.shape, memory.strides, memory.readonly) == ("f", (2, 3), (12, 4), True)
    assert np.array_equal(np.frombuffer(tensor, dtype=np.float32), array.ravel())
    assert io.BytesIO(tensor).read() == array.tobytes()
    with pytest.raises((BufferError, TypeError), match=r"read-only|not writable"):
        (ctypes.c_char * array.nbytes).from_buffer(tensor)
    raw = Tensor._from_request("in", b"\x01\x00\x00\x00a", (1,), "BYTES")
    assert memoryview(raw).format == "B" and bytes(memoryview(raw)) == b"\x01\x00\x00\x00a"


def test_without_the_compiled_base_tensors_still_convert_by_bytes_and_numpy() -> None:
    """A build without a C compiler (the extension is optional) keeps bytes(t), np.array(t), t.data."""
    script = """
import sys
sys.modules["pyovms._buffer"] = None  # as if it was never built
import numpy as np
import pyovms._tensor as impl
from pyovms import Tensor
assert not impl.HAS_BUFFER_BASE
t = Tensor("x", np.arange(4, dtype=np.int32))
assert bytes(t) == np.arange(4, dtype=np.int32).tobytes()
assert np.array(t).tolist() == [0, 1, 2, 3] and t.data.format == "i" and t.datatype == "INT32"
print("fallback ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "fallback ok", done.stderr
