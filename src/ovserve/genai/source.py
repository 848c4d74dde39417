"""The source of generative models: one version (1) per model, read from its base path itself.

OVMS serves a GenAI model directory (or an OVMS graph directory) as one servable with no
version subdirectories. :class:`GenerativeSource` wraps the server's source: models with
a ``generative`` config (``--task``, or ``task`` in config.json), OVMS's LLM / embeddings /
rerank graphs (a graph entry's ``graph_path``, or a local base path holding ``graph.pbtxt``;
read by :mod:`ovserve.genai.graph`, ``models_path`` relative to the base path as in OVMS; a
changed graph reloads the model) and local directories exported for GenAI (task inferred as OVMS infers it,
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
from ovserve.core.servable import Servable
from ovserve.errors import BASE_PATH_INVALID, LoadError
from ovserve.genai.detect import detect_task, is_genai_export
from ovserve.genai.graph import GraphModel, parse_graph, read_graph_bytes
from ovserve.genai.types import GENERATIVE_VERSION, TextGenerationServable
from ovserve.repository.sources import Source
from ovserve.repository.storage import is_remote
from ovserve.scheduling.gates import gate_file

GenerativeLoaderFactory = Callable[[ModelConfig, Path], Loader]


def missing_files(directory: Path) -> list[str]:
    """The files OpenVINO GenAI needs that ``directory`` lacks."""
    wanted = ("openvino_model.xml", "openvino_tokenizer.xml")
    return [name for name in wanted if not (directory / name).is_file()]


def graph_file(config: ModelConfig) -> Path | None:
    """The OVMS graph a local entry is served as: its ``graph_path`` (a graph entry: OVMS's
    ``graph_path`` in config.json), else ``graph.pbtxt`` in its base path if there is one."""
    if config.graph_path is not None:
        return Path(config.graph_path)
    if is_remote(config.base_path):
        return None
    default = Path(config.base_path) / GRAPH_FILE
    return default if default.is_file() else None


def has_graph(config: ModelConfig) -> bool:
    """An entry served as an OVMS graph (a generative one: the mediapipe source keeps the others)."""
    return graph_file(config) is not None


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
        #: (graph file, base path) -> (content digest, parsed graph): a poll parses only a changed graph
        self._graphs: dict[tuple[Path, Path], tuple[str, GraphModel]] = {}

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
        graph = graph_file(config) if config.generative is None else None
        if config.generative is None and graph is None:  # no task given: as OVMS infers it
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
        if graph is not None:  # served as its graph says
            try:
                text = read_graph_bytes(graph)  # read once: what is parsed is what is hashed
                digest = hashlib.sha256(text).hexdigest()
                model = self._parsed(graph, directory, text, digest)
            except LoadError as error:
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

    def _parsed(self, graph: Path, base_path: Path, text: bytes, digest: str) -> GraphModel:
        """``graph`` parsed from ``text``; parsed again only when its content changed (~1 ms a parse)."""
        cached = self._graphs.get((graph, base_path))
        if cached is not None and cached[0] == digest:
            return cached[1]
        model = parse_graph(text, graph, base_path)
        self._graphs[(graph, base_path)] = (digest, model)
        return model

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class _StreamGatedLoader:
    """``inner``, whose text generation versions read their streams through ``gate`` (test only)."""

    def __init__(self, inner: Loader, gate: Path) -> None:
        self.inner = inner
        self.gate = gate

    def load(self) -> Servable:
        servable = self.inner.load()
        if isinstance(servable, TextGenerationServable):
            servable.stream_gate = self.gate
        return servable


def with_stream_gates(factory: GenerativeLoaderFactory, directory: str | None) -> GenerativeLoaderFactory:
    """``factory`` with the ``stream-<model>`` test gate (:mod:`ovserve.scheduling.gates`) when
    ``directory`` is set (from ``OVSERVE_TEST_GATES``); else ``factory`` itself."""
    if not directory:
        return factory
    root = Path(directory)

    def make(config: ModelConfig, path: Path) -> Loader:
        return _StreamGatedLoader(factory(config, path), gate_file(root, "stream", config.name))

    return make
