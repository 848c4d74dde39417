"""A pipeline's inputs and outputs as clients see them, derived as OVMS derives them.

An input takes the spec of the node inputs it feeds (their common part, when it feeds
several: the same precision, dimension ranges intersected; none in common is an error);
the pipeline's own ``demultiply_count`` adds a leading dimension. An output takes the
spec of the node output it comes from, without the leading dimension when that node
demultiplexes, and with one leading dimension per demultiplexer that ``response``
gathers (the count, or -1 when dynamic).

A tensor nothing describes (an input wired only to ``response`` or to nodes that declare
no inputs; an output of such a node) is *unspecified*: FP32 of shape (-1) in metadata,
and the pipeline takes whatever the request sends for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ovserve.config.pipelines import PipelineConfig
from ovserve.errors import PipelineInvalid
from ovserve.pipelines.connections import DEMULTIPLY_MIN_RANK, NOT_ENOUGH_DIMENSIONS, intersect, known
from ovserve.pipelines.graph import REQUEST_INDEX, Graph
from ovserve.pipelines.nodes import Node
from ovserve.tensors import Dim, TensorSpec, format_dims, precision_name

AMBIGUOUS_INPUT = "Multiple nodes connected to the same pipeline input require different tensor metadata"
STRING_DEMULTIPLY = "Demultiplication is not supported for string precision"


@dataclass(frozen=True)
class PipelineMetadata:
    """The derived specs, in the configuration's order; ``unspecified`` names tensors nothing describes."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    unspecified: frozenset[str]


def unspecified_spec(name: str) -> TensorSpec:
    return TensorSpec(name, np.dtype(np.float32), (Dim.any(),))


def derive(config: PipelineConfig, graph: Graph, nodes: Sequence[Node | None]) -> PipelineMetadata:
    """The pipeline's metadata; :class:`PipelineInvalid` when two nodes want one input differently."""
    fed: dict[str, list[tuple[str, TensorSpec]]] = {name: [] for name in config.inputs}
    for step in graph.steps:
        node = nodes[step.index]
        for binding in step.bindings:
            if binding.source != REQUEST_INDEX or node is None or binding.name not in node.inputs:
                continue
            if known(node.inputs[binding.name]):  # a Python node's input says nothing of its tensor
                fed[binding.item].append((step.name, node.inputs[binding.name]))
    unspecified: set[str] = set()
    inputs = []
    request = graph.steps[REQUEST_INDEX]
    for name in config.inputs:
        spec = _common(name, fed[name])
        if spec is None:
            unspecified.add(name)
            inputs.append(unspecified_spec(name))
            continue
        if request.demultiply is not None:
            if spec.is_string:
                raise PipelineInvalid(STRING_DEMULTIPLY, f"pipeline input: {name}")
            spec = TensorSpec(name, spec.dtype, (_count_dim(request.demultiply), *spec.dims), spec.layout)
            if len(spec.dims) < DEMULTIPLY_MIN_RANK:
                raise PipelineInvalid(
                    NOT_ENOUGH_DIMENSIONS,
                    f"pipeline input: {name}; shape: {format_dims(spec.dims)}; "
                    f"at least {DEMULTIPLY_MIN_RANK} dimensions are needed",
                )
        inputs.append(spec)
    outputs = _outputs(graph, nodes, {s.name: s for s in inputs}, unspecified)
    return PipelineMetadata(tuple(inputs), tuple(outputs), frozenset(unspecified))


def _count_dim(count: int | None) -> Dim:
    return Dim.static(count) if count is not None and count > 0 else Dim.any()


def _common(name: str, wanted: list[tuple[str, TensorSpec]]) -> TensorSpec | None:
    if not wanted:
        return None
    first_node, first = wanted[0]
    dims = first.dims
    for node, spec in wanted[1:]:
        joined = [intersect(a, b) for a, b in zip(dims, spec.dims, strict=False)]
        if spec.dtype != first.dtype or len(spec.dims) != len(dims) or None in joined:
            raise PipelineInvalid(
                AMBIGUOUS_INPUT,
                f"pipeline input: {name}; node {first_node} wants {precision_name(first.dtype)} "
                f"{format_dims(first.dims)}, node {node} wants {precision_name(spec.dtype)} {format_dims(spec.dims)}",
            )
        dims = tuple(d for d in joined if d is not None)
    return TensorSpec(name, first.dtype, dims, first.layout)


def _outputs(
    graph: Graph, nodes: Sequence[Node | None], inputs: dict[str, TensorSpec], unspecified: set[str]
) -> list[TensorSpec]:
    response = graph.response
    gathered = tuple(_count_dim(graph.steps[d].demultiply) for d in response.gathered)
    outputs = []
    for binding in response.bindings:
        source = graph.steps[binding.source]
        node = nodes[binding.source]
        if binding.source == REQUEST_INDEX:
            spec = inputs[binding.item]
            if binding.item in unspecified:
                unspecified.add(binding.name)
            outputs.append(TensorSpec(binding.name, spec.dtype, spec.dims))
            continue
        produced = node.outputs.get(binding.item) if node is not None else None
        if produced is None or not known(produced):
            unspecified.add(binding.name)
            outputs.append(unspecified_spec(binding.name))
            continue
        dims = produced.dims[1:] if source.demultiply is not None else produced.dims
        outputs.append(TensorSpec(binding.name, produced.dtype, (*gathered, *dims)))
    return outputs
