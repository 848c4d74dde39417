"""C custom nodes: OVMS's custom node libraries, loaded with ctypes and run as pipeline nodes.

A :class:`CustomNodeLibrary` is one ``custom_node_library_config_list`` entry: one
``dlopen`` of its shared library and its six functions (``custom_node_abi``). A
:class:`CustomNode` is one pipeline node using it: ``initialize`` with the node's
``params`` when it is built, ``getInputsInfo`` / ``getOutputsInfo`` once for its tensor
specs, ``execute`` on a thread of the node's own pool per run (concurrent runs share the node's state, as
in OVMS), ``deinitialize`` when it is closed and no run is left.

Every output is copied into numpy memory and handed back through the library's
``release`` (data, dims, then the outputs array) before ``run`` returns, on every path:
success, a bad output, or a cancelled request (the worker thread finishes the call and
releases what it got). A library's failure or broken output raises
:class:`~ovserve.errors.CustomNodeFailed` with OVMS's text and the output it concerns; a
library that cannot be used raises :class:`~ovserve.errors.CustomNodeLibraryInvalid`.
Libraries are never unloaded (``dlclose``), as in OVMS: a node may outlive its entry.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ovserve.config.pipelines import CustomNodeLibraryConfig
from ovserve.errors import CustomNodeFailed, CustomNodeLibraryInvalid, InvalidInput
from ovserve.pipelines.custom_node_abi import (
    DTYPE_PRECISIONS,
    INFO_P,
    PRECISION_DTYPES,
    TENSOR_P,
    CustomNodeTensor,
    ParamArray,
    bind,
    open_library,
    precision_name,
    read_dims,
)
from ovserve.pipelines.nodes import RunningCalls
from ovserve.tensors import Dim, TensorSpec, format_dims
from ovserve.tensors import precision_name as dtype_name
from ovserve.threads import started_pool

if TYPE_CHECKING:
    from ovserve.pipelines.nodes import Node

log = logging.getLogger(__name__)

#: threads of a node's own pool: how many ``execute`` calls of one node run at once
DEFAULT_WORKERS = 4

#: The most dimensions an output may have (numpy's limit on every supported version).
MAX_DIMS = 32


def include_dir() -> Path:
    """The directory of ``custom_node_interface.h``, the header custom node libraries compile against."""
    return Path(__file__).parent / "include"


class CustomNodeLibrary:
    """One loaded custom node library; its functions may be called from any thread."""

    def __init__(self, name: str, path: str, functions: Mapping[str, Callable[..., int]]) -> None:
        self.name = name
        self.path = path
        self.functions = functions

    @classmethod
    def load(cls, config: CustomNodeLibraryConfig) -> CustomNodeLibrary:
        """Open ``config.base_path`` (an absolute path) and bind its six functions. Blocking."""
        path = config.base_path
        where = f"library {config.name} ({path})"
        if not os.path.isabs(path):
            raise CustomNodeLibraryInvalid(
                f"Custom node library failed to open - {where}: not an absolute path"
            )
        if ".." in Path(path).parts:
            raise CustomNodeLibraryInvalid(f"Custom node library failed to open - {where}: '..' is forbidden")
        try:
            handle = open_library(path)
        except OSError as error:
            raise CustomNodeLibraryInvalid(f"Custom node library failed to open - {where}: {error}") from None
        try:
            functions = bind(handle)
        except KeyError as missing:
            raise CustomNodeLibraryInvalid(
                f"Custom node library failed to load symbol - {where} does not export {missing.args[0]}"
            ) from None
        log.info("loaded custom node library %s from %s", config.name, path)
        return cls(config.name, path, functions)


class CustomNode:
    """A pipeline node run by a custom node library (the executor's :class:`~.nodes.Node`).

    Building it calls the library's ``initialize`` and metadata functions (blocking: build
    it off the event loop). ``run`` may be called concurrently; ``close`` once. ``execute``
    runs on ``executor``; None: on the node's own pool of ``workers`` threads (as a Python
    node's), so a library that blocks holds up only its own node, never the event loop's
    shared pool (model loads, response compression).
    """

    def __init__(
        self,
        library: CustomNodeLibrary,
        node_name: str,
        params: Mapping[str, str],
        executor: Executor | None = None,
        *,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"custom node {node_name!r}: workers must be at least 1")
        self.library = library
        self.node_name = node_name
        self._fn = library.functions
        self._params = ParamArray(params)
        self._calls = RunningCalls(
            self._finish, lambda: CustomNodeFailed(f"Custom {self._where()} is closed")
        )
        self._state = self._initialize()
        try:
            self._inputs = self._metadata("getInputsInfo")
            self._outputs = self._metadata("getOutputsInfo")
        except BaseException:
            self._deinitialize()
            raise
        self._own_pool: ThreadPoolExecutor | None = None
        if executor is None:
            executor = self._own_pool = started_pool(workers, f"cnode-{node_name}")
        self._executor = executor

    @property
    def inputs(self) -> Mapping[str, TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Mapping[str, TensorSpec]:
        return self._outputs

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``execute`` on a worker thread; every output, as numpy arrays the node owns."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._execute, dict(inputs))

    def close(self) -> None:
        """``deinitialize`` now, or when the last run still going ends; later runs are refused."""
        self._calls.close()

    # -- the library's calls ---------------------------------------------------------------

    def _where(self) -> str:
        return f"node {self.node_name} (library {self.library.name})"

    def _initialize(self) -> Any:
        state = ctypes.c_void_p()
        code = self._fn["initialize"](ctypes.byref(state), self._params.pointer, self._params.count)
        if code != 0:
            raise CustomNodeLibraryInvalid(
                f"Failure during custom node library initialization - {self._where()}: initialize returned {code}"
            )
        return state

    def _finish(self) -> None:
        """After the last run: ``deinitialize``, then let the node's own threads end."""
        try:
            self._deinitialize()
        finally:
            if self._own_pool is not None:
                self._own_pool.shutdown(wait=False)

    def _deinitialize(self) -> None:
        code = self._fn["deinitialize"](self._state)
        if code != 0:
            log.error("custom %s: deinitialize returned %d", self._where(), code)

    def _release(self, address: int | None) -> None:
        if address:
            self._fn["release"](address, self._state)

    def _metadata(self, symbol: str) -> dict[str, TensorSpec]:
        """The tensor specs ``symbol`` (getInputsInfo / getOutputsInfo) describes; releases its arrays."""
        info = INFO_P()
        count = ctypes.c_int(0)
        code = self._fn[symbol](
            ctypes.byref(info), ctypes.byref(count), self._params.pointer, self._params.count, self._state
        )
        problem = f"Custom node failed on metadata call - {self._where()}: {symbol}"
        if code != 0:
            raise CustomNodeLibraryInvalid(f"{problem} returned {code}")
        address = ctypes.cast(info, ctypes.c_void_p).value
        if not address:
            raise CustomNodeLibraryInvalid(f"{problem} gave no array")
        if count.value <= 0:
            self._release(address)
            raise CustomNodeLibraryInvalid(f"{problem} gave {count.value} tensors")
        specs: dict[str, TensorSpec] = {}
        errors: list[str] = []
        for item in info[: count.value]:
            if item.name is None:  # skipped, as OVMS does
                continue
            name = item.name.decode(errors="replace")
            dtype = PRECISION_DTYPES.get(item.precision)
            if dtype is None:
                errors.append(f"{problem} gave {name} the precision {precision_name(item.precision)}")
            elif item.dimsCount > MAX_DIMS or (item.dimsCount and not item.dims):
                errors.append(f"{problem} gave {name} {item.dimsCount} dimensions at {item.dims}")
            else:
                dims = tuple(Dim.static(d) if d else Dim.any() for d in read_dims(item.dims, item.dimsCount))
                specs.setdefault(name, TensorSpec(name, dtype, dims))
            self._release(item.dims)
        self._release(address)
        if errors:
            raise CustomNodeLibraryInvalid("; ".join(errors))
        return specs

    # -- one run, on a worker thread --------------------------------------------------------

    def _execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._calls.enter()
        try:
            return self._call_execute(inputs)
        finally:
            self._calls.leave()

    def _call_execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tensors, keep = _input_tensors(inputs)
        outputs = TENSOR_P()
        count = ctypes.c_int(0)
        code = self._fn["execute"](
            tensors,
            len(inputs),
            ctypes.byref(outputs),
            ctypes.byref(count),
            self._params.pointer,
            self._params.count,
            self._state,
        )
        del keep  # the inputs' memory had to outlive the call, no longer
        if code != 0:  # the library frees what it allocated (OVMS's contract)
            raise CustomNodeFailed(f"Custom node failed during execution: execute returned {code}")
        address = ctypes.cast(outputs, ctypes.c_void_p).value
        if not address:
            raise CustomNodeFailed("Custom node library has returned corrupted outputs handle")
        try:
            if count.value <= 0:
                raise CustomNodeFailed(
                    f"Custom node library has produced corrupted number of outputs: {count.value}"
                )
            results = self._take_outputs(outputs, count.value)
        finally:
            self._release(address)
        missing = [name for name in self._outputs if name not in results]
        if missing:
            raise CustomNodeFailed(f"Custom node output is missing - {', '.join(missing)}")
        return {name: results[name] for name in self._outputs}

    def _take_outputs(self, outputs: Any, count: int) -> dict[str, np.ndarray]:
        """Copy every output, releasing each one's data and dims; raises naming every bad output."""
        results: dict[str, np.ndarray] = {}
        errors: list[str] = []
        for tensor in outputs[:count]:
            try:
                name, array = self._copy_output(tensor)
                results.setdefault(name, array)
            except CustomNodeFailed as error:
                errors.append(error.message)
            finally:
                self._release(tensor.data)
                self._release(tensor.dims)
        if errors:
            raise CustomNodeFailed("; ".join(errors))
        return results

    def _copy_output(self, tensor: CustomNodeTensor) -> tuple[str, np.ndarray]:
        if tensor.name is None:
            raise CustomNodeFailed("Custom node output is missing name")
        name = tensor.name.decode(errors="replace")
        dtype = PRECISION_DTYPES.get(tensor.precision)
        if dtype is None:
            raise CustomNodeFailed(
                "Custom node has produced tensor with unspecified precision - "
                f"output {name}: {precision_name(tensor.precision)}"
            )
        if tensor.dimsCount > MAX_DIMS or (tensor.dimsCount and not tensor.dims):
            raise CustomNodeFailed(
                f"Custom node has produced tensor with not matching shape - output {name}: "
                f"{tensor.dimsCount} dimensions{'' if tensor.dims else ' and no dims array'}"
            )
        shape = read_dims(tensor.dims, tensor.dimsCount)
        size = math.prod(shape) * dtype.itemsize
        if tensor.dataBytes != size or (size and not tensor.data):
            got = f"{tensor.dataBytes} bytes" if tensor.data else "no data"
            raise CustomNodeFailed(
                f"Custom node output has invalid content size - output {name}: {got}, "
                f"but shape {format_dims(shape)} of {dtype_name(dtype)} needs {size}"
            )
        spec = self._outputs.get(name)
        if spec is not None:
            _check_declared(spec, shape, dtype)
        array = np.empty(shape, dtype)
        if size:
            ctypes.memmove(array.ctypes.data, tensor.data, size)
        return name, array


def _check_declared(spec: TensorSpec, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """An output must be what getOutputsInfo declared: precision, dimension count, static sizes."""
    fits = len(shape) == len(spec.dims) and all(d.accepts(n) for d, n in zip(spec.dims, shape, strict=False))
    if not fits:
        raise CustomNodeFailed(
            f"Custom node has produced tensor with not matching shape - output {spec.name}: "
            f"{format_dims(shape)}, but getOutputsInfo declares {format_dims(spec.dims)}"
        )
    if dtype != spec.dtype:
        raise CustomNodeFailed(
            f"Custom node has produced tensor with not matching precision - output {spec.name}: "
            f"{dtype_name(dtype)}, but getOutputsInfo declares {dtype_name(spec.dtype)}"
        )


def _input_tensors(inputs: Mapping[str, np.ndarray]) -> tuple[Any, list[object]]:
    """``struct CustomNodeTensor[]`` over the inputs' memory, and the objects that must outlive the call."""
    if not inputs:
        return None, []
    array = (CustomNodeTensor * len(inputs))()
    keep: list[object] = [array]
    for slot, (name, value) in zip(array, inputs.items(), strict=True):
        precision = DTYPE_PRECISIONS.get(value.dtype.newbyteorder("="))
        if precision is None:
            raise InvalidInput(f"Input {name} is {dtype_name(value.dtype)}, which custom nodes cannot take")
        data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("="))
        dims = (ctypes.c_uint64 * data.ndim)(*data.shape)
        encoded = name.encode()
        slot.name = encoded
        slot.data = data.ctypes.data
        slot.dataBytes = data.nbytes
        slot.dims = ctypes.addressof(dims) if data.ndim else None
        slot.dimsCount = data.ndim
        slot.precision = precision
        keep.extend((data, dims, encoded))
    return array, keep


if TYPE_CHECKING:

    def _is_a_node(node: CustomNode) -> Node:  # mypy checks that CustomNode implements Node
        return node
