"""Building a pipeline from its configuration: :func:`build_pipeline`.

The order of work: the structural checks (:func:`.validation.plan`, nothing built yet),
then each node (a ``DL model`` node reads its model's specs through ``acquire``, the
others come from ``make_node``), then the checks between connected tensors
(:mod:`.connections`) and the metadata (:mod:`.metadata`). Any failure closes what was
built and raises a :class:`~ovserve.errors.PipelineInvalid` naming the node and tensor:
a pipeline is served whole or not at all.

``build_pipeline`` runs on the event loop thread (``acquire`` is the manager's, which is
not thread-safe); ``make_node`` may take time (a library's ``initialize``).
"""

from __future__ import annotations

from collections.abc import Callable

from ovserve.config.pipelines import NodeConfig, PipelineConfig
from ovserve.errors import PipelineInvalid, ServingError
from ovserve.pipelines import validation as v
from ovserve.pipelines.connections import check_connections
from ovserve.pipelines.metadata import derive
from ovserve.pipelines.model_node import Acquire, ModelNode
from ovserve.pipelines.nodes import Node
from ovserve.pipelines.servable import PipelineServable, close_nodes

#: builds a "custom" or "python" node (the serving side wires C libraries and Python handlers)
MakeNode = Callable[[NodeConfig], Node]

INVALID_ENTRY = "Pipeline definition is invalid"


def build_pipeline(config: PipelineConfig, acquire: Acquire, make_node: MakeNode) -> PipelineServable:
    """A servable running ``config``, or :class:`PipelineInvalid` saying why it cannot be served."""
    if config.invalid:
        raise PipelineInvalid(INVALID_ENTRY, f"pipeline: {config.name}; {config.invalid}")
    graph = v.plan(config)
    nodes: list[Node | None] = [None] * len(graph.steps)
    try:
        for step in graph.steps:
            if step.config is not None:
                nodes[step.index] = _make(step.config, acquire, make_node)
        check_connections(graph, nodes)
        metadata = derive(config, graph, nodes)
    except BaseException:
        close_nodes(nodes)
        raise
    return PipelineServable(config, graph, nodes, metadata)


def _make(node: NodeConfig, acquire: Acquire, make_node: MakeNode) -> Node:
    if node.kind == "DL model":
        assert node.model_name is not None  # checked by plan()
        try:
            return ModelNode(node.model_name, node.version, acquire)
        except ServingError as error:
            version = node.version if node.version is not None else "newest"
            raise PipelineInvalid(
                v.MISSING_MODEL,
                f"node: {node.name}; model: {node.model_name}; version: {version} ({error.message})",
            ) from error
    try:
        return make_node(node)
    except PipelineInvalid:
        raise
    except ServingError as error:
        raise PipelineInvalid(error.message, f"node: {node.name}") from error


__all__ = ["MakeNode", "build_pipeline"]
