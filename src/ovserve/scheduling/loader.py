"""Installing dynamic batching where a model's config asks for it: a loader decorator.

The composition root wraps its loader factory with :func:`with_batching`. For a model
whose config has ``dynamic_batching``, the backend is asked to load it with a dynamic
batch dimension (through the config's ``batch_size``, as a user would set it, so the
backend needs no special case), and the loaded servable is wrapped in a
:class:`~ovserve.scheduling.batching.BatchingServable`. Other models pass through
untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

from ovserve.config.types import BatchingConfig, LayoutSpec, ModelConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import Loader
from ovserve.core.servable import Servable
from ovserve.errors import LoadError
from ovserve.scheduling.batching import BatchingHooks, BatchingServable
from ovserve.tensors import Dim

#: Builds the loader of one version: (model config, version, version directory).
LoaderFactory = Callable[[ModelConfig, int, Path], Loader]
#: How many batches may run at once on a loaded servable (its parallelism).
InFlight = Callable[[Servable], int]
#: The observers to connect to one version's batcher.
HooksFactory = Callable[[ServableId], BatchingHooks | None]


def backend_config(config: ModelConfig) -> ModelConfig:
    """The config the backend should load a batched model with.

    When neither ``batch_size`` nor ``shape`` is set, ``batch_size`` becomes the range
    1 to ``max_batch_size``, so the backend reshapes dimension 0 to be dynamic. A
    ``batch_size`` or ``shape`` the user set is kept; the batcher checks, once loaded,
    that it takes every batch it may form.
    """
    batching = config.dynamic_batching
    if batching is None or config.batch_size is not None or config.shape is not None:
        return config
    return dataclasses.replace(config, batch_size=Dim(1, batching.max_batch_size))


def check_layout(config: ModelConfig) -> None:
    """Batching concatenates on dimension 0: refuse a layout whose batch (N) is elsewhere."""
    layout = config.layout
    if layout is None:
        return
    layouts: Mapping[str, LayoutSpec] = {"": layout} if isinstance(layout, LayoutSpec) else layout
    for name, spec in layouts.items():
        letters = spec.target.replace("[", "").replace("]", "")
        if "N" in letters and not letters.startswith("N"):
            which = f" of {name}" if name else ""
            raise LoadError(
                f"dynamic_batching: the layout{which} {spec.target} does not have the batch (N) on "
                "dimension 0, where batching concatenates requests"
            )


class BatchingLoader:
    """Loads with ``inner`` and wraps the result in a :class:`BatchingServable` (blocking, off the loop)."""

    def __init__(
        self,
        inner: Loader,
        model: ModelConfig,
        version: int,
        in_flight: InFlight | None = None,
        hooks: HooksFactory | None = None,
    ) -> None:
        if model.dynamic_batching is None:
            raise ValueError(f"model {model.name} has no dynamic_batching config")
        self.inner = inner
        self.model = model
        self.config: BatchingConfig = model.dynamic_batching
        self.sid = ServableId(model.name, version)
        self.in_flight = in_flight
        self.hooks = hooks

    def load(self) -> Servable:
        check_layout(self.model)
        servable = self.inner.load()
        try:
            return BatchingServable(
                servable,
                self.config,
                max_in_flight=servable.parallelism if self.in_flight is None else self.in_flight(servable),
                hooks=self.hooks(self.sid) if self.hooks is not None else None,
            )
        except BaseException:
            servable.close()
            raise


def with_batching(
    factory: LoaderFactory, *, in_flight: InFlight | None = None, hooks: HooksFactory | None = None
) -> LoaderFactory:
    """``factory``, with dynamic batching installed on the models whose config asks for it.

    ``in_flight(servable)`` says how many batches may run at once on a loaded servable (by
    default its :attr:`~ovserve.core.servable.Servable.parallelism`, the infer-request pool size
    of an OpenVINO model); ``hooks(id)`` gives each batcher its observers.
    """

    def make(config: ModelConfig, version: int, path: Path) -> Loader:
        batching = config.dynamic_batching
        if batching is None:
            return factory(config, version, path)
        inner = factory(backend_config(config), version, path)
        return BatchingLoader(inner, config, version, in_flight, hooks)

    return make
