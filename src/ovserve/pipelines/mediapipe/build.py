"""From a parsed ``graph.pbtxt`` to a runnable :class:`GraphDefinition`, checking it as OVMS would.

Every problem is a :class:`~ovserve.errors.LoadError` whose message names the node, the
stream or the calculator, so the graph's status says what to fix: a calculator ovserve
does not have, a graph stream of a packet type it does not serve, a node input no one
produces, a stream produced twice, a cycle, options a calculator needs and lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ovserve.errors import LoadError
from ovserve.pipelines.mediapipe import config as cfg
from ovserve.pipelines.mediapipe.calculators import (
    Acquire,
    Calculator,
    ConverterCalculator,
    InferenceCalculator,
    PythonCalculator,
    PythonNodeFactory,
    Session,
)
from ovserve.pipelines.mediapipe.streams import SERVED_TYPES, Stream, not_served_why, parse_stream
from ovserve.pipelines.python_handler import resolve_handler

LOOPBACK = "LOOPBACK"
SESSION_TAG = "SESSION"
#: the side packet OVMS gives every Python node
PYTHON_RESOURCES = "PYTHON_NODE_RESOURCES"
#: inference calculator tags of packet types ovserve does not run (vectors, MediaPipe/TF tensors)
_TENSOR_TAGS_NOT_SERVED = ("OVTENSORS", "TENSORS", "TFTENSOR", "TFLITE_TENSOR", "TENSOR")
_HANDLERS = ("", "DefaultInputStreamHandler", "SyncSetInputStreamHandler")


@dataclass
class GraphDefinition:
    """A checked graph: its input and output streams by name, its calculators in a runnable order."""

    inputs: dict[str, Stream]
    outputs: dict[str, Stream]
    calculators: list[Calculator] = field(default_factory=list)
    #: stream name -> indexes of the calculators that take it
    consumers: dict[str, list[int]] = field(default_factory=dict)

    @property
    def streaming(self) -> bool:
        """Whether a node may answer one request several times (a generative Python node)."""
        return any(c.generative for c in self.calculators)

    def close(self) -> None:
        for calculator in self.calculators:
            calculator.close()


@dataclass(frozen=True)
class GraphContext:
    """What building a graph needs from the server: the graph file, model pinning, Python nodes."""

    path: Path
    base_path: str
    acquire: Acquire
    make_python_node: PythonNodeFactory


def build_graph(text: str, ctx: GraphContext) -> GraphDefinition:
    """Parse, check and build the graph of ``text``; raises :class:`LoadError` naming the problem."""
    graph = cfg.parse_graph_text(text, ctx.path)
    missing = [n.calculator for n in graph.node if n.calculator not in cfg.OPTIONS]
    if missing:
        raise _error(ctx, f"calculator {', '.join(dict.fromkeys(missing))} is not provided by ovserve")
    definition = GraphDefinition(
        inputs=_graph_streams(graph.input_stream, "input", ctx),
        outputs=_graph_streams(graph.output_stream, "output", ctx),
    )
    if not definition.outputs:
        raise _error(ctx, "the graph has no output_stream: a request would get no answer")
    sessions = _sessions(graph, ctx)
    built: list[Calculator] = []
    try:
        for index, node in enumerate(graph.node):
            if node.calculator != cfg.SESSION:
                built.append(_calculator(node, _node_name(node, index), sessions, ctx))
        definition.calculators = _ordered(built, definition, ctx)
    except BaseException:
        for calculator in built:
            calculator.close()
        raise
    for index, calculator in enumerate(definition.calculators):
        for stream in calculator.inputs:
            definition.consumers.setdefault(stream.name, []).append(index)
    return definition


def _error(ctx: GraphContext, detail: str) -> LoadError:
    return LoadError(f"{cfg.INITIALIZATION_ERROR} - {ctx.path}: {detail}")


def _node_name(node: cfg.NodeConfig, index: int) -> str:
    return node.name or f"{node.calculator}_{index}"


def _streams(texts: Iterable[str], what: str, ctx: GraphContext) -> list[Stream]:
    streams = []
    for text in texts:
        try:
            streams.append(parse_stream(text))
        except ValueError as exc:
            raise _error(ctx, f"{what}: {exc}") from None
    return streams


def _graph_streams(texts: Iterable[str], kind: str, ctx: GraphContext) -> dict[str, Stream]:
    streams: dict[str, Stream] = {}
    tags: set[str] = set()
    for stream in _streams(texts, f"graph {kind} stream", ctx):
        if stream.name in streams:
            raise _error(ctx, f"graph {kind} stream {stream.name} is declared twice")
        if stream.tag and stream.tag_index in tags:
            raise _error(ctx, f"graph {kind} streams share the tag {stream.tag}")
        if stream.packet_type not in SERVED_TYPES:
            raise _error(
                ctx,
                f"graph {kind} stream {stream.tag}:{stream.name} carries "
                f"{not_served_why(stream.packet_type)}, which ovserve does not serve "
                "(served: OVTENSOR or no tag, OVMS_PY_TENSOR)",
            )
        tags.add(stream.tag_index)
        streams[stream.name] = stream
    return streams


def _sessions(graph: cfg.GraphConfig, ctx: GraphContext) -> dict[str, Session]:
    """Every session calculator's side packet name -> the model it names."""
    sessions: dict[str, Session] = {}
    for index, node in enumerate(graph.node):
        if node.calculator != cfg.SESSION:
            continue
        name = _node_name(node, index)
        options = cfg.node_options(node, cfg.OPTIONS[cfg.SESSION])
        if node.input_stream or node.output_stream:
            raise _error(ctx, f"node {name}: {cfg.SESSION} takes and gives no streams")
        if not options.servable_name:
            raise _error(ctx, f"node {name}: servable_name is not set")
        if options.service_url:
            raise _error(ctx, f"node {name}: a remote session (service_url) is not served by ovserve")
        version = options.servable_version
        if version and not (version.isascii() and version.isdigit()):
            raise _error(ctx, f"node {name}: servable_version {version!r} is not a number")
        packets = [s for s in _streams(node.output_side_packet, f"node {name}", ctx) if s.tag == SESSION_TAG]
        if len(packets) != 1:
            raise _error(ctx, f"node {name}: needs one output_side_packet SESSION:<name>")
        pinned = int(version) if version else None  # 0 or none: the newest version, as OVMS
        sessions[packets[0].name] = Session(options.servable_name, pinned or None)
    return sessions


def _calculator(
    node: cfg.NodeConfig, name: str, sessions: dict[str, Session], ctx: GraphContext
) -> Calculator:
    inputs = _streams(node.input_stream, f"node {name}", ctx)
    outputs = _streams(node.output_stream, f"node {name}", ctx)
    if node.calculator == cfg.INFERENCE:
        return _inference(node, name, (inputs, outputs), sessions, ctx)
    if node.calculator == cfg.PYTHON:
        return _python(node, name, (inputs, outputs), ctx)
    if len(inputs) != 1 or len(outputs) != 1:
        raise _error(ctx, f"node {name}: {cfg.CONVERTER} takes one input stream and gives one output stream")
    return ConverterCalculator(name, (tuple(inputs), tuple(outputs)))


def _inference(
    node: cfg.NodeConfig,
    name: str,
    streams: tuple[list[Stream], list[Stream]],
    sessions: dict[str, Session],
    ctx: GraphContext,
) -> Calculator:
    inputs, outputs = streams
    side = [s for s in _streams(node.input_side_packet, f"node {name}", ctx) if s.tag == SESSION_TAG]
    if len(side) != 1 or side[0].name not in sessions:
        raise _error(ctx, f"node {name}: needs input_side_packet SESSION:<name> of a {cfg.SESSION}")
    if not inputs or not outputs:
        raise _error(ctx, f"node {name}: {cfg.INFERENCE} needs input and output streams")
    for stream in (*inputs, *outputs):
        if not stream.tag:
            raise _error(
                ctx, f"node {name}: stream {stream.name} needs a tag (the model's tensor or a tag map key)"
            )
        if stream.tag.startswith(_TENSOR_TAGS_NOT_SERVED):
            raise _error(
                ctx,
                f"node {name}: stream tag {stream.tag} (vectors, MediaPipe or TF tensors) is not served by ovserve",
            )
    options = cfg.node_options(node, cfg.OPTIONS[cfg.INFERENCE])
    names = (dict(options.tag_to_input_tensor_names), dict(options.tag_to_output_tensor_names))
    return InferenceCalculator(
        name, (tuple(inputs), tuple(outputs)), sessions[side[0].name], names, ctx.acquire
    )


def _python(
    node: cfg.NodeConfig, name: str, streams: tuple[list[Stream], list[Stream]], ctx: GraphContext
) -> Calculator:
    if not node.name:
        raise _error(ctx, f"node {name}: a {cfg.PYTHON} node must be named")
    loop_in = [s for s in streams[0] if s.tag == LOOPBACK]
    loop_out = [s for s in streams[1] if s.tag == LOOPBACK]
    if [s.name for s in loop_in] != [s.name for s in loop_out]:
        raise _error(ctx, f"node {name}: LOOPBACK input and output streams must be one and the same stream")
    stream_handler = (
        node.input_stream_handler.input_stream_handler if node.HasField("input_stream_handler") else ""
    )
    if stream_handler not in _HANDLERS:
        raise _error(ctx, f"node {name}: input_stream_handler {stream_handler} is not served by ovserve")
    inputs = tuple(s for s in streams[0] if s.tag != LOOPBACK)
    outputs = tuple(s for s in streams[1] if s.tag != LOOPBACK)
    options = cfg.node_options(node, cfg.OPTIONS[cfg.PYTHON])
    if not options.handler_path:
        raise _error(ctx, f"node {name}: handler_path is not set")
    handler = resolve_handler(  # a relative handler_path is taken from the graph's base path
        node.name,
        options.handler_path,
        [s.name for s in streams[0]],  # OVMS's kwargs: every stream, as configured
        [s.name for s in streams[1]],
        ctx.base_path,
    )
    python_node = ctx.make_python_node(handler)
    return PythonCalculator(name, (inputs, outputs), python_node, generative=bool(loop_in))


def _ordered(
    calculators: list[Calculator], definition: GraphDefinition, ctx: GraphContext
) -> list[Calculator]:
    """``calculators`` in an order where each comes after the producers of its inputs; checks the wiring."""
    producer: dict[str, str] = {name: "the graph input" for name in definition.inputs}
    for calculator in calculators:
        for stream in calculator.outputs:
            if stream.name in producer:
                raise _error(
                    ctx,
                    f"stream {stream.name} is produced by both {producer[stream.name]} and node {calculator.name}",
                )
            producer[stream.name] = f"node {calculator.name}"
    for calculator in calculators:
        for stream in calculator.inputs:
            if stream.name not in producer:
                raise _error(
                    ctx,
                    f"node {calculator.name}: input stream {stream.name} is produced by no node or graph input",
                )
    for name in definition.outputs:
        if name not in producer:
            raise _error(ctx, f"graph output stream {name} is produced by no node or graph input")
    ready = set(definition.inputs)
    ordered: list[Calculator] = []
    waiting = list(calculators)
    while waiting:
        runnable = [c for c in waiting if all(s.name in ready for s in c.inputs)]
        if not runnable:
            raise _error(ctx, f"nodes {', '.join(c.name for c in waiting)} form a cycle")
        for calculator in runnable:
            ordered.append(calculator)
            ready.update(s.name for s in calculator.outputs)
            waiting.remove(calculator)
    return ordered
