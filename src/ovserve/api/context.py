"""What every front end is handed: the manager and the server's identity and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ovserve.api.statistics import StatsTable
from ovserve.config.types import ModelConfig
from ovserve.core.manager import ReloadOutcome, ServableManager
from ovserve.metrics.registry import MetricsRegistry

if TYPE_CHECKING:  # OpenTelemetry is imported only when tracing is on
    from ovserve.api.tracing import RequestTracer


class ModelControl(Protocol):
    """Explicit model control, provided by the composition root (``ovserve.lifecycle.Lifecycle``).

    Each call raises ``ModelNotFound`` for a name the configuration does not list and
    returns whether any version was loaded or retired.
    """

    def model_names(self) -> list[str]: ...

    async def load_model(self, name: str) -> bool: ...

    async def unload_model(self, name: str) -> bool: ...

    async def replace_models(self, models: tuple[ModelConfig, ...]) -> bool: ...


class GatedControl:
    """Model control and config reload that wait until ``gate`` is set.

    The composition root hands this to the front ends whole, before the ports are bound; models
    may load only once the backend exists (built after the ports, as OVMS starts), so a call that
    arrives in between waits for it instead of loading without one.
    """

    def __init__(
        self,
        control: ModelControl,
        reload: Callable[[], Awaitable[ReloadOutcome]],
        gate: asyncio.Event,
    ) -> None:
        self._control = control
        self._reload = reload
        self._gate = gate

    def model_names(self) -> list[str]:
        return self._control.model_names()

    async def load_model(self, name: str) -> bool:
        await self._gate.wait()
        return await self._control.load_model(name)

    async def unload_model(self, name: str) -> bool:
        await self._gate.wait()
        return await self._control.unload_model(name)

    async def replace_models(self, models: tuple[ModelConfig, ...]) -> bool:
        await self._gate.wait()
        return await self._control.replace_models(models)

    async def reload(self) -> ReloadOutcome:
        await self._gate.wait()
        return await self._reload()


class ServerState:
    """Server-level flags shared by the front ends; set by the composition root.

    ``ready``: the initial model load ended (even if some models failed) and the server is not
    shutting down; ``draining``: shutdown began (no new calls). Observers (the gRPC health
    service) subscribe to hear every change. There is no "live" flag: a process that answers is
    live (as OVMS's), until it exits.
    """

    __slots__ = ("_draining", "_listeners", "_ready")

    def __init__(self, ready: bool = False) -> None:
        self._ready = ready
        self._draining = False
        self._listeners: list[Callable[[], None]] = []

    @property
    def ready(self) -> bool:
        return self._ready

    @ready.setter
    def ready(self, value: bool) -> None:
        self._ready = value
        self._changed()

    @property
    def draining(self) -> bool:
        return self._draining

    def drain(self) -> None:
        """Shutdown began: not ready, and draining from now on."""
        self._ready, self._draining = False, True
        self._changed()

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()


@dataclass
class ServingContext:
    """The one object front ends receive. Front ends hold no model state of their own."""

    manager: ServableManager
    server_name: str = "ovserve"
    server_version: str = "0"
    state: ServerState = field(default_factory=ServerState)
    #: re-read config.json (if it changed) and rescan the repositories; set by the composition root
    reload: Callable[[], Awaitable[ReloadOutcome]] | None = None
    #: load / unload / replace configured models; set by the composition root
    control: ModelControl | None = None
    #: where the request path counts calls; None when metrics are disabled
    metrics: MetricsRegistry | None = None
    #: Triton-style per-version statistics (always kept; see api/statistics.py)
    stats: StatsTable = field(default_factory=StatsTable)
    #: OpenTelemetry spans of inferences; None when tracing is off (the request path checks only that)
    tracer: RequestTracer | None = None
