"""Fakes for the TF Serving front-end unit tests: servables that need no OpenVINO.

``EchoServable`` answers each input as the output of the same name (so codecs can be
checked end to end); ``ConstServable`` answers fixed outputs whatever it is given.
``serving_context`` builds a real manager holding the given servables (and versions
that failed to load), the way the front ends meet them in the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from fakes import StaticLoader, spec

from ovserve.api.context import ServingContext
from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
from ovserve.core.servable import Servable
from ovserve.errors import LoadError
from ovserve.tensors import TensorSpec


class EchoServable(Servable):
    """Outputs are the inputs, under the same names and specs."""

    def __init__(self, name: str, inputs: Sequence[TensorSpec], version: int = 1) -> None:
        super().__init__(ServableId(name, version), inputs, inputs)
        self.calls: list[dict[str, np.ndarray]] = []

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls.append(dict(inputs))
        return {name: inputs[name] for name in self.outputs}


class ConstServable(Servable):
    """Answers ``outputs`` whatever its (validated) inputs are."""

    def __init__(
        self, name: str, inputs: Sequence[TensorSpec], outputs: Mapping[str, np.ndarray], version: int = 1
    ) -> None:
        out_specs = [spec(n, a.dtype, *a.shape) for n, a in outputs.items()]
        super().__init__(ServableId(name, version), inputs, out_specs)
        self.fixed = dict(outputs)

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(self.fixed)


async def serving_context(
    servables: Iterable[Servable], failed: Iterable[tuple[str, int, str]] = ()
) -> ServingContext:
    """A context whose manager serves ``servables``; ``failed`` = (name, version, error) loads that fail."""
    streams: dict[str, list[AspiredVersion]] = {}
    for servable in servables:
        streams.setdefault(servable.name, []).append(AspiredVersion(servable.version, StaticLoader(servable)))
    for name, version, error in failed:
        streams.setdefault(name, []).append(AspiredVersion(version, StaticLoader(None, error)))
    manager = ServableManager()
    await manager.apply({name: AspiredStream(tuple(versions)) for name, versions in streams.items()})
    return ServingContext(manager)


class ReplacingControl:
    """``ModelControl`` whose ``replace_models`` serves configs from a fake repository.

    A base path ending in ``/broken`` has versions that fail to load, one ending in
    ``/missing`` cannot be read; any other holds versions 1, 2 and 3 (echo servables),
    chosen by the config's version policy.
    """

    def __init__(self, manager: ServableManager) -> None:
        self.manager = manager
        self.models: tuple[ModelConfig, ...] = ()
        self.replaced: list[tuple[ModelConfig, ...]] = []

    def model_names(self) -> list[str]:
        return sorted(m.name for m in self.models)

    async def load_model(self, name: str) -> bool:
        raise AssertionError("not used by the TF Serving front end")

    async def unload_model(self, name: str) -> bool:
        raise AssertionError("not used by the TF Serving front end")

    async def replace_models(self, models: tuple[ModelConfig, ...]) -> bool:
        self.replaced.append(models)
        self.models = models
        self.manager.declare(m.name for m in models)
        return await self.manager.apply({m.name: self.stream(m) for m in models})

    @staticmethod
    def stream(config: ModelConfig) -> AspiredStream:
        if config.base_path.endswith("/missing"):
            return AspiredStream(
                (), LoadError(f"The provided base path is invalid or doesn't exists: {config.base_path}")
            )
        versions = config.version_policy.select([1, 2, 3])
        if not versions:
            return AspiredStream(
                (), LoadError(f"No version found on {config.base_path} matches the version policy")
            )
        broken = config.base_path.endswith("/broken")
        return AspiredStream(
            tuple(
                AspiredVersion(
                    v,
                    StaticLoader(None, "File not found or cannot open")
                    if broken
                    else StaticLoader(EchoServable(config.name, [spec("x", np.float32, -1)], v)),
                    config.fingerprint(),
                )
                for v in versions
            )
        )
