"""The checks of a pipeline that need its nodes' tensors (OVMS's), once the nodes exist.

For every node: each wired input exists on the node, every node input is wired, each
wired output exists on its producer; connected tensors agree in precision and in shape
(dimension ranges that overlap are enough), a demultiplexer's outputs have at least 3
dimensions and a first one that fits its count, and a gathering node's inputs have the
gathered count first. Strings cannot cross between nodes nor be demultiplexed; stateful
models cannot be pipeline nodes.

A node that declares no inputs (no outputs) is taken to accept any (give any): nothing
is checked on that side; nor for a tensor it declares with :data:`~.nodes.UNKNOWN_DTYPE`
(a Python node names its tensors but knows them only when it runs).
"""

from __future__ import annotations

from collections.abc import Sequence

from ovserve.errors import PipelineInvalid
from ovserve.pipelines import validation as v
from ovserve.pipelines.graph import REQUEST_INDEX, Graph, Step
from ovserve.pipelines.nodes import UNKNOWN_DTYPE, Node
from ovserve.tensors import Dim, TensorSpec, format_dims, precision_name

SHAPE_MISMATCH = "Invalid input shape"
PRECISION_MISMATCH = "Invalid input precision"
STRING_CONNECTION = "Connecting nodes with string precision is not supported"
NOT_ENOUGH_DIMENSIONS = "Pipeline has not enough shape dimensions to demultiply"
COUNT_MISMATCH = "Demultiplication count does not match tensor first dimension"
STRING_DEMULTIPLY = "Demultiplication is not supported for string precision"
STATEFUL = "Stateful models cannot be used in pipelines"
#: the fewest dimensions a demultiplexed tensor may have (OVMS: its items keep a batch dimension)
DEMULTIPLY_MIN_RANK = 3


def check_connections(graph: Graph, nodes: Sequence[Node | None]) -> None:
    """Raise :class:`PipelineInvalid` naming the first problem; ``nodes[i]`` runs ``graph.steps[i]``."""
    for step in graph.steps:
        node = nodes[step.index]
        if node is not None and getattr(node, "is_stateful", False):
            raise PipelineInvalid(STATEFUL, f"node: {step.name}")
        if node is not None:
            _check_inputs_wired(step, node)
            _check_demultiplexer(step, node)
        for binding in step.bindings:
            producer = nodes[binding.source]
            if binding.source == REQUEST_INDEX or producer is None or not producer.outputs:
                continue
            out = producer.outputs.get(binding.item)
            source = graph.steps[binding.source]
            if out is None:
                raise PipelineInvalid(
                    v.MISSING_MODEL_OUTPUT,
                    f"node: {source.name} has no output {binding.item} (it has {', '.join(producer.outputs)})",
                )
            if node is not None and node.inputs:
                _check_pair(graph, step, node.inputs[binding.name], source, out)


def _check_inputs_wired(step: Step, node: Node) -> None:
    if not node.inputs:
        return
    wired = {b.name for b in step.bindings}
    for name in wired:
        if name not in node.inputs:
            raise PipelineInvalid(
                v.MISSING_MODEL_INPUT, f"node: {step.name}; input: {name} (it takes {', '.join(node.inputs)})"
            )
    missing = [name for name in node.inputs if name not in wired]
    if missing:
        raise PipelineInvalid(v.INPUTS_NOT_CONNECTED, f"node: {step.name}; inputs: {', '.join(missing)}")


def _check_demultiplexer(step: Step, node: Node) -> None:
    if step.demultiply is None:
        return
    for spec in node.outputs.values():
        if not known(spec):
            continue
        if spec.is_string:
            raise PipelineInvalid(STRING_DEMULTIPLY, f"node: {step.name}; output: {spec.name}")
        _check_demultiplied(spec.dims, step.demultiply, f"node: {step.name}; output: {spec.name}")


def _check_demultiplied(dims: tuple[Dim, ...], count: int, where: str) -> None:
    if len(dims) < DEMULTIPLY_MIN_RANK:
        raise PipelineInvalid(
            NOT_ENOUGH_DIMENSIONS,
            f"{where}; shape: {format_dims(dims)}; at least {DEMULTIPLY_MIN_RANK} dimensions are needed",
        )
    if count != -1 and not _overlap(dims[0], Dim.static(count)):
        raise PipelineInvalid(
            COUNT_MISMATCH, f"{where}; shape: {format_dims(dims)}; demultiply_count: {count}"
        )


def _check_pair(graph: Graph, step: Step, into: TensorSpec, source: Step, out: TensorSpec) -> None:
    """The tensor ``out`` of ``source`` feeding input ``into`` of ``step`` (both nodes)."""
    if not (known(into) and known(out)):
        return
    out_dims, in_dims = out.dims, into.dims
    if source.demultiply is not None:
        out_dims = out_dims[1:]  # each item (checked by _check_demultiplexer)
    if step.gathered:
        gatherer = graph.steps[step.gathered[0]]
        count = gatherer.demultiply if gatherer.demultiply is not None else -1
        where = f"node: {step.name}; input: {into.name}; gathers from {gatherer.name}"
        _check_demultiplied(in_dims, count, where)
        in_dims = in_dims[1:]
    pair = (
        f"node: {step.name}; input: {into.name}; shape: {format_dims(in_dims)} vs node: {source.name}; "
        f"output: {out.name}; shape: {format_dims(out_dims)}"
    )
    if len(in_dims) != len(out_dims) or not all(map(_overlap, in_dims, out_dims)):
        raise PipelineInvalid(SHAPE_MISMATCH, pair)
    if into.dtype != out.dtype:
        raise PipelineInvalid(
            PRECISION_MISMATCH,
            f"node: {step.name}; input: {into.name}; precision: {precision_name(into.dtype)} vs node: "
            f"{source.name}; output: {out.name}; precision: {precision_name(out.dtype)}",
        )
    if into.is_string:
        raise PipelineInvalid(
            STRING_CONNECTION, f"node: {step.name}; input: {into.name} from node: {source.name}"
        )


def known(spec: TensorSpec) -> bool:
    """Whether ``spec`` describes its tensor (not a Python node's :data:`UNKNOWN_DTYPE`)."""
    return spec.dtype != UNKNOWN_DTYPE


def _overlap(a: Dim, b: Dim) -> bool:
    """Whether two dimension ranges share a value (OVMS's ``partiallyFitsInto``)."""
    return (a.hi == -1 or a.hi >= b.lo) and (b.hi == -1 or b.hi >= a.lo)


def intersect(a: Dim, b: Dim) -> Dim | None:
    """The values two dimension ranges share, or None."""
    if not _overlap(a, b):
        return None
    lo = max(a.lo, b.lo)
    hi = b.hi if a.hi == -1 else a.hi if b.hi == -1 else min(a.hi, b.hi)
    return Dim(lo, hi)
