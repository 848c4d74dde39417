"""Pipelines in the lifecycle: which pipelines to serve, built when their models are there.

OVMS serves a pipeline as one version (1) of a servable named as the pipeline. Each
configured pipeline becomes a manager stream of kind :data:`~ovserve.core.kinds.PIPELINE`
with one :class:`AspiredVersion`, whose loader builds the pipeline against the models served at
the time (validation included: an invalid pipeline's version is LOADING with the
reason, and it is never half-served).

Revalidation is the fingerprint: the pipeline's config, the libraries it names, and for
every model node the model version a request would get now with its tensor specs (or why
it would get none). When a model a pipeline uses reloads, changes shape or disappears,
the fingerprint changes and the manager rebuilds the pipeline: on success the new one
replaces the old without a gap, on failure the pipeline stops serving with the reason
("Pipeline is not loaded yet") and comes back when a later change makes it valid.

:meth:`PipelineSource.aspired` reads the manager, so it runs on the event loop, after the
models' own streams were applied.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from ovserve.config.pipelines import CustomNodeLibraryConfig, PipelineConfig
from ovserve.config.types import ModelConfig
from ovserve.core.kinds import PIPELINE
from ovserve.core.manager import AspiredStream, AspiredVersion, Handle, ServableManager
from ovserve.core.servable import Servable
from ovserve.errors import ModelNotFound, ServingError
from ovserve.pipelines.build import MakeNode
from ovserve.pipelines.model_node import Acquire
from ovserve.pipelines.servable import PIPELINE_VERSION

log = logging.getLogger(__name__)

#: OVMS's text for a pipeline named as a model (the pipeline is not created)
NAME_OCCUPIED = "Pipeline has the same name as model"
#: OVMS's text for a model used by a pipeline that a reload would make auto-shaped or stateful
DYNAMIC_ON_SUBSCRIBED = "Requested dynamic parameters but model is used in pipeline"


class BuildPipeline(Protocol):
    """:func:`ovserve.pipelines.build.build_pipeline`'s signature (injected: tests give their own)."""

    def __call__(self, config: PipelineConfig, acquire: Acquire, make_node: MakeNode) -> Servable: ...


#: builds the node factory of one set of libraries (custom and Python nodes)
NodeFactoryMaker = Callable[[Mapping[str, CustomNodeLibraryConfig]], MakeNode]


class PipelineSource:
    """The aspired streams of the configured pipelines; used on the event loop only."""

    def __init__(
        self, manager: ServableManager, build: BuildPipeline, node_factory: NodeFactoryMaker
    ) -> None:
        self.manager = manager
        self.build = build
        self.node_factory = node_factory
        self._refused: set[str] = set()  # pipeline names refused as models' names (logged once)

    def served(self, pipelines: Iterable[PipelineConfig], model_names: Iterable[str]) -> list[PipelineConfig]:
        """The pipelines to serve: all but those named as a model (refused as OVMS refuses them)."""
        models = set(model_names)
        kept = []
        for pipeline in pipelines:
            if pipeline.name in models:
                if pipeline.name not in self._refused:
                    log.error("pipeline %s is not served: %s", pipeline.name, NAME_OCCUPIED)
                self._refused.add(pipeline.name)
                continue
            self._refused.discard(pipeline.name)
            kept.append(pipeline)
        return kept

    def aspired(
        self, pipelines: Iterable[PipelineConfig], libraries: Iterable[CustomNodeLibraryConfig]
    ) -> dict[str, AspiredStream]:
        """One stream per pipeline, its version's fingerprint saying what it was built against."""
        known = {library.name: library for library in libraries}
        acquire = LoopAcquire(self.manager, asyncio.get_running_loop())
        make_node = self.node_factory(known)
        streams = {}
        for pipeline in pipelines:
            loader = PipelineLoader(pipeline, self.build, acquire, make_node)
            version = AspiredVersion(PIPELINE_VERSION, loader, self.fingerprint(pipeline, known))
            streams[pipeline.name] = AspiredStream((version,), kind=PIPELINE)
        return streams

    def fingerprint(
        self, pipeline: PipelineConfig, libraries: Mapping[str, CustomNodeLibraryConfig]
    ) -> Hashable:
        """What the pipeline's validity depends on; a change rebuilds (revalidates) it."""
        parts: list[Hashable] = [pipeline]
        for node in pipeline.nodes:
            if node.kind == "custom" and node.library_name is not None:
                parts.append(libraries.get(node.library_name))
            elif node.kind == "DL model" and node.model_name is not None:
                parts.append(self._model_signature(node.model_name, node.version))
        return tuple(parts)

    def _model_signature(self, name: str, version: int | None) -> Hashable:
        """The version a request would pin now and its tensor specs, or why none would be pinned."""
        try:
            with self.manager.acquire(name, version) as servable:
                return (
                    name,
                    servable.version,
                    tuple(servable.inputs.values()),
                    tuple(servable.outputs.values()),
                )
        except ServingError as exc:
            return (name, version, type(exc).__name__)


def keep_subscribed(
    running: Iterable[ModelConfig], wanted: Iterable[ModelConfig], pipelines: Iterable[PipelineConfig]
) -> tuple[ModelConfig, ...]:
    """``wanted``, except that a model a pipeline uses may not turn to an ``auto`` shape or batch
    size, nor stateful (OVMS refuses it): such an entry keeps its running config, and it is logged."""
    used = {n.model_name for p in pipelines for n in p.nodes if n.kind == "DL model"}
    before = {m.name: m for m in running}
    kept = []
    for model in wanted:
        old = before.get(model.name)
        if old is not None and model.name in used and _dynamic(model) and not _dynamic(old):
            log.error("%s: %s; it keeps its running config", model.name, DYNAMIC_ON_SUBSCRIBED)
            model = old
        kept.append(model)
    return tuple(kept)


def _dynamic(model: ModelConfig) -> bool:
    """Auto-reshaped or stateful: what OVMS refuses for a model a pipeline uses."""
    shapes = model.shape.values() if isinstance(model.shape, Mapping) else [model.shape]
    return model.stateful is not None or model.batch_size == "auto" or "auto" in shapes


class PipelineLoader:
    """Builds one pipeline on a loader thread (custom and Python nodes block while they
    initialize); the manager calls :meth:`load`. An entry config.json marked invalid, or one
    that does not validate, raises :class:`~ovserve.errors.PipelineInvalid`."""

    def __init__(
        self, config: PipelineConfig, build: BuildPipeline, acquire: Acquire, make_node: MakeNode
    ) -> None:
        self.config = config
        self.build = build
        self.acquire = acquire
        self.make_node = make_node

    def load(self) -> Servable:
        return self.build(self.config, self.acquire, self.make_node)


class LoopAcquire:
    """:meth:`ServableManager.acquire`, callable from a loader thread as well as from the event loop.

    The manager lives on the event loop; a pipeline built on a loader thread reads its
    models' specs through this, and its model nodes pin their version per request (on the
    loop) through the same object. Only models: a pipeline is no node of another (OVMS).
    """

    def __init__(self, manager: ServableManager, loop: asyncio.AbstractEventLoop) -> None:
        self.manager = manager
        self.loop = loop
        self._loop_thread = threading.get_ident()

    def __call__(self, name: str, version: int | None = None) -> AbstractContextManager[Servable]:
        if threading.get_ident() == self._loop_thread:
            return self.model(name, version)
        return _ThreadPin(self, name, version)

    def model(self, name: str, version: int | None) -> Handle:
        """Pin a model version (on the event loop); a pipeline's name is no model's."""
        if self.manager.is_pipeline(name):
            raise ModelNotFound(name)
        return self.manager.acquire(name, version)


class _ThreadPin(AbstractContextManager[Servable]):
    """A :class:`Handle` taken and let go on the event loop for a caller on another thread."""

    def __init__(self, owner: LoopAcquire, name: str, version: int | None) -> None:
        self._loop = owner.loop

        async def pin() -> Handle:
            return owner.model(name, version)

        self._handle = asyncio.run_coroutine_threadsafe(pin(), self._loop).result()
        self.servable = self._handle.servable

    def __enter__(self) -> Servable:
        return self.servable

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._handle.__exit__, None, None, None)
