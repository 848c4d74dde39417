"""The source of generative models: one version (1) per model, read from its base path itself.

OVMS serves a GenAI model directory (or an OVMS graph directory) as one servable with no
version subdirectories. :class:`GenerativeSource` wraps the server's source: models with
a ``generative`` config get a stream of version 1 built by ``loader_factory``; the others
go to the wrapped source unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream, AspiredVersion, Loader
from ovserve.errors import LoadError
from ovserve.genai.types import GENERATIVE_VERSION
from ovserve.repository.sources import Source

GenerativeLoaderFactory = Callable[[ModelConfig, Path], Loader]


def missing_files(directory: Path) -> list[str]:
    """The files OpenVINO GenAI needs that ``directory`` lacks (an OVMS graph directory has its own)."""
    if (directory / "graph.pbtxt").is_file():
        return []
    wanted = ("openvino_model.xml", "openvino_tokenizer.xml")
    return [name for name in wanted if not (directory / name).is_file()]


class GenerativeSource:
    """Generative models here, every other model to ``inner``; called from one thread at a time."""

    def __init__(self, inner: Source, loader_factory: GenerativeLoaderFactory) -> None:
        self.inner = inner
        self.loader_factory = loader_factory

    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]:
        configs = list(configs)
        classic = [c for c in configs if c.generative is None]
        streams = self.inner.aspired(classic) if classic else {}
        for config in configs:
            if config.generative is not None:
                streams[config.name] = self.stream(config)
        return streams

    def stream(self, config: ModelConfig) -> AspiredStream:
        directory = Path(config.base_path)
        if not directory.is_dir():
            return AspiredStream(
                (), LoadError(f"The provided base path is invalid or doesn't exists: {config.base_path}")
            )
        missing = missing_files(directory)
        if missing:
            return AspiredStream(
                (),
                LoadError(
                    f"{config.base_path} is not a model directory exported for OpenVINO GenAI: "
                    f"{', '.join(missing)} not found"
                ),
            )
        loader = self.loader_factory(config, directory)
        return AspiredStream((AspiredVersion(GENERATIVE_VERSION, loader, config.fingerprint()),))

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
