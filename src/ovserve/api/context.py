"""What every front end is handed: the manager and the server's identity and readiness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ovserve.core.manager import ReloadOutcome, ServableManager


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
