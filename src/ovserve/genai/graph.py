"""OVMS's ``graph.pbtxt`` for generative models, read with protobuf's text format.

OVMS's export tooling (``ovms --pull`` / ``--configure``, ``export_model.py``) writes a
MediaPipe graph next to the model: one node whose calculator is ``HttpLLMCalculator``,
``EmbeddingsCalculatorOV`` or ``RerankCalculatorOV``, with the model directory and its
settings in the node's options. :func:`read_graph` turns such a file into the model
config ovserve serves it with; options ovserve does not serve make a :class:`LoadError`
that names them, so the model's status says why it is not served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from ovserve._generated.mediapipe.calculators import genai_calculators_pb2 as calculators
from ovserve._generated.mediapipe.framework import calculator_pb2
from ovserve.config.genai import REASONING_PARSERS, TOOL_PARSERS, GenerativeConfig
from ovserve.config.graphs import GENERATIVE_CALCULATORS
from ovserve.errors import LoadError

#: each generative task's node options
_OPTIONS: dict[str, Any] = {
    "text_generation": calculators.LLMCalculatorOptions,
    "embeddings": calculators.EmbeddingsCalculatorOVOptions,
    "rerank": calculators.RerankCalculatorOVOptions,
}
#: calculator -> (task, node options), for OVMS's generative calculators (config/graphs.py)
_TASKS: dict[str, tuple[str, Any]] = {
    name: (task, _OPTIONS[task]) for name, task in GENERATIVE_CALCULATORS.items()
}
#: LLM options ovserve does not serve (when set), and why
_LLM_UNSUPPORTED = {
    "draft_models_path": "speculative decoding",
    "draft_device": "speculative decoding",
    "draft_max_num_batched_tokens": "speculative decoding",
    "draft_cache_size": "speculative decoding",
    "draft_block_size": "speculative decoding",
    "draft_max_num_seqs": "speculative decoding",
    "draft_dynamic_split_fuse": "speculative decoding",
    "draft_eagle3_mode": "speculative decoding",
    "cache_eviction_config": "KV cache eviction",
    "sparse_attention_config": "sparse attention",
    "enable_tool_guided_generation": "tool-guided generation",
    "chat_template_mode": "choosing the chat template engine",
}


@dataclass(frozen=True)
class GraphModel:
    """What a graph.pbtxt serves: the model directory, its task and options, device, plugin config."""

    models_path: Path
    generative: GenerativeConfig
    target_device: str | None
    plugin_config: dict[str, str]


def read_graph(path: Path) -> GraphModel:
    """Parse ``path`` (a graph.pbtxt); raises :class:`LoadError` naming what is wrong or unsupported.

    ``models_path`` is resolved (symlinks followed) now.
    """
    model = parse_graph(read_graph_bytes(path), path)
    return replace(model, models_path=model.models_path.resolve())


def read_graph_bytes(path: Path) -> bytes:
    """The content of graph.pbtxt ``path``; raises :class:`LoadError` when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot read the graph: {exc}") from None


def parse_graph(data: bytes, path: Path, base_path: Path | None = None) -> GraphModel:
    """:func:`read_graph` on content already read from ``path``, with ``models_path`` not resolved yet.

    A relative ``models_path`` is relative to the graph's ``base_path`` (as OVMS resolves it; by
    default the graph file's directory, which is the base path of a ``<base_path>/graph.pbtxt``).

    Parsing is pure, so a caller may keep the result while the content stays the same, and
    resolve ``models_path`` each time it uses it (a symlinked model directory may be swapped).
    """
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise LoadError(f"{path}: cannot read the graph: {exc}") from None
    graph = calculator_pb2.CalculatorGraphConfig()
    try:
        text_format.Parse(text, graph)
    except text_format.ParseError as exc:
        raise LoadError(f"{path}: not a MediaPipe graph ovserve can read: {exc}") from None
    nodes = [node for node in graph.node if node.calculator in _TASKS]
    others = sorted({node.calculator for node in graph.node} - set(_TASKS))
    if len(nodes) != 1 or others:
        found = ", ".join(node.calculator for node in graph.node) or "no node"
        raise LoadError(
            f"{path}: ovserve serves graphs of one {', '.join(_TASKS)} node; this graph has {found}"
        )
    node = nodes[0]
    task, options_type = _TASKS[node.calculator]
    options = options_type()
    for packed in node.node_options:
        if packed.Is(options_type.DESCRIPTOR):
            packed.Unpack(options)
            break
    else:
        raise LoadError(f"{path}: node {node.name or node.calculator} has no {options_type.DESCRIPTOR.name}")
    if not options.models_path:
        raise LoadError(f"{path}: node {node.name or node.calculator}: models_path is not set")
    models_path = Path(options.models_path)
    if not models_path.is_absolute():
        models_path = (path.parent if base_path is None else base_path) / models_path
    return GraphModel(
        models_path=models_path,
        generative=_generative(task, options, path),
        target_device=_device(options) or None,
        plugin_config=_plugin_config(options.plugin_config, path),
    )


def _device(options: Any) -> str:
    return str(options.device if hasattr(options, "device") else options.target_device)


def _generative(task: str, options: Any, path: Path) -> GenerativeConfig:
    if task == "embeddings":
        pooling = calculators.EmbeddingsCalculatorOVOptions.Pooling.Name(options.pooling)
        return GenerativeConfig(
            task="embeddings",
            normalize=options.normalize_embeddings,
            truncate=options.truncate,
            pooling=pooling,
        )
    if task == "rerank":
        position = options.max_position_embeddings if options.HasField("max_position_embeddings") else None
        return GenerativeConfig(
            task="rerank", max_allowed_chunks=options.max_allowed_chunks, max_position_embeddings=position
        )
    unsupported = [name for name in _LLM_UNSUPPORTED if options.HasField(name) and _set(options, name)]
    pipeline = calculators.LLMCalculatorOptions.PipelineType.Name(options.pipeline_type)
    if pipeline not in ("AUTO", "LM", "LM_CB"):
        unsupported.append(f"pipeline_type {pipeline}")
    if options.tool_parser not in TOOL_PARSERS:
        unsupported.append(f"tool_parser {options.tool_parser}")
    if options.reasoning_parser not in REASONING_PARSERS:
        unsupported.append(f"reasoning_parser {options.reasoning_parser}")
    if unsupported:
        raise LoadError(f"{path}: options not supported by ovserve: {', '.join(unsupported)}")
    return GenerativeConfig(
        task="text_generation",
        max_num_seqs=options.max_num_seqs,
        pipeline_type=pipeline,
        enable_prefix_caching=options.enable_prefix_caching,
        max_num_batched_tokens=options.max_num_batched_tokens
        if options.HasField("max_num_batched_tokens")
        else None,
        cache_size=options.cache_size,
        dynamic_split_fuse=options.dynamic_split_fuse,
        max_tokens_limit=options.max_tokens_limit if options.HasField("max_tokens_limit") else None,
        best_of_limit=options.best_of_limit,
        tool_parser=options.tool_parser,
        reasoning_parser=options.reasoning_parser,
        cache_interval_multiplier=(
            options.cache_interval_multiplier if options.HasField("cache_interval_multiplier") else None
        ),
    )


def _set(options: Any, name: str) -> bool:
    """Whether a field set in the graph asks for something (false booleans ask for nothing)."""
    value = getattr(options, name)
    return value is not False


def _plugin_config(text: str, path: Path) -> dict[str, str]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise LoadError(f"{path}: plugin_config is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LoadError(f"{path}: plugin_config must be a JSON object")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
