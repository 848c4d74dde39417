"""The one request path that every front end's inference call goes through.

A front end supplies how to decode its payload into named numpy inputs (given the
resolved servable, whose specs some codecs need) and how to encode the outputs. The
version is pinned for the whole call.

Strings sent to image or 2-D U8 inputs become the tensors those inputs take, and 2-D U8
``..._string`` outputs become strings, here too (:mod:`ovserve.preprocess`); images are
decoded on a worker thread, off the event loop.

Metrics are counted here and nowhere else in the front ends: :func:`infer` for
inferences, :func:`pinned` and :func:`counted` for metadata, status and readiness calls.
Each takes the :class:`~ovserve.metrics.calls.CallInfo` that labels the front end's
method. With metrics disabled (``ctx.metrics is None``) nothing is measured.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from time import perf_counter_ns
from typing import TypeVar

import numpy as np

from ovserve.api.backend_timing import BACKEND_TIMING
from ovserve.api.context import ServingContext
from ovserve.core.manager import Handle
from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, ModelNotFound, ServingError
from ovserve.metrics.calls import CallInfo
from ovserve.metrics.graphs import GRAPH_CALL, graph_call_index
from ovserve.preprocess import BYTES_CONTENTS_EMPTY, STRING_VAL_EMPTY, StringConversion, conversion_for
from ovserve.tensors import InferRequest, InferResponse

R = TypeVar("R")


async def infer(
    ctx: ServingContext,
    call: CallInfo,
    name: str,
    version: int | None,
    decode: Callable[[Servable], InferRequest],
    encode: Callable[[Servable, InferRequest, InferResponse], R],
) -> R:
    """Resolve ``name``/``version``, decode, validate and run, encode; count it as ``call``."""
    metrics = ctx.metrics
    GRAPH_CALL.set(graph_call_index(call.interface, call.method) if call.api == "KServe" else 0)
    if metrics is None:
        with _acquire(ctx, call, name, version) as servable:
            return await _run(ctx, servable, call, decode, encode)
    start = perf_counter_ns()
    try:
        handle = _acquire(ctx, call, name, version)
    except ServingError:
        metrics.count(call, name, version, ok=False)
        raise
    with handle as servable:
        series = metrics.version(servable.id)
        series.current += 1
        try:
            result = await _run(ctx, servable, call, decode, encode)
        except BaseException:
            series.fail[call.index] += 1
            raise
        finally:
            series.current -= 1
        series.success[call.index] += 1
        series.request_time[call.interface_index].observe((perf_counter_ns() - start) // 1000)
        return result


async def _run(
    ctx: ServingContext,
    servable: Servable,
    call: CallInfo,
    decode: Callable[[Servable], InferRequest],
    encode: Callable[[Servable, InferRequest, InferResponse], R],
) -> R:
    """Decode, run (with the servable's string conversions, if any) and encode one call;
    its stages are timed into ``ctx.stats`` (Triton's statistics extension) and, with tracing
    on, made spans of (``api/tracing.py``)."""
    slot = [-1, -1]  # the backend's wait / run nanoseconds (api/backend_timing.py)
    BACKEND_TIMING.set(slot)
    start = perf_counter_ns()
    try:
        request = decode(servable)
        decoded = perf_counter_ns()
        conversion = conversion_for(servable)
        if conversion is None:
            outputs = await servable.infer(request.inputs)
        else:
            outputs = await _converted(conversion, servable, request, call)
        inferred = perf_counter_ns()
        result = encode(
            servable, request, InferResponse(servable.name, servable.version, outputs, request.id)
        )
    except BaseException as exc:
        ctx.stats.of(servable.id).record_failure(start, perf_counter_ns())
        if ctx.tracer is not None:
            ctx.tracer.failed(servable, call, start, exc)
        raise
    encoded = perf_counter_ns()
    ctx.stats.of(servable.id).record(start, decoded, inferred, encoded, slot[0])
    if ctx.tracer is not None:
        ctx.tracer.succeeded(servable, call, (start, decoded, inferred, encoded), slot)
    return result


async def _converted(
    conversion: StringConversion, servable: Servable, request: InferRequest, call: CallInfo
) -> dict[str, np.ndarray]:
    """Infer with the servable's string conversions (:mod:`ovserve.preprocess`) around it."""
    empty_item = STRING_VAL_EMPTY if call.api == "TensorFlowServing" else BYTES_CONTENTS_EMPTY
    if conversion.decodes_images(request.inputs):
        inputs = await asyncio.to_thread(conversion.convert_inputs, request.inputs, empty_item)
    else:
        inputs = conversion.convert_inputs(request.inputs, empty_item)
    return conversion.convert_outputs(await servable.infer(inputs))


async def infer_stream(
    ctx: ServingContext,
    call: CallInfo,
    name: str,
    version: int | None,
    decode: Callable[[Servable], InferRequest],
    encode: Callable[[Servable, InferRequest, InferResponse], R],
) -> AsyncIterator[R]:
    """:func:`infer` for a streaming call: a servable that :attr:`~Servable.streams_answers` may answer
    several times (each answer encoded as it comes); any other answers once, as :func:`infer`."""
    with _acquire(ctx, call, name, version) as servable:
        streams = servable.streams_answers
    if not streams:
        yield await infer(ctx, call, name, version, decode, encode)
        return
    GRAPH_CALL.set(graph_call_index(call.interface, "ModelInferStream"))
    with _acquire(ctx, call, name, version) as servable:  # counted by the graph (metrics/graphs.py)
        request = decode(servable)
        async for answer in servable.infer_stream(request.inputs):
            response = InferResponse(servable.name, servable.version, answer.outputs, request.id)
            response.parameters = answer.parameters
            yield encode(servable, request, response)


@contextmanager
def pinned(ctx: ServingContext, call: CallInfo, name: str, version: int | None) -> Iterator[Servable]:
    """``ctx.manager.acquire`` for calls that are not inferences, counted as ``call``.

    Use as ``with pinned(ctx, call, name, version) as servable:``; an exception leaving the
    block counts a failure on the resolved version (or on the name for unversioned calls).
    """
    metrics = ctx.metrics
    if metrics is None:
        with _acquire(ctx, call, name, version) as servable:
            yield servable
        return
    try:
        handle = _acquire(ctx, call, name, version)
    except ServingError:
        metrics.count(call, name, version, ok=False)
        raise
    with handle as servable:
        try:
            yield servable
        except BaseException:
            metrics.count(call, name, servable.version, ok=False)
            raise
        metrics.count(call, name, servable.version, ok=True)


@contextmanager
def counted(ctx: ServingContext, call: CallInfo, name: str, version: int | None = None) -> Iterator[None]:
    """Count the block as one ``call`` on ``name``: failed if an exception leaves it."""
    metrics = ctx.metrics
    if metrics is None:
        yield
        return
    try:
        yield
    except BaseException:
        metrics.count(call, name, version, ok=False)
        raise
    metrics.count(call, name, version, ok=True)


def _acquire(ctx: ServingContext, call: CallInfo, name: str, version: int | None) -> Handle:
    """``ctx.manager.acquire`` for ``call``: a servable not served on ``call``'s API (a MediaPipe
    graph on TensorFlow Serving, as OVMS) is not found there."""
    handle = ctx.manager.acquire(name, version)
    if call.api not in handle.servable.apis:
        handle.release()
        raise ModelNotFound(name)
    return handle


def served_on(ctx: ServingContext, api: str, name: str) -> None:
    """Raise ModelNotFound when the servable ``name`` is not served on ``api`` (status calls, which
    read the version table without pinning); a name with nothing to pin is left to the caller."""
    try:
        handle = ctx.manager.acquire(name, None)
    except ServingError:
        return
    with handle as servable:
        if api not in servable.apis:
            raise ModelNotFound(name)


def parse_version(text: str | None) -> int | None:
    """A version from a URL or request field: digits only; empty or 0 means "newest"."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"invalid model version format in request: {text!r}")
    return int(text) or None
