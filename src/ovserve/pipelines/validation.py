"""The structural checks of a pipeline definition (OVMS's), and its :class:`~.graph.Graph`.

:func:`plan` needs only the configuration: unique node names, references to existing
nodes and declared outputs, the demultiplexer rules, no cycle, every node on a path to
``response``, and demultiplexers gathered in LIFO order with every node's inputs on one
demultiplexing level. The checks that need the nodes' tensors are in
:mod:`.connections`. Each failure is a :class:`~ovserve.errors.PipelineInvalid` with
OVMS's status text and a detail naming the node and tensor.
"""

from __future__ import annotations

from collections.abc import Mapping

from ovserve.config.pipelines import REQUEST_NODE, RESPONSE_NODE, NodeConfig, PipelineConfig, TensorSource
from ovserve.errors import PipelineInvalid
from ovserve.pipelines.graph import REQUEST_INDEX, Binding, Graph, Step

# OVMS's status texts of pipeline validation (src/status.cpp)
DUPLICATE_NODE = "Pipeline definition has multiple nodes with the same name"
MISSING_NODE = "Pipeline definition has reference to missing node"
MISSING_MODEL = "Pipeline definition has reference to missing model"
MISSING_DATA_SOURCE = "Pipeline definition has reference to missing data source"
MISSING_MODEL_OUTPUT = "Pipeline definition has reference to missing model output"
MISSING_MODEL_INPUT = "Pipeline definition has connection to non existing model input"
INPUTS_NOT_CONNECTED = "Pipeline definition does not have connections for all inputs of underlying models"
RESPONSE_AS_DEPENDENCY = "Pipeline definition has response node used as dependency node"
CYCLE = "Pipeline definition contains a cycle"
UNCONNECTED = "Pipeline definition has unconnected nodes"
WRONG_KIND = "Unsupported node type"
GATHER_MISSING = "Gather node refers to not existing node"
GATHER_NOT_DEMULTIPLEXER = "Gather node refers to node that isn't demultiplexer"
LIFO = "Demultiplexer and gather nodes are not in LIFO order"
DYNAMIC_WITH_OTHERS = "Pipeline definition has multiple demultiplexers with at least one dynamic"
BAD_DEMULTIPLY_COUNT = "Invalid demultiply_count"

_KIND_FIELD = {"DL model": "model_name", "custom": "library_name", "python": "handler_path"}


def demultiply_count(value: int | None) -> int | None:
    """OVMS's reading of ``demultiply_count``: 0 (deprecated) means dynamic, -1."""
    return -1 if value == 0 else value


def plan(config: PipelineConfig) -> Graph:
    """The graph of ``config``, or :class:`PipelineInvalid` naming the first structural problem."""
    name = config.name
    _check_nodes(config)
    index = {REQUEST_NODE: REQUEST_INDEX} | {n.name: i + 1 for i, n in enumerate(config.nodes)}
    response = len(config.nodes) + 1
    index[RESPONSE_NODE] = response
    configs: list[NodeConfig | None] = [None, *config.nodes, None]
    inputs: list[Mapping[str, TensorSource]] = [{}, *(n.inputs for n in config.nodes), config.outputs]
    outputs = [{i: i for i in config.inputs}] + [
        {o.alias: o.data_item for o in n.outputs} for n in config.nodes
    ]
    bindings: list[tuple[Binding, ...]] = []
    for step, wiring in enumerate(inputs):
        config_ = configs[step]
        bindings.append(tuple(_bind(_where(config_, t), t, src, index, outputs) for t, src in wiring.items()))
    sources = [tuple(dict.fromkeys(b.source for b in bs)) for bs in bindings]
    if config.demultiply_count is not None and not any(REQUEST_INDEX in s for s in sources):
        raise PipelineInvalid(
            BAD_DEMULTIPLY_COUNT, f"pipeline: {name} demultiplies its inputs, which nothing reads"
        )
    order = _topological_order(name, sources, [_name(c, i, response) for i, c in enumerate(configs)])
    _check_connected(sources, configs, response)
    counts = [
        demultiply_count(config.demultiply_count),
        *(demultiply_count(n.demultiply_count) for n in config.nodes),
    ]
    counts.append(None)
    gather = [None, *(index[n.gather_from_node] if n.gather_from_node else None for n in config.nodes), None]
    levels = _levels(order, sources, configs, counts, gather, response)
    steps = _steps(configs, bindings, sources, levels, counts, response)
    renumbered = _renumber(steps, order)
    gatherers: dict[int, list[int]] = {}
    for planned in renumbered:
        for demultiplexer in planned.gathered:
            gatherers.setdefault(demultiplexer, []).append(planned.index)
    return Graph(name, renumbered, {d: tuple(g) for d, g in gatherers.items()})


def _name(config: NodeConfig | None, step: int, response: int) -> str:
    if config is not None:
        return config.name
    return RESPONSE_NODE if step == response else REQUEST_NODE


def _where(config: NodeConfig | None, tensor: str) -> str:
    """Names a step's input for messages (``response``'s inputs are the pipeline's outputs)."""
    return f"node: {config.name}; input: {tensor}" if config is not None else f"pipeline output: {tensor}"


def _check_nodes(config: PipelineConfig) -> None:
    seen = {REQUEST_NODE, RESPONSE_NODE}
    for node in config.nodes:
        if node.name in seen:
            raise PipelineInvalid(DUPLICATE_NODE, f"node: {node.name}")
        seen.add(node.name)
        field = _KIND_FIELD.get(node.kind)
        if field is None:
            raise PipelineInvalid(WRONG_KIND, f"node: {node.name}; type: {node.kind}")
        if not getattr(node, field):
            raise PipelineInvalid(WRONG_KIND, f"node: {node.name} of type {node.kind} has no {field}")
    counts = [demultiply_count(n.demultiply_count) for n in config.nodes]
    counts.append(demultiply_count(config.demultiply_count))
    wheres = [f"node: {n.name}" for n in config.nodes] + [f"pipeline: {config.name}"]
    for where, count in zip(wheres, counts, strict=True):
        if count is not None and count < -1:
            raise PipelineInvalid(
                BAD_DEMULTIPLY_COUNT, f"{where}; demultiply_count: {count} (use -1 for dynamic)"
            )
    present = [c for c in counts if c is not None]
    if -1 in present and len(present) > 1:
        raise PipelineInvalid(DYNAMIC_WITH_OTHERS, f"pipeline: {config.name}")
    names = {n.name: n for n in config.nodes}
    demultiplexes_request = config.demultiply_count is not None
    for node in config.nodes:
        gathered = node.gather_from_node
        if gathered is None:
            continue
        if gathered != REQUEST_NODE and gathered not in names:
            raise PipelineInvalid(GATHER_MISSING, f"node: {node.name}; gather_from_node: {gathered}")
        source = names.get(gathered)
        is_demultiplexer = demultiplexes_request if source is None else source.demultiply_count is not None
        if not is_demultiplexer:
            raise PipelineInvalid(
                GATHER_NOT_DEMULTIPLEXER, f"node: {node.name}; gather_from_node: {gathered}"
            )


def _bind(
    where: str, tensor: str, src: TensorSource, index: Mapping[str, int], outputs: list[dict[str, str]]
) -> Binding:
    if src.node_name == RESPONSE_NODE:
        raise PipelineInvalid(RESPONSE_AS_DEPENDENCY, where)
    source = index.get(src.node_name)
    if source is None:
        raise PipelineInvalid(MISSING_NODE, f"{where}; missing node: {src.node_name}")
    item = outputs[source].get(src.data_item)
    if item is None:
        what = "pipeline input" if source == REQUEST_INDEX else f"output alias of node {src.node_name}"
        raise PipelineInvalid(MISSING_DATA_SOURCE, f"{where}; no {what}: {src.data_item}")
    return Binding(tensor, source, item)


def _topological_order(pipeline: str, sources: list[tuple[int, ...]], names: list[str]) -> list[int]:
    """Kahn's order (ties by configuration order); a cycle names the nodes on or after it."""
    waiting = [len(s) for s in sources]
    dependents: list[list[int]] = [[] for _ in sources]
    for step, srcs in enumerate(sources):
        for src in srcs:
            dependents[src].append(step)
    ready = [s for s, n in enumerate(waiting) if n == 0]
    order: list[int] = []
    while ready:
        step = ready.pop(0)
        order.append(step)
        for dependent in dependents[step]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    if len(order) != len(sources):
        stuck = [names[s] for s in range(len(sources)) if waiting[s] > 0 and s in _on_cycles(sources)]
        raise PipelineInvalid(CYCLE, f"pipeline: {pipeline}; nodes: {', '.join(stuck)}")
    return order


def _on_cycles(sources: list[tuple[int, ...]]) -> set[int]:
    """Steps that reach themselves through their sources."""
    found: set[int] = set()
    for start in range(len(sources)):
        stack, seen = list(sources[start]), set()
        while stack:
            step = stack.pop()
            if step == start:
                found.add(start)
                break
            if step not in seen:
                seen.add(step)
                stack.extend(sources[step])
    return found


def _check_connected(sources: list[tuple[int, ...]], configs: list[NodeConfig | None], response: int) -> None:
    reached, stack = {response}, [response]
    while stack:
        for src in sources[stack.pop()]:
            if src not in reached:
                reached.add(src)
                stack.append(src)
    lost = [c.name for i, c in enumerate(configs) if c is not None and i not in reached]
    if lost:
        raise PipelineInvalid(UNCONNECTED, f"nodes with no path to response: {', '.join(lost)}")


def _levels(
    order: list[int],
    sources: list[tuple[int, ...]],
    configs: list[NodeConfig | None],
    counts: list[int | None],
    gather: list[int | None],
    response: int,
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(level, gathered) per step, checking OVMS's LIFO rule and one level per step's inputs.

    ``response`` gathers every level its inputs are on. None of them is gathered by a node too:
    a node's outputs are on a level without the demultiplexer it gathers, and so are all
    outputs downstream of it, ``response``'s inputs included.
    """
    names = [_name(c, i, response) for i, c in enumerate(configs)]
    out: list[tuple[int, ...]] = [() for _ in sources]
    result: list[tuple[tuple[int, ...], tuple[int, ...]]] = [((), ()) for _ in sources]
    for step in order:
        in_levels = {out[src] for src in sources[step]}
        if len(in_levels) > 1:
            detail = "; ".join(f"{names[s]}: {_describe(out[s], names)}" for s in sources[step])
            raise PipelineInvalid(
                LIFO, f"node: {names[step]} takes inputs from different demultiplexing levels ({detail})"
            )
        in_level = next(iter(in_levels), ())
        if step == response:  # gathers every level left (none is gathered elsewhere: see the docstring)
            result[step] = ((), in_level)
            continue
        target = gather[step]
        level: tuple[int, ...]
        gathered: tuple[int, ...]
        if target is None:
            level, gathered = in_level, ()
        elif target not in in_level:
            raise PipelineInvalid(
                LIFO,
                f"node: {names[step]} gathers from {names[target]}, which is not on the path of its inputs",
            )
        elif in_level[-1] != target:
            raise PipelineInvalid(
                LIFO,
                f"node: {names[step]} gathers from {names[target]} before {names[in_level[-1]]}, demultiplexed later",
            )
        else:
            level, gathered = in_level[:-1], (target,)
        result[step] = (level, gathered)
        out[step] = (*level, step) if counts[step] is not None else level
    return result


def _describe(level: tuple[int, ...], names: list[str]) -> str:
    return "items of " + " > ".join(names[d] for d in level) if level else "not demultiplexed"


def _steps(
    configs: list[NodeConfig | None],
    bindings: list[tuple[Binding, ...]],
    sources: list[tuple[int, ...]],
    levels: list[tuple[tuple[int, ...], tuple[int, ...]]],
    counts: list[int | None],
    response: int,
) -> list[Step]:
    dependents: list[list[int]] = [[] for _ in configs]
    kept: list[dict[str, None]] = [{} for _ in configs]
    for step, srcs in enumerate(sources):
        for src in srcs:
            dependents[src].append(step)
        for binding in bindings[step]:
            kept[binding.source][binding.item] = None
    return [
        Step(
            index=i,
            name=_name(c, i, response),
            config=c,
            bindings=bindings[i],
            sources=sources[i],
            dependents=tuple(dependents[i]),
            level=levels[i][0],
            gathered=levels[i][1],
            demultiply=counts[i],
            kept=tuple(kept[i]),
        )
        for i, c in enumerate(configs)
    ]


def _renumber(steps: list[Step], order: list[int]) -> tuple[Step, ...]:
    """The steps in topological order, indices (and every reference to one) renumbered to match."""
    new = {old: position for position, old in enumerate(order)}

    def bind(b: Binding) -> Binding:
        return Binding(b.name, new[b.source], b.item)

    renumbered = []
    for old in order:
        s = steps[old]
        renumbered.append(
            Step(
                index=new[old],
                name=s.name,
                config=s.config,
                bindings=tuple(bind(b) for b in s.bindings),
                sources=tuple(new[x] for x in s.sources),
                dependents=tuple(sorted(new[x] for x in s.dependents)),
                level=tuple(new[x] for x in s.level),
                gathered=tuple(new[x] for x in s.gathered),
                demultiply=s.demultiply,
                kept=s.kept,
            )
        )
    return tuple(renumbered)
