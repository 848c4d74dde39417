"""The standard gRPC health service (``grpc.health.v1.Health``), computed from the server's state.

Service names (what ``HealthCheckRequest.service`` may hold):

* ``""`` (the whole server) and the fully-qualified names of the inference services
  (``inference.GRPCInferenceService``, ``tensorflow.serving.PredictionService``, ...):
  SERVING once the initial model load ended, NOT_SERVING before that and from the start of
  shutdown (SIGTERM) on, the same as ``/v2/health/ready``.
* a model name: SERVING while the model has an AVAILABLE version and the server is not shutting
  down, else NOT_SERVING (known model, nothing to serve). An unknown name answers NOT_FOUND to
  ``Check`` and SERVICE_UNKNOWN to ``Watch`` (which goes on watching: the model may be loaded).

``Watch`` sends the current status and then each change; when shutdown begins it sends
NOT_SERVING and ends the stream, so an open watch does not hold the server for its grace period.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from grpc import StatusCode
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ovserve.api.context import ServingContext
from ovserve.core.ids import ServableId
from ovserve.core.states import VersionStatus

SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN: int = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
#: the fully-qualified name of the health service itself
SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class HealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Answers from the manager and the server state; wakes watchers on every change."""

    def __init__(self, ctx: ServingContext, server_services: Iterable[str]) -> None:
        self.ctx = ctx
        self.server_services = frozenset(["", *server_services])
        self._changed = asyncio.Event()
        ctx.manager.subscribe(self._on_version)
        ctx.state.subscribe(self._wake)

    def status(self, service: str) -> int:
        """The status of ``service``; SERVICE_UNKNOWN for a name that is neither a service nor a model."""
        state = self.ctx.state
        if service in self.server_services:
            return SERVING if state.ready else NOT_SERVING
        if service not in self.ctx.manager.names():
            return SERVICE_UNKNOWN
        if state.draining or not self.ctx.manager.available_versions(service):
            return NOT_SERVING
        return SERVING

    async def Check(self, request: Any, context: Any) -> Any:
        status = self.status(request.service)
        if status == SERVICE_UNKNOWN:
            await context.abort(StatusCode.NOT_FOUND, f"unknown service or model: {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[Any]:
        last = None
        while True:
            changed = self._changed  # taken before reading the status: no change is missed
            status = self.status(request.service)
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
                continue  # look again: the state may have changed while the answer was sent
            if self.ctx.state.draining:
                return
            await changed.wait()

    def _on_version(self, sid: ServableId, status: VersionStatus) -> None:
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
