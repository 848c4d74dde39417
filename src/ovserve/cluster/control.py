"""Model control that reaches every worker of a multi-process server.

A worker that receives a control call (config reload, load / unload, TF Serving's
reload) runs it on its own lifecycle and, at the same time, asks the supervisor to run
it on every other worker; it answers its client once all have finished, so a client
that reloads and then calls the model on another connection finds every worker changed.
Each worker serves the call from its peers with its own lifecycle only (:func:`handlers`),
so a call is never passed on twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ovserve.cluster.link import Handler, PeerLink, Reply
from ovserve.config.types import ModelConfig
from ovserve.core.manager import ReloadOutcome
from ovserve.lifecycle import Lifecycle

log = logging.getLogger(__name__)

T = TypeVar("T")


class ClusterControl:
    """:class:`ovserve.api.context.ModelControl` over this worker's lifecycle and its peers'."""

    def __init__(self, lifecycle: Lifecycle, link: PeerLink) -> None:
        self.lifecycle = lifecycle
        self.link = link

    def model_names(self) -> list[str]:
        return self.lifecycle.model_names()

    async def load_model(self, name: str) -> bool:
        return await self._everywhere(self.lifecycle.load_model(name), "load_model", name)

    async def unload_model(self, name: str) -> bool:
        return await self._everywhere(self.lifecycle.unload_model(name), "unload_model", name)

    async def replace_models(self, models: tuple[ModelConfig, ...]) -> bool:
        return await self._everywhere(self.lifecycle.replace_models(models), "replace_models", models)

    async def reload(self) -> ReloadOutcome:
        return await self._everywhere(self.lifecycle.reload_config(force=False), "reload", None)

    async def _everywhere(self, local: Awaitable[T], op: str, payload: Any) -> T:
        peers = asyncio.ensure_future(self.link.broadcast(op, payload))
        try:
            result = await local
        except BaseException:
            await peers  # the others fail the same way (or succeed); either way they are done
            raise
        _log_failures(op, await peers)
        return result


def handlers(lifecycle: Lifecycle) -> dict[str, Handler]:
    """What a worker runs when a peer asks (its own lifecycle only; results are picklable)."""

    async def reload(_: Any) -> bool:
        outcome = await lifecycle.reload_config(force=False)
        if outcome.error is not None:
            raise RuntimeError(outcome.error.message)
        return outcome.changed

    def by_name(call: Callable[[str], Awaitable[bool]]) -> Handler:
        async def run(name: Any) -> bool:
            return await call(str(name))

        return run

    async def replace(models: Any) -> bool:
        return await lifecycle.replace_models(tuple(models))

    return {
        "reload": reload,
        "load_model": by_name(lifecycle.load_model),
        "unload_model": by_name(lifecycle.unload_model),
        "replace_models": replace,
    }


def _log_failures(op: str, replies: list[Reply]) -> None:
    for reply in replies:
        if not reply.ok:
            log.error("%s on worker %d failed: %s", op, reply.worker, reply.value)
