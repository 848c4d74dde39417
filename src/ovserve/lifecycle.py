"""Keeping the served models in line with config.json and the model repositories.

:class:`Lifecycle` owns the current list of model configs. :meth:`Lifecycle.sync`
rescans every base path and lets the manager reconcile (new version directories load,
removed ones retire, unchanged ones are not touched). :meth:`Lifecycle.reload_config`
re-reads config.json when its content changed: a file that breaks the schema, or that
changes the ``monitoring`` section (read once, at start-up, as in OVMS), is rejected
whole and the running config keeps serving; an entry whose values are invalid is not
served while the rest of the file applies, and the reload answers an error (as OVMS).
Pipelines (``pipeline_config_list``) follow their models: each sync applies the models'
streams first, then the pipelines' (:class:`~ovserve.pipelines.source.PipelineSource`),
so a pipeline is built, revalidated or stopped against the models as they are now.
:meth:`Lifecycle.poll_forever` does both every
``file_system_poll_wait_seconds``, as OVMS does.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from pathlib import Path

from ovserve.config.file import config_file_path, parse_config_text
from ovserve.config.pipelines import CustomNodeLibraryConfig, PipelineConfig
from ovserve.config.types import MetricsConfig, ModelConfig
from ovserve.core.kinds import PIPELINE
from ovserve.core.manager import AspiredStream, ReloadOutcome, ServableManager
from ovserve.errors import (
    Code,
    ConfigError,
    ConfigFileUnreadable,
    ConfigReloadFailed,
    ModelNotFound,
)
from ovserve.pipelines.source import PipelineSource, keep_subscribed
from ovserve.repository.sources import Source

log = logging.getLogger(__name__)

CONFIG_UNREADABLE = "Config file not found or cannot open."
CONFIG_RELOAD_FAILED = "Reloading config file failed. Check server logs for more info."


class Lifecycle:
    """The running model list and the reconcile loop; used only on the event loop."""

    def __init__(
        self,
        manager: ServableManager,
        source: Source,
        models: tuple[ModelConfig, ...],
        config_path: str | None = None,
        monitoring: MetricsConfig | None = None,
        pipelines: PipelineSource | None = None,
    ) -> None:
        self.manager = manager
        self.monitoring = monitoring  # config.json's monitoring section at start-up
        self.source = source
        self.models = models
        self.pipeline_source = pipelines
        #: config.json's pipeline_config_list and custom_node_library_config_list, as last read
        self.pipelines: tuple[PipelineConfig, ...] = ()
        self.libraries: tuple[CustomNodeLibraryConfig, ...] = ()
        self.config_path = config_path
        self._unloaded: set[str] = set()  # explicitly unloaded through the model control API
        self._digest: str | None = None
        self._file_failed = False
        self._sync_lock = asyncio.Lock()

    async def start(self) -> None:
        """The initial load."""
        if self.config_path is not None:
            path = config_file_path(self.config_path)
            text = await asyncio.to_thread(_read, path)
            self._digest = _digest(text) if text is not None else None
            if text is not None and self.pipeline_source is not None:
                try:
                    parsed = parse_config_text(text, os.path.dirname(path), source=self.config_path)
                    self.pipelines, self.libraries = parsed.pipelines, parsed.libraries
                except ConfigError as exc:  # the command line read it a moment ago; it changed since
                    log.error(
                        "config.json changed while starting; its pipelines load on the next poll: %s", exc
                    )
                    self._file_failed = True
        await self.sync()

    async def sync(self) -> bool:
        """Rescan every model's repository and reconcile, then the pipelines; returns whether anything changed."""
        async with self._sync_lock:
            pipelines = self._served_pipelines()
            self.manager.declare([*(m.name for m in self.models), *(p.name for p in pipelines)])
            wanted = tuple(m for m in self.models if m.name not in self._unloaded)
            aspired = await asyncio.to_thread(self.source.aspired, wanted)
            # the pipelines keep what they have while their models change; then they follow them
            held = {p.name: AspiredStream(unchanged=True, kind=PIPELINE) for p in pipelines}
            changed = await self.manager.apply({**aspired, **held})
            if self.pipeline_source is None or not pipelines:
                return changed
            streams = self.pipeline_source.aspired(pipelines, self.libraries)
            return await self.manager.apply(streams, complete=False) or changed

    def _served_pipelines(self) -> list[PipelineConfig]:
        if self.pipeline_source is None:
            return []
        return self.pipeline_source.served(self.pipelines, (m.name for m in self.models))

    # -- model control (KServe repository extension, TF Serving ReloadConfig) ---------
    def model_names(self) -> list[str]:
        """Every model the config lists, served or explicitly unloaded."""
        return sorted(m.name for m in self.models)

    async def load_model(self, name: str) -> bool:
        """Serve a configured model again after an unload (or reload its versions)."""
        self._known(name)
        self._unloaded.discard(name)
        return await self.sync()

    async def unload_model(self, name: str) -> bool:
        """Retire every version of a configured model until :meth:`load_model` or a restart."""
        self._known(name)
        self._unloaded.add(name)
        return await self.sync()

    async def replace_models(self, models: tuple[ModelConfig, ...]) -> bool:
        """Serve exactly ``models`` (TF Serving's HandleReloadConfigRequest)."""
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ConfigError("model_config_list", "model names must be unique")
        self.models = keep_subscribed(self.models, keep_model_types(self.models, models), self.pipelines)
        self._unloaded.clear()
        return await self.sync()

    def _known(self, name: str) -> None:
        if name not in {m.name for m in self.models}:
            raise ModelNotFound(name)

    async def reload_config(self, *, force: bool = False) -> ReloadOutcome:
        """Re-read config.json if it changed (or ``force``, or the last read failed), then sync."""
        if self.config_path is None:
            return ReloadOutcome(await self.sync())
        path = config_file_path(self.config_path)  # --config_path may name config.json's directory
        text = await asyncio.to_thread(_read, path)
        if text is None:
            if not self._file_failed:
                log.error("%s: %s", self.config_path, CONFIG_UNREADABLE)
            self._file_failed = True
            return ReloadOutcome(False, ConfigFileUnreadable(CONFIG_UNREADABLE))
        digest = _digest(text)
        if digest != self._digest or self._file_failed or force:
            try:
                parsed = parse_config_text(text, os.path.dirname(path), source=self.config_path)
                if parsed.metrics != self.monitoring:
                    raise ConfigError(
                        "monitoring",
                        "metrics settings cannot change while serving; restart the server to apply them",
                    )
            except ConfigError as exc:
                if not self._file_failed or digest != self._digest:
                    log.error("config reload refused, the running config keeps serving: %s", exc)
                self._digest, self._file_failed = digest, True
                return ReloadOutcome(False, ConfigReloadFailed(f"{CONFIG_RELOAD_FAILED} {exc}"))
            self._digest, self._file_failed = digest, False
            if parsed.models != self.models:
                log.info("config.json changed: %s", ", ".join(m.name for m in parsed.models) or "no models")
            wanted = keep_model_types(self.models, parsed.models)
            self.models = keep_subscribed(self.models, wanted, parsed.pipelines)
            if (parsed.pipelines, parsed.libraries) != (self.pipelines, self.libraries):
                log.info(
                    "config.json changed: pipelines %s", ", ".join(p.name for p in parsed.pipelines) or "none"
                )
            self.pipelines, self.libraries = parsed.pipelines, parsed.libraries
            changed = await self.sync()
            invalid = [m.invalid for m in parsed.models if m.invalid] + self._failed_pipelines()
            if invalid:
                detail = "; ".join(invalid)
                return ReloadOutcome(
                    changed,
                    ConfigReloadFailed(
                        f"{CONFIG_RELOAD_FAILED} Invalid entries are not served, the others were applied: {detail}"
                    ),
                )
            return ReloadOutcome(changed)
        return ReloadOutcome(await self.sync())

    def _failed_pipelines(self) -> list[str]:
        """Why each configured pipeline that is not served now is not (OVMS's reload reports them)."""
        failed = []
        for pipeline in self._served_pipelines():
            for status in self.manager.status(pipeline.name):
                if status.error_code != Code.OK:
                    failed.append(f"pipeline {pipeline.name}: {status.error_message}")
        return failed

    async def poll_forever(self, interval: float) -> None:
        """Every ``interval`` seconds: reload config.json if it changed, rescan repositories."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload_config()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("polling the model repositories failed; retrying next interval")


MODEL_TYPE_CHANGE = "Model type cannot be changed after it is loaded"


def keep_model_types(
    running: tuple[ModelConfig, ...], wanted: tuple[ModelConfig, ...]
) -> tuple[ModelConfig, ...]:
    """``wanted``, except that a model may not turn stateful or stateless while configured (OVMS
    refuses it): such an entry keeps its running config, and the refusal is logged."""
    before = {m.name: m for m in running}
    kept = []
    for model in wanted:
        old = before.get(model.name)
        if old is not None and (old.stateful is None) != (model.stateful is None):
            log.error("%s: %s; it keeps its running config", model.name, MODEL_TYPE_CHANGE)
            model = old
        kept.append(model)
    return tuple(kept)


def _read(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def _digest(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()
