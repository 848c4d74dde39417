"""What every front end is handed: the manager and the server's identity and readiness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ovserve.config.types import ModelConfig
from ovserve.core.manager import ReloadOutcome, ServableManager
from ovserve.metrics.registry import MetricsRegistry


class ModelControl(Protocol):
    """Explicit model control, provided by the composition root (``ovserve.lifecycle.Lifecycle``).

    Each call raises ``ModelNotFound`` for a name the configuration does not list and
    returns whether any version was loaded or retired.
    """

    def model_names(self) -> list[str]: ...

    async def load_model(self, name: str) -> bool: ...

    async def unload_model(self, name: str) -> bool: ...

    async def replace_models(self, models: tuple[ModelConfig, ...]) -> bool: ...


@dataclass
class ServerState:
    """Server-level flags shared by the front ends; set by the composition root."""

    ready: bool = False  # true once the initial model load ended (even if some models failed)
    live: bool = True


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
