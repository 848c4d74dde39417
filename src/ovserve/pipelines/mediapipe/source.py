"""The source of MediaPipe graphs: one version (1) per graph entry of the configuration.

A graph entry (``model_config_list`` with ``graph_path`` / ``subconfig`` or a base path
holding ``graph.pbtxt``, ``mediapipe_config_list``, or single-model mode on such a
directory) has :attr:`~ovserve.config.types.ModelConfig.graph_path` set. OVMS's LLM,
embeddings and rerank graphs go on to the wrapped source (``ovserve.genai`` serves them);
every other graph gets a stream of version 1 whose loader builds a :class:`GraphServable`
(Python nodes are initialized then). A graph that cannot be served loads with an error
naming why: its status says so. The graph text is part of the version's fingerprint, so
a changed graph file is rebuilt when the configuration is read again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ovserve.config.graphs import GENERATIVE_CALCULATORS
from ovserve.config.types import ModelConfig
from ovserve.core.kinds import GRAPH
from ovserve.core.manager import AspiredStream, AspiredVersion
from ovserve.core.servable import Servable
from ovserve.errors import LoadError
from ovserve.metrics.registry import MetricsRegistry
from ovserve.pipelines.mediapipe import config as cfg
from ovserve.pipelines.mediapipe.build import GraphContext, build_graph
from ovserve.pipelines.mediapipe.calculators import Acquire, PythonNodeFactory
from ovserve.pipelines.mediapipe.servable import GRAPH_VERSION, GraphServable


class InnerSource(Protocol):
    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]: ...


@dataclass(frozen=True)
class GraphLoader:
    """Builds one graph; runs on a worker thread (Python nodes' ``initialize`` runs here)."""

    name: str
    text: str
    context: GraphContext
    metrics: MetricsRegistry | None

    def load(self) -> Servable:
        series = self.metrics.graph(self.name) if self.metrics is not None else None
        return GraphServable(self.name, build_graph(self.text, self.context), series)


class GraphSource:
    """Graphs here, generative graphs and models to ``inner``; called from one thread at a time."""

    def __init__(
        self,
        inner: InnerSource,
        acquire: Acquire,
        make_python_node: PythonNodeFactory,
        metrics: MetricsRegistry | None = None,
    ) -> None:
        self.inner = inner
        self.acquire = acquire
        self.make_python_node = make_python_node
        self.metrics = metrics

    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]:
        graphs: dict[str, AspiredStream] = {}
        others = []
        for config in configs:
            stream = self.stream(config) if config.graph_path and not config.invalid else None
            if stream is None:
                others.append(config)
            else:
                graphs[config.name] = stream
        streams = self.inner.aspired(others) if others else {}
        streams.update(graphs)
        return streams

    def stream(self, config: ModelConfig) -> AspiredStream | None:
        """The graph's stream; None for a generative graph (the inner source's)."""
        path = Path(str(config.graph_path))
        try:
            text = cfg.read_graph_text(path)
        except LoadError as error:
            return AspiredStream((), error, kind=GRAPH)
        if any(name in GENERATIVE_CALCULATORS for name in cfg.calculators_named(text)):
            return None
        digest = hashlib.sha256(text.encode()).hexdigest()
        context = GraphContext(path, config.base_path, self.acquire, self.make_python_node)
        loader = GraphLoader(config.name, text, context, self.metrics)
        version = AspiredVersion(GRAPH_VERSION, loader, (config.fingerprint(), digest))
        return AspiredStream((version,), kind=GRAPH)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
