"""The C interface of custom node libraries, in ctypes (``include/custom_node_interface.h``).

The structures, the precision values and the six function signatures OVMS documents for
its DAG custom nodes, so libraries built for OVMS load unchanged. Nothing here calls a
library; :mod:`ovserve.pipelines.custom_node` does.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: The precision enum: value -> numpy dtype (0, UNSPECIFIED, has none).
PRECISION_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32),  # FP32
    2: np.dtype(np.float16),  # FP16
    3: np.dtype(np.uint8),  # U8
    4: np.dtype(np.int8),  # I8
    5: np.dtype(np.int16),  # I16
    6: np.dtype(np.uint16),  # U16
    7: np.dtype(np.int32),  # I32
    8: np.dtype(np.float64),  # FP64
    9: np.dtype(np.int64),  # I64
}
#: numpy dtype -> precision value, for the inputs handed to ``execute``.
DTYPE_PRECISIONS: dict[np.dtype, int] = {dtype: value for value, dtype in PRECISION_DTYPES.items()}
#: The precision names, for messages.
PRECISION_NAMES = ("UNSPECIFIED", "FP32", "FP16", "U8", "I8", "I16", "U16", "I32", "FP64", "I64")


def precision_name(value: int) -> str:
    return PRECISION_NAMES[value] if 0 <= value < len(PRECISION_NAMES) else f"unknown precision {value}"


class CustomNodeTensor(ctypes.Structure):
    """``struct CustomNodeTensor``; pointers kept as addresses (``c_void_p``) to hand back to ``release``."""

    _fields_ = (
        ("name", ctypes.c_char_p),
        ("data", ctypes.c_void_p),
        ("dataBytes", ctypes.c_uint64),
        ("dims", ctypes.c_void_p),
        ("dimsCount", ctypes.c_uint64),
        ("precision", ctypes.c_int),  # a C enum: int-sized on every ABI ovserve runs on
    )


class CustomNodeTensorInfo(ctypes.Structure):
    """``struct CustomNodeTensorInfo``."""

    _fields_ = (
        ("name", ctypes.c_char_p),
        ("dims", ctypes.c_void_p),
        ("dimsCount", ctypes.c_uint64),
        ("precision", ctypes.c_int),
    )


class CustomNodeParam(ctypes.Structure):
    """``struct CustomNodeParam``."""

    _fields_ = (("key", ctypes.c_char_p), ("value", ctypes.c_char_p))


_int = ctypes.c_int
_ptr = ctypes.c_void_p
TENSOR_P = ctypes.POINTER(CustomNodeTensor)
INFO_P = ctypes.POINTER(CustomNodeTensorInfo)
PARAM_P = ctypes.POINTER(CustomNodeParam)

#: symbol -> (restype, argtypes), in the order OVMS resolves them.
SIGNATURES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "initialize": (_int, (ctypes.POINTER(_ptr), PARAM_P, _int)),
    "deinitialize": (_int, (_ptr,)),
    "execute": (
        _int,
        (TENSOR_P, _int, ctypes.POINTER(TENSOR_P), ctypes.POINTER(_int), PARAM_P, _int, _ptr),
    ),
    "getInputsInfo": (_int, (ctypes.POINTER(INFO_P), ctypes.POINTER(_int), PARAM_P, _int, _ptr)),
    "getOutputsInfo": (_int, (ctypes.POINTER(INFO_P), ctypes.POINTER(_int), PARAM_P, _int, _ptr)),
    "release": (_int, (_ptr, _ptr)),
}


def open_library(path: str) -> ctypes.CDLL:
    """``dlopen(path, RTLD_LAZY | RTLD_LOCAL)``, as OVMS opens custom node libraries.

    ctypes alone always adds RTLD_NOW, which refuses a library with an unresolved symbol that
    OVMS (binding lazily) loads; libc's own ``dlopen`` is called instead and ctypes wraps the
    handle. Raises OSError with ``dlerror``'s text.
    """
    process = ctypes.CDLL(None)
    dlopen, dlerror = process.dlopen, process.dlerror
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, (ctypes.c_char_p, ctypes.c_int)
    dlerror.restype, dlerror.argtypes = ctypes.c_char_p, ()
    handle = dlopen(path.encode(), os.RTLD_LAZY | os.RTLD_LOCAL)
    if not handle:
        reason = dlerror()
        raise OSError(reason.decode(errors="replace") if reason else f"dlopen failed for {path}")
    return ctypes.CDLL(path, handle=handle)


def bind(library: ctypes.CDLL) -> dict[str, Callable[..., int]]:
    """The six functions of ``library`` with their signatures; KeyError names the first one missing."""
    functions: dict[str, Callable[..., int]] = {}
    for symbol, (restype, argtypes) in SIGNATURES.items():
        try:
            function = getattr(library, symbol)
        except AttributeError:
            raise KeyError(symbol) from None
        function.restype = restype
        function.argtypes = argtypes
        functions[symbol] = function
    return functions


class ParamArray:
    """A node's parameters as ``struct CustomNodeParam[]``; owns the strings while it lives."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._strings = [(key.encode(), value.encode()) for key, value in params.items()]
        self.count = len(self._strings)
        array = (CustomNodeParam * self.count)(*(CustomNodeParam(k, v) for k, v in self._strings))
        # OVMS passes NULL for a node without parameters
        self.pointer: Any = ctypes.cast(array, PARAM_P) if self.count else None
        self._array = array


def read_dims(address: int | None, count: int) -> tuple[int, ...]:
    """``count`` uint64 values at ``address`` (a library's dims array)."""
    if count == 0:
        return ()
    assert address is not None
    return tuple((ctypes.c_uint64 * count).from_address(address))
