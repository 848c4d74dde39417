"""String and image conversion as a wrapper servable, installed at load time.

The composition root wraps its loader factory with :func:`with_string_conversion`,
outermost (outside dynamic batching and stateful sequences, so a batch and a sequence
step see tensors, never strings). Once a version has loaded, its tensors say whether it
converts anything (:class:`~ovserve.preprocess.strings.StringConversion`): if so it is
served as a :class:`ConvertingServable`, else as it is, so a request to the usual model
pays nothing.

A :class:`ConvertingServable` turns the strings sent to image or 2-D U8 inputs into the
tensors those inputs take (images are decoded on a worker thread, off the event loop),
lets the servable it wraps validate and run them, and turns its 2-D U8 ``..._string``
outputs into strings. A pipeline's model node calls the servable under it
(:attr:`~ovserve.core.servable.Servable.without_conversion`): tensors flow between nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ovserve.config.types import ModelConfig
from ovserve.core.manager import Loader
from ovserve.core.servable import Servable, WrapperServable
from ovserve.preprocess.strings import StringConversion, conversion_for

#: Builds the loader of one version: (model config, version, version directory).
LoaderFactory = Callable[[ModelConfig, int, Path], Loader]


class ConvertingServable(WrapperServable):
    """``inner`` with the string conversions of ``conversion`` around each call."""

    def __init__(self, inner: Servable, conversion: StringConversion) -> None:
        super().__init__(inner)
        self.conversion = conversion

    @property
    def without_conversion(self) -> Servable:
        return self.inner

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Convert, let ``inner`` validate and run, convert its outputs."""
        return self.conversion.convert_outputs(await self.inner.infer(await self._convert(inputs)))

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.conversion.convert_outputs(await self.inner.run(await self._convert(inputs)))

    async def _convert(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        conversion = self.conversion
        if conversion.decodes_images(inputs):
            return await asyncio.to_thread(conversion.convert_inputs, inputs)
        return conversion.convert_inputs(inputs)


def converting(servable: Servable) -> Servable:
    """``servable`` wrapped in a :class:`ConvertingServable` if it has strings to convert, else itself."""
    conversion = conversion_for(servable.inputs, servable.outputs)
    return servable if conversion is None else ConvertingServable(servable, conversion)


class ConvertingLoader:
    """Loads with ``inner`` and wraps the result by :func:`converting` (blocking, off the loop)."""

    def __init__(self, inner: Loader) -> None:
        self.inner = inner

    def load(self) -> Servable:
        servable = self.inner.load()
        try:
            return converting(servable)
        except BaseException:
            servable.close()
            raise


def with_string_conversion(factory: LoaderFactory) -> LoaderFactory:
    """``factory``, with each loaded version that takes or gives strings served through a
    :class:`ConvertingServable`. Wrap it around the other loader decorators (outermost)."""

    def make(config: ModelConfig, version: int, path: Path) -> Loader:
        return ConvertingLoader(factory(config, version, path))

    return make
