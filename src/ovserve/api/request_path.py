"""The one request path that every front end's inference call goes through.

It resolves the name and version, pins the version for the whole call, calls the servable
and counts: a front end supplies how to decode its payload into named numpy inputs (given
the resolved servable, whose specs some codecs need) and how to encode the outputs. What a
model does to a request besides running it (string and image conversion, dynamic batching,
sequences) is a wrapper servable installed at load time, so every kind of servable
(a model, a pipeline) takes this one path.

Metrics are counted here and nowhere else in the front ends: :func:`infer` for
inferences, :func:`pinned` and :func:`counted` for metadata, status and readiness calls.
Each takes the :class:`~ovserve.metrics.calls.CallInfo` that labels the front end's
method. With metrics disabled (``ctx.metrics is None``) nothing is measured. The stages of
an inference (decode, run, encode) are timed into ``ctx.stats`` and, with tracing on, made
spans of.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from contextlib import aclosing, contextmanager
from dataclasses import replace
from time import perf_counter_ns
from typing import TypeVar

from ovserve.api.backend_timing import BACKEND_TIMING
from ovserve.api.context import ServingContext
from ovserve.core.manager import Handle
from ovserve.core.servable import NO_PARAMETERS, REQUEST_PARAMETERS, Servable
from ovserve.errors import InvalidInput, ModelNotFound, NotLoadedYet, Retired, ServingError
from ovserve.metrics.calls import CallInfo
from ovserve.metrics.graphs import GRAPH_CALL, graph_call_index
from ovserve.tensors import InferRequest, InferResponse

R = TypeVar("R")
#: How a front end words the domain errors whose text differs per API (e.g. TF Serving's
#: ``errors.EmptyBinaryItem``); applied before the failure is traced and raised.
Wording = Callable[[ServingError], ServingError]
#: The error a call answers for a name nothing is served under, given the name: KServe's inference
#: calls answer OVMS's graph lookup (``errors.GraphNotFound``), the others ModelNotFound.
Unknown = Callable[[str], ServingError]


async def infer(
    ctx: ServingContext,
    call: CallInfo,
    name: str,
    version: int | None,
    decode: Callable[[Servable], InferRequest],
    encode: Callable[[Servable, InferRequest, InferResponse], R],
    wording: Wording | None = None,
    unknown: Unknown | None = None,
) -> R:
    """Resolve ``name``/``version`` and pin it, decode, validate and run, encode; count it as ``call``
    in the version's series (metrics on); time its stages into ``ctx.stats`` (Triton's statistics)
    and, with tracing on, make spans of them. ``wording`` rewords the call's errors in the front
    end's API (none: as raised); ``unknown`` is the error of a name nothing is served under (none:
    ModelNotFound). One coroutine: a model that runs inline answers without awaiting anything
    (:meth:`~ovserve.core.servable.Servable.infer_now`)."""
    if GRAPH_CALL.get() != call.graph_index:  # which KServe call runs a graph (its series are per call)
        GRAPH_CALL.set(call.graph_index)  # (set only when it changes: a set costs a token and a copy)
    handle = _acquire_counted(ctx, call, name, version, unknown)
    servable = handle.servable
    series = ctx.metrics.version(servable.id) if ctx.metrics is not None else None
    slot = [-1, -1]  # the backend's wait / run nanoseconds (api/backend_timing.py)
    BACKEND_TIMING.set(slot)
    start = perf_counter_ns()
    if series is not None:
        series.current += 1
    try:
        try:
            request = decode(servable)
            if request.parameters or REQUEST_PARAMETERS.get() is not NO_PARAMETERS:
                REQUEST_PARAMETERS.set(request.parameters or NO_PARAMETERS)
            decoded = perf_counter_ns()
            outputs = servable.infer_now(request.inputs)
            if outputs is None:
                outputs = await servable.infer(request.inputs)
            inferred = perf_counter_ns()
            sid = servable.id
            result = encode(servable, request, InferResponse(sid.name, sid.version, outputs, request.id))
        except BaseException as exc:
            _failed(ctx, servable, call, start, wording, exc)  # raises it reworded, if it is
            raise
        encoded = perf_counter_ns()
        ctx.stats.record(servable.id, start, decoded, inferred, encoded, slot[0])
        if ctx.tracer is not None:
            ctx.tracer.succeeded(servable, call, (start, decoded, inferred, encoded), slot)
    except BaseException:
        if series is not None:
            series.fail[call.index] += 1
        raise
    finally:
        handle.release()
        if series is not None:
            series.current -= 1
    if series is not None:
        series.success[call.index] += 1
        series.request_time[call.interface_index].observe((perf_counter_ns() - start) // 1000)
    return result


def _acquire_counted(
    ctx: ServingContext, call: CallInfo, name: str, version: int | None, unknown: Unknown | None = None
) -> Handle:
    """``ctx.manager.acquire`` for ``call``: a servable not served on ``call``'s API (a MediaPipe
    graph on TensorFlow Serving, as OVMS) is not found there, also while it cannot serve. A name or
    version that resolves to nothing counts as a failed ``call``; an unknown name raises
    ``unknown(name)`` when given."""
    try:
        handle = ctx.manager.acquire(name, version)
        if call.api in handle.servable.apis:
            return handle
        handle.release()
        raise ModelNotFound(name)
    except ServingError as exc:
        if ctx.metrics is not None:
            ctx.metrics.count(call, name, version, ok=False)
        error = _not_served(ctx, call, name, exc)
        if unknown is not None and type(error) is ModelNotFound:
            raise unknown(name) from None
        if error is not exc:
            raise error from None
        raise


def _not_served(ctx: ServingContext, call: CallInfo, name: str, exc: ServingError) -> ServingError:
    """``exc`` from acquiring ``name``; ModelNotFound instead when it is a servable that cannot serve
    now (not loaded yet, retired) of a kind not served on ``call``'s API."""
    if isinstance(exc, NotLoadedYet | Retired):
        kind = ctx.manager.kind(name)
        if kind is not None and kind.apis is not None and call.api not in kind.apis:
            return ModelNotFound(name)
    return exc


def _failed(
    ctx: ServingContext,
    servable: Servable,
    call: CallInfo,
    start: int,
    wording: Wording | None,
    exc: BaseException,
) -> None:
    """Record a failed call (statistics, tracing); raise it reworded when ``wording`` rewords it
    (else return: the caller raises it as it is)."""
    ctx.stats.record_failure(servable.id, start, perf_counter_ns())
    error = wording(exc) if wording is not None and isinstance(exc, ServingError) else exc
    try:
        if ctx.tracer is not None:
            ctx.tracer.failed(servable, call, start, error)
        if error is not exc:
            raise error from None
    finally:
        # this frame is in the raised error's traceback: a local naming the error would make
        # a cycle that keeps the failed request's data (a 20 MB body) until the collector runs
        del error


async def infer_stream(
    ctx: ServingContext,
    call: CallInfo,
    name: str,
    version: int | None,
    decode: Callable[[Servable], InferRequest],
    encode: Callable[[Servable, InferRequest, InferResponse], R],
    unknown: Unknown | None = None,
) -> AsyncGenerator[R, None]:
    """:func:`infer` for a streaming call: a servable that :attr:`~Servable.streams_answers` may answer
    several times (each answer encoded as it comes; counted by the servable: a graph's series,
    ``metrics/graphs.py``); any other answers once, counted as :func:`infer` counts.

    The version is pinned until the last answer; a caller that stops early must close this
    generator (``contextlib.aclosing``), which closes the servable's answers at once."""
    with _acquire_counted(ctx, call, name, version, unknown) as servable:
        if servable.streams_answers:
            GRAPH_CALL.set(graph_call_index(call.interface, "ModelInferStream"))
            request = decode(servable)
            REQUEST_PARAMETERS.set(request.parameters or NO_PARAMETERS)
            async with aclosing(servable.infer_stream(request.inputs)) as answers:
                async for answer in answers:
                    answered = _answered(request, answer.outputs)
                    if answered is None:
                        continue  # a packet of an output the client did not ask for
                    response = InferResponse(servable.name, servable.version, answer.outputs, request.id)
                    response.parameters = answer.parameters
                    yield encode(servable, answered, response)
            return
    # Any other servable: released and pinned again by infer() with nothing run in between (no
    # await), so the same version; a retirement waiting for it sees the pin again (manager.py).
    yield await infer(ctx, call, name, version, decode, encode, None, unknown)


def _answered(request: InferRequest, outputs: Mapping[str, object]) -> InferRequest | None:
    """``request`` as one streamed answer fulfils it: the requested outputs it holds (None: none)."""
    if request.requested_outputs is None:
        return request
    held = tuple(name for name in request.requested_outputs if name in outputs)
    return replace(request, requested_outputs=held) if held else None


@contextmanager
def pinned(ctx: ServingContext, call: CallInfo, name: str, version: int | None) -> Iterator[Servable]:
    """``ctx.manager.acquire`` for calls that are not inferences, counted as ``call``.

    Use as ``with pinned(ctx, call, name, version) as servable:``; an exception leaving the
    block counts a failure on the resolved version (or on the name for unversioned calls).
    """
    with _acquire_counted(ctx, call, name, version) as servable, counted(ctx, call, name, servable.version):
        yield servable


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
