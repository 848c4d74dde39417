"""A pipeline served like a model: :class:`PipelineServable`.

Its inputs and outputs are derived from its nodes (:mod:`.metadata`); :meth:`infer`
checks a request against them as for a model, then runs the graph (:mod:`.executor`).
Pipelines are not versioned: the servable is version 1, as OVMS reports pipelines. It
owns its custom and Python nodes and closes them with itself; models stay the manager's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ovserve.config.pipelines import PipelineConfig
from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.core.validation import validate_inputs
from ovserve.pipelines.executor import Executor
from ovserve.pipelines.graph import Graph
from ovserve.pipelines.metadata import PipelineMetadata
from ovserve.pipelines.nodes import Node

#: OVMS reports every pipeline as version 1
PIPELINE_VERSION = 1


class PipelineServable(Servable):
    """One built pipeline definition; any number of requests run on it at once."""

    def __init__(
        self, config: PipelineConfig, graph: Graph, nodes: Sequence[Node | None], metadata: PipelineMetadata
    ) -> None:
        super().__init__(ServableId(config.name, PIPELINE_VERSION), metadata.inputs, metadata.outputs)
        self.config = config
        self.graph = graph
        self.nodes: tuple[Node | None, ...] = tuple(nodes)
        self.unspecified = metadata.unspecified
        self._executor = Executor(graph, nodes)
        self._parallelism = max([getattr(n, "parallelism", 1) for n in nodes if n is not None] or [1])

    @property
    def parallelism(self) -> int:
        """The widest of its model nodes' infer-request pools (1 for a pipeline of other nodes)."""
        return self._parallelism

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        validate_inputs(self.id, self.inputs, inputs, unchecked=self.unspecified, kind="pipeline")
        return await self._executor.run(inputs)

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return await self._executor.run(inputs)

    def close(self) -> None:
        """Close every node it built (C custom and Python nodes); called once, after the last request."""
        close_nodes(self.nodes)


def close_nodes(nodes: Sequence[Node | None]) -> None:
    for node in nodes:
        if node is not None:
            node.close()
