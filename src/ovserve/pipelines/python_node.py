"""Python nodes: OVMS's ``OvmsPythonModel`` contract as a pipeline :class:`~.nodes.Node`.

A node loads its handler file once (:mod:`.python_handler`: ``initialize(kwargs)`` as
OVMS calls it) and keeps one ``OvmsPythonModel`` instance, shared by every request, as
OVMS shares it between graph instances. ``execute(inputs)`` gets a list of
``pyovms.Tensor`` and returns a list of them, or is a generator yielding such lists (a
streaming node). Concurrent requests call ``execute`` concurrently on the same instance,
as OVMS's graph threads do, on the node's own thread pool: user code never runs on the
event loop, nor on a thread other work needs. :meth:`PythonNode.close` refuses new calls,
lets running ones (and open generators) finish, then calls ``finalize`` once.

Two levels: :meth:`execute` / :meth:`execute_stream` take and give ``pyovms.Tensor`` lists
(MediaPipe graphs: incomplete inputs and outputs allowed, as OVMS); :meth:`run` /
:meth:`run_stream` are the :class:`~.nodes.Node` contract over numpy arrays (DAGs: every
declared output required). Failures raise :class:`~ovserve.errors.PythonNodeFailed`
naming the node and what went wrong (OVMS's texts where it has them).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ovserve.config.pipelines import NodeConfig
from ovserve.errors import PythonNodeFailed, PythonNodeLoadFailed
from ovserve.pipelines.nodes import UNKNOWN_DTYPE, RunningCalls
from ovserve.pipelines.pytensors import array_from_tensor, tensor_from_array
from ovserve.pipelines.python_handler import Handler, forget_module, load_model, resolve_handler
from ovserve.tensors import TensorSpec
from ovserve.threads import started_pool
from pyovms import Tensor

log = logging.getLogger(__name__)

#: threads per node: how many ``execute`` calls (and generator steps) run at once
DEFAULT_WORKERS = 4

T = TypeVar("T")
Convert = Callable[[list[Tensor]], T]
_END = object()  # a generator's end, as a step's result


def _type_name(obj: object) -> str:
    return type(obj).__name__


class PythonNode:
    """One Python node: a handler's ``OvmsPythonModel``, loaded and initialized on construction.

    The constructor blocks while the handler imports and initializes (on the node's own
    thread): call it off the event loop. ``input_names`` are in the order ``execute`` gets
    its inputs (OVMS: the node's input streams sorted by tag; a DAG node: as configured).
    Raises :class:`~ovserve.errors.PythonNodeLoadFailed` when the node cannot be made.
    """

    def __init__(
        self,
        node_name: str,
        handler_path: str,
        input_names: Sequence[str],
        output_names: Sequence[str],
        *,
        base_dir: str | Path | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"Python node {node_name!r}: workers must be at least 1")
        self.name = node_name
        self._handler = resolve_handler(node_name, handler_path, input_names, output_names, base_dir)
        self._inputs = {n: TensorSpec(n, UNKNOWN_DTYPE, ()) for n in input_names}
        self._outputs = {n: TensorSpec(n, UNKNOWN_DTYPE, ()) for n in output_names}
        self._calls = RunningCalls(
            self._finish, lambda: PythonNodeFailed(f"Python node {node_name!r} is closed")
        )
        self.finalized = threading.Event()
        self._pool = started_pool(workers, f"pynode-{node_name}")
        try:
            self._model, self._module = self._pool.submit(load_model, self._handler).result()
        except BaseException:
            self._pool.shutdown(wait=False)
            raise

    @classmethod
    def from_config(cls, node: NodeConfig, base_dir: str | Path | None = None) -> PythonNode:
        """A DAG's ``python`` node: inputs in the configured order, outputs by their ``data_item``."""
        if node.handler_path is None:
            raise PythonNodeLoadFailed(
                f"The Python Node is missing options definition - node {node.name!r}: no handler_path"
            )
        outputs = [o.data_item for o in node.outputs]
        return cls(node.name, node.handler_path, list(node.inputs), outputs, base_dir=base_dir)

    @classmethod
    def from_handler(cls, handler: Handler, workers: int = DEFAULT_WORKERS) -> PythonNode:
        """The node of a resolved handler (a graph's ``PythonExecutorCalculator``)."""
        return cls(
            handler.node_name, str(handler.path), handler.input_names, handler.output_names, workers=workers
        )

    @property
    def inputs(self) -> Mapping[str, TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Mapping[str, TensorSpec]:
        return self._outputs

    @property
    def handler_path(self) -> Path:
        return self._handler.path

    @property
    def model(self) -> object:
        """The node's ``OvmsPythonModel`` instance (shared by every request)."""
        return self._model

    # -- the Node contract (numpy) ---------------------------------------------------------

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``execute`` once on ``inputs``; every declared output is required."""
        return await self._unary(self._input_tensors(inputs), self._output_arrays)

    def run_stream(self, inputs: Mapping[str, np.ndarray]) -> AsyncIterator[dict[str, np.ndarray]]:
        """Each set of outputs ``execute`` yields (once when it returns a list)."""
        return self._stream(self._input_tensors(inputs), self._output_arrays)

    # -- pyovms.Tensor level (graphs) ----------------------------------------------------------

    async def execute(self, inputs: Sequence[Tensor]) -> list[Tensor]:
        """``execute`` once; its outputs as returned (a subset of the outputs is allowed)."""
        return await self._unary(list(inputs), list)

    def execute_stream(self, inputs: Sequence[Tensor]) -> AsyncGenerator[list[Tensor], None]:
        """Each list of outputs ``execute`` yields, or the one it returns."""
        return self._stream(list(inputs), list)

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Refuse new calls; ``finalize`` runs once the running ones end (:attr:`finalized` is set)."""
        self._calls.close()

    def _finish(self) -> None:
        self._pool.submit(self._finalize)
        self._pool.shutdown(wait=False)

    def _finalize(self) -> None:
        try:
            finalize = getattr(self._model, "finalize", None)
            if finalize is not None:
                finalize()
        except BaseException as exc:  # OVMS logs it and goes on unloading
            log.error("Python node %r: finalize raised %s: %s", self.name, _type_name(exc), exc)
        finally:
            forget_module(self._module)
            self.finalized.set()

    # -- running user code on the node's threads ----------------------------------------------

    def _spawn(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """``fn(*args)`` on the node's pool, in the caller's context (the request id follows into
        the worker's log lines)."""
        return self._pool.submit(contextvars.copy_context().run, fn, *args)

    def _submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """``fn(*args)`` on the node's pool; the call counts as running until it returns."""
        self._calls.enter()
        future = self._spawn(fn, *args)
        future.add_done_callback(self._calls.leave)
        return asyncio.wrap_future(future)

    def _fail(self, what: str, exc: BaseException | None = None) -> PythonNodeFailed:
        """The error of a failed call, logged as OVMS logs it (the text at INFO, the user's
        traceback at DEBUG: requests with bad data must not flood the log)."""
        message = f"Python node {self.name!r}: {what}"
        log.info("%s", message)
        if exc is not None:
            log.debug("%s", message, exc_info=exc)
        return PythonNodeFailed(message)

    def _call_execute(self, inputs: list[Tensor]) -> object:
        try:
            return self._model.execute(inputs)  # type: ignore[attr-defined]
        except BaseException as exc:
            raise self._fail(f"execute raised {_type_name(exc)}: {exc}", exc) from exc

    def _checked(self, result: object) -> list[Tensor]:
        """``result`` as a list of this node's output tensors (OVMS's checks and texts)."""
        if not isinstance(result, list):
            raise self._fail(f"Unexpected Python object type. Expected: list. Received: {_type_name(result)}")
        seen: set[str] = set()
        for item in result:
            if not isinstance(item, Tensor):
                raise self._fail(
                    "Wrong object on execute output: Unexpected Python object type. "
                    f"Expected: Tensor. Received: {_type_name(item)}"
                )
            if item.name not in self._outputs:
                raise self._fail(
                    f"Unexpected Tensor found in the outputs. Tensor name: {item.name} is not a valid node "
                    f"output (outputs: {', '.join(self._outputs) or 'none'})"
                )
            if item.name in seen:
                raise self._fail(f"execute returned output {item.name!r} more than once")
            seen.add(item.name)
        return result

    def _once(self, inputs: list[Tensor], convert: Convert[T]) -> T:
        result = self._call_execute(inputs)
        if isinstance(result, Iterator) and not isinstance(result, list):
            _close_quietly(result)
            raise self._fail(
                "execute yielded (a generator), which only a streaming request can take "
                "(KServe ModelStreamInfer); a unary request needs execute to return a list of Tensors"
            )
        if not isinstance(result, list):
            raise self._unexpected(result)
        return convert(self._checked(result))

    async def _unary(self, inputs: list[Tensor], convert: Convert[T]) -> T:
        return await self._submit(self._once, inputs, convert)

    def _start(self, inputs: list[Tensor], convert: Convert[T]) -> tuple[T | None, Iterator[object] | None]:
        """``execute``: its converted outputs when it returns a list, else its generator."""
        result = self._call_execute(inputs)
        if isinstance(result, list):
            return convert(self._checked(result)), None
        if isinstance(result, Iterator):
            return None, result
        raise self._unexpected(result)

    def _unexpected(self, result: object) -> PythonNodeFailed:
        """The error for what ``execute`` gave instead of a list or a generator (OVMS's text)."""
        if inspect.iscoroutine(result):  # an ``async def execute``: OVMS does not await it either
            result.close()
        return self._fail(
            f"Unexpected Python object type. Expected: list or generator. Received: {_type_name(result)}"
        )

    def _step(self, generator: Iterator[object], convert: Convert[T]) -> object:
        try:
            item = next(generator)
        except StopIteration:
            return _END
        except BaseException as exc:
            raise self._fail(f"execute raised {_type_name(exc)}: {exc}", exc) from exc
        return convert(self._checked(item))

    async def _stream(self, inputs: list[Tensor], convert: Convert[T]) -> AsyncGenerator[T, None]:
        """The outputs of one streaming call. The stream counts as running until its generator is
        closed (finalize waits for it); every step runs after the previous one ended."""
        self._calls.enter()
        generator: Iterator[object] | None = None
        step: Future[Any] | None = None
        try:
            step = self._spawn(self._start, inputs, convert)
            first, generator = await asyncio.wrap_future(step)
            if generator is None:
                yield first  # type: ignore[misc]
                return
            while True:
                step = self._spawn(self._step, generator, convert)
                item = await asyncio.wrap_future(step)
                if item is _END:
                    return
                yield item
        finally:
            self._end_stream(generator, step)

    def _end_stream(self, generator: Iterator[object] | None, step: Future[Any] | None) -> None:
        """Once the last step has ended (a cancelled request does not stop a running one), close
        the generator on the node's thread (its ``finally`` runs), then count the stream done."""

        def close(_: object = None) -> None:
            started = generator
            if started is None and step is not None and not step.cancelled() and step.exception() is None:
                started = step.result()[1]  # execute ran, but the request was gone before its answer
            if started is None:
                self._calls.leave()
            else:
                self._spawn(_close_quietly, started).add_done_callback(self._calls.leave)

        if step is not None and not step.done():
            step.add_done_callback(close)
        else:
            close()

    # -- conversions for the numpy contract ----------------------------------------------------

    def _input_tensors(self, inputs: Mapping[str, np.ndarray]) -> list[Tensor]:
        unknown = [n for n in inputs if n not in self._inputs]
        if unknown:
            raise PythonNodeFailed(
                f"Python node {self.name!r} has no input {unknown[0]!r} (inputs: {', '.join(self._inputs)})"
            )
        try:
            return [tensor_from_array(n, inputs[n]) for n in self._inputs if n in inputs]
        except ValueError as exc:
            raise PythonNodeFailed(f"Python node {self.name!r}: {exc}") from exc

    def _output_arrays(self, outputs: list[Tensor]) -> dict[str, np.ndarray]:
        given = {t.name: t for t in outputs}
        missing = [n for n in self._outputs if n not in given]
        if missing:
            raise self._fail(
                f"execute returned no output {missing[0]!r} (it returned: {', '.join(given) or 'nothing'}); "
                "every output of the node is required"
            )
        try:
            return {n: array_from_tensor(given[n]) for n in self._outputs}
        except ValueError as exc:
            raise self._fail(str(exc)) from exc


def _close_quietly(generator: Iterator[object]) -> None:
    """Close a user's generator (its ``finally`` runs); what its cleanup raises is logged."""
    close = getattr(generator, "close", None)
    if close is None:
        return
    try:
        close()
    except BaseException as exc:
        log.error("closing a Python node's generator raised %s: %s", _type_name(exc), exc)
