"""The source of generative models: one version (1) per model, read from its base path itself.

OVMS serves a GenAI model directory (or an OVMS graph directory) as one servable with no
version subdirectories. :class:`GenerativeSource` wraps the server's source: models with
a ``generative`` config (``--task``, or ``task`` in config.json), local base paths that
hold OVMS's ``graph.pbtxt`` (read by :mod:`ovserve.genai.graph`; a changed graph reloads
the model) and local directories exported for GenAI (task inferred as OVMS infers it,
:mod:`ovserve.genai.detect`) get a stream of version 1 built by ``loader_factory``; the others go to the
wrapped source unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from ovserve.config.genai import TASKS, GenerativeConfig
from ovserve.config.graphs import GRAPH_FILE
from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream, AspiredVersion, Loader
from ovserve.errors import BASE_PATH_INVALID, LoadError
from ovserve.genai.detect import detect_task, is_genai_export
from ovserve.genai.graph import GraphModel, parse_graph, read_graph_bytes
from ovserve.genai.types import GENERATIVE_VERSION
from ovserve.repository.sources import Source, unserved_stream
from ovserve.repository.storage import is_remote

GenerativeLoaderFactory = Callable[[ModelConfig, Path], Loader]


def missing_files(directory: Path) -> list[str]:
    """The files OpenVINO GenAI needs that ``directory`` lacks."""
    wanted = ("openvino_model.xml", "openvino_tokenizer.xml")
    return [name for name in wanted if not (directory / name).is_file()]


def has_graph(config: ModelConfig) -> bool:
    """A classic-looking entry whose base path holds an OVMS graph.pbtxt: a generative model as OVMS serves it."""
    return not is_remote(config.base_path) and (Path(config.base_path) / GRAPH_FILE).is_file()


def is_generative(config: ModelConfig) -> bool:
    """Served by this source: a task given, an OVMS graph, or a directory exported for GenAI."""
    if config.generative is not None:
        return True
    if is_remote(config.base_path):
        return False
    return has_graph(config) or is_genai_export(Path(config.base_path))


class GenerativeSource:
    """Generative models here, every other model to ``inner``; called from one thread at a time."""

    def __init__(self, inner: Source, loader_factory: GenerativeLoaderFactory) -> None:
        self.inner = inner
        self.loader_factory = loader_factory
        #: graph.pbtxt path -> (content digest, parsed graph): a poll parses only a changed graph
        self._graphs: dict[Path, tuple[str, GraphModel]] = {}

    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]:
        configs = list(configs)
        generative = [c for c in configs if is_generative(c)]
        classic = [c for c in configs if c not in generative]
        streams = self.inner.aspired(classic) if classic else {}
        for config in generative:
            streams[config.name] = self.stream(config)
        return streams

    def stream(self, config: ModelConfig) -> AspiredStream:
        directory = Path(config.base_path)
        if not directory.is_dir():
            return AspiredStream((), LoadError(f"{BASE_PATH_INVALID}: {config.base_path}"))
        fingerprint: tuple[object, ...] = config.fingerprint()
        if config.generative is None and not has_graph(config):  # no task given: as OVMS infers it
            task = detect_task(directory, config.name)
            if task not in TASKS:
                reason = (
                    f"task {task} is not supported yet"
                    if task
                    else "no task can be inferred from its config.json"
                )
                return AspiredStream(
                    (), LoadError(f"{config.base_path}: {reason}; set --task (or task in config.json)")
                )
            config = replace(config, generative=GenerativeConfig(task=task))  # type: ignore[arg-type]
        if config.generative is None:  # served as its graph.pbtxt says
            graph = directory / GRAPH_FILE
            try:
                text = read_graph_bytes(graph)  # read once: what is parsed is what is hashed
                digest = hashlib.sha256(text).hexdigest()
                model = self._parsed(graph, text, digest)
            except LoadError as error:
                if config.not_served:  # not a generative graph: a MediaPipe graph, not served yet
                    return unserved_stream(replace(config, not_served=f"{config.not_served} ({error})"))
                return AspiredStream((), error)
            config = replace(
                config,
                generative=model.generative,
                target_device=model.target_device or config.target_device,
                plugin_config={**config.plugin_config, **model.plugin_config},
            )
            directory = model.models_path.resolve()  # each poll: the directory may be a swapped symlink
            fingerprint = (config.fingerprint(), digest)
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
        return AspiredStream((AspiredVersion(GENERATIVE_VERSION, loader, fingerprint),))

    def _parsed(self, graph: Path, text: bytes, digest: str) -> GraphModel:
        """``graph`` parsed from ``text``; parsed again only when its content changed (~1 ms a parse)."""
        cached = self._graphs.get(graph)
        if cached is not None and cached[0] == digest:
            return cached[1]
        model = parse_graph(text, graph)
        self._graphs[graph] = (digest, model)
        return model

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
