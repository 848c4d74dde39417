"""The KServe v2 gRPC service (``inference.GRPCInferenceService``), added by :func:`add_services`.

Methods raise :class:`~ovserve.errors.ServingError`; the error wrapper that
``ovserve.api.grpc_server`` puts around every method turns it into the gRPC status. The one exception is
``ModelStreamInfer``: a failed request inside a stream is answered with its
``error_message`` and the stream goes on, as the protocol asks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from functools import partial
from typing import Any

import grpc

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve._generated.kserve import grpc_predict_v2_pb2_grpc as pb_grpc
from ovserve.api import request_path
from ovserve.api.context import ServingContext
from ovserve.api.errors import as_serving_error
from ovserve.api.kserve import model_control, triton
from ovserve.api.kserve.codec_grpc import decode_infer_request, encode_infer_reply
from ovserve.api.kserve.metadata import model_metadata
from ovserve.api.kserve.rest import extensions
from ovserve.errors import GraphNotFound, ModelNotReady, VersionNotFound, VersionRetired
from ovserve.metrics import calls

#: How many requests of one stream may run at once; replies keep the request order.
STREAM_WINDOW = 32


class KServeServicer(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """The service; holds only the context."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)  # a server that answers is live

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.ctx.state.ready)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Any
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name=self.ctx.server_name, version=self.ctx.server_version, extensions=extensions(self.ctx)
        )

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        """Unknown names and versions are NOT_FOUND; known but not AVAILABLE ones answer ``ready: false``."""
        with request_path.counted(self.ctx, calls.KSERVE_GRPC_READY, request.name):
            version = request_path.parse_version(request.version)
            try:
                with self.ctx.manager.acquire(request.name, version):
                    return pb.ModelReadyResponse(ready=True)
            except (ModelNotReady, VersionRetired):
                return pb.ModelReadyResponse(ready=False)
            except VersionNotFound:
                if version is not None:
                    raise
                return pb.ModelReadyResponse(ready=False)  # a known model with no version to serve now

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        version = request_path.parse_version(request.version)
        with request_path.pinned(self.ctx, calls.KSERVE_GRPC_METADATA, request.name, version) as servable:
            return pb.ModelMetadataResponse(**model_metadata(self.ctx, servable))

    def ModelInfer(
        self, request: pb.ModelInferRequest, context: Any
    ) -> Coroutine[Any, Any, pb.ModelInferResponse]:
        """The call's coroutine, which the error wrapper (``api/grpc_server.py``) awaits: not a
        coroutine of its own around it (a layer per request)."""
        return request_path.infer(
            self.ctx,
            calls.KSERVE_GRPC_INFER,
            request.model_name,
            request_path.parse_version(request.model_version),
            partial(decode_infer_request, request),  # no Python function made per call
            encode_infer_reply,
            unknown=GraphNotFound,
        )

    async def _stream_answers(
        self, request: pb.ModelInferRequest, answers: asyncio.Queue[pb.ModelStreamInferResponse | None]
    ) -> None:
        """Put every reply to ``request`` on ``answers``, then None: one for a model, one per output
        packet for a MediaPipe graph (OVMS), or the error. Cancelled (the stream ended), it puts
        nothing more: no one reads ``answers`` then, and a full queue would hold it for ever."""
        try:
            replies = request_path.infer_stream(
                self.ctx,
                calls.KSERVE_GRPC_INFER,
                request.model_name,
                request_path.parse_version(request.model_version),
                partial(decode_infer_request, request),
                encode_infer_reply,
                unknown=GraphNotFound,
            )
            async with contextlib.aclosing(replies):  # cancelled while a reply waits: the graph stops now
                async for reply in replies:
                    await answers.put(pb.ModelStreamInferResponse(infer_response=reply))
        except Exception as exc:  # the stream protocol carries the error in the reply
            await answers.put(_stream_error(request, exc))
        await answers.put(None)

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: Any
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Answer each request of the stream in order; up to STREAM_WINDOW of them run at once.

        A request's replies (several for a graph whose Python node yields several times) are
        sent as they come, before the next request's. When the stream ends (the client closed
        or cancelled it) the requests still running are cancelled, and the call returns once
        they stopped (every node of a graph, a Python generator closed)."""
        pending: asyncio.Queue[asyncio.Queue[pb.ModelStreamInferResponse | None] | None] = asyncio.Queue(
            maxsize=STREAM_WINDOW
        )
        running: set[asyncio.Task[None]] = set()

        async def read() -> None:
            try:
                async for request in request_iterator:
                    answers: asyncio.Queue[pb.ModelStreamInferResponse | None] = asyncio.Queue(STREAM_WINDOW)
                    task = asyncio.create_task(self._stream_answers(request, answers))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    await pending.put(answers)
            finally:
                await pending.put(None)

        reader = asyncio.create_task(read())
        try:
            while (answers := await pending.get()) is not None:
                while (reply := await answers.get()) is not None:
                    yield reply
            await reader  # a broken request stream surfaces here
        finally:
            reader.cancel()
            stopping = [reader, *running]
            for task in stopping:
                task.cancel()
            await asyncio.gather(*stopping, return_exceptions=True)

    # -- model repository extension (see ovserve.api.kserve.model_control) ------------------
    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: Any
    ) -> pb.RepositoryIndexResponse:
        model_control.check_repository_name(request.repository_name)
        entries = model_control.repository_index(self.ctx, request.ready)
        return pb.RepositoryIndexResponse(
            models=[
                pb.RepositoryIndexResponse.ModelIndex(
                    name=e.name, version=e.version, state=e.state, reason=e.reason
                )
                for e in entries
            ]
        )

    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Any
    ) -> pb.RepositoryModelLoadResponse:
        model_control.check_repository_name(request.repository_name)
        await model_control.load_model(self.ctx, request.model_name, request.parameters.keys())
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        model_control.check_repository_name(request.repository_name)
        await model_control.unload_model(self.ctx, request.model_name)
        return pb.RepositoryModelUnloadResponse()

    # -- model configuration and statistics extensions (see ovserve.api.kserve.triton) ----
    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Any) -> pb.ModelConfigResponse:
        version = request_path.parse_version(request.version)
        with self.ctx.manager.acquire(request.name, version) as servable:
            return triton.config_message(servable)

    async def ModelStatistics(
        self, request: pb.ModelStatisticsRequest, context: Any
    ) -> pb.ModelStatisticsResponse:
        return triton.statistics_message(self.ctx, request.name, request_path.parse_version(request.version))


def add_services(server: grpc.aio.Server, ctx: ServingContext) -> None:
    """Register the KServe v2 gRPC service on ``server``."""
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(KServeServicer(ctx), server)


def _stream_error(request: pb.ModelInferRequest, exc: Exception) -> pb.ModelStreamInferResponse:
    """The stream reply carrying ``exc`` (a function of its own, so that no frame in the
    exception's traceback holds the exception: that cycle would keep the request alive)."""
    error = as_serving_error(exc)
    echo = pb.ModelInferResponse(
        model_name=request.model_name, model_version=request.model_version, id=request.id
    )
    return pb.ModelStreamInferResponse(error_message=error.message, infer_response=echo)
