"""Frozen configuration of pipelines: OVMS's ``pipeline_config_list`` and ``custom_node_library_config_list``.

These are what config.json means once parsed (the parser lives beside them); the
pipelines package (``ovserve.pipelines``) validates them against the served models and
runs them. Field names follow OVMS's config.json keys.

A pipeline's graph: the implicit ``request`` node gives the pipeline's ``inputs``; each
:class:`NodeConfig` takes named inputs from ``request`` or from another node's output
(by that node's *alias* of the output); the implicit ``response`` node takes the
pipeline's ``outputs`` the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

#: The implicit source node of every pipeline (its inputs are the request's tensors).
REQUEST_NODE = "request"
#: The implicit sink node of every pipeline (its outputs are the response's tensors).
RESPONSE_NODE = "response"

#: OVMS's node types, and ovserve's Python node (an extension: OVMS runs Python only in graphs).
NodeKind = Literal["DL model", "custom", "python"]


@dataclass(frozen=True)
class TensorSource:
    """Where a node input (or a pipeline output) comes from: ``{"node_name", "data_item"}``.

    ``data_item`` is the producing node's output alias, or a pipeline input name when
    ``node_name`` is ``request``.
    """

    node_name: str
    data_item: str


@dataclass(frozen=True)
class NodeOutput:
    """One ``outputs`` item of a node: the node's tensor ``data_item``, known downstream as ``alias``."""

    data_item: str
    alias: str


@dataclass(frozen=True)
class NodeConfig:
    """One ``nodes`` item of a pipeline.

    ``kind`` "DL model" runs ``model_name`` (``version`` None: the newest available);
    "custom" runs a C custom node from the library named ``library_name`` with ``params``;
    "python" runs an ``OvmsPythonModel`` from ``handler_path`` (ovserve's extension).
    ``inputs`` maps each node input name to its source. ``demultiply_count`` None: no
    demultiplexing; -1: dynamic; N >= 1: fixed. ``gather_from_node`` names the
    demultiplexing node whose branches this node's inputs gather.
    """

    name: str
    kind: NodeKind
    inputs: Mapping[str, TensorSource]
    outputs: tuple[NodeOutput, ...]
    model_name: str | None = None
    version: int | None = None
    library_name: str | None = None
    handler_path: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    demultiply_count: int | None = None
    gather_from_node: str | None = None


@dataclass(frozen=True)
class PipelineConfig:
    """One ``pipeline_config_list`` item.

    ``outputs`` maps each pipeline output name to its source. ``demultiply_count`` on the
    pipeline itself (OVMS) demultiplexes the request's inputs on their first dimension.
    ``invalid`` is set when the entry's values are wrong (the pipeline is then not served and
    its status says why), as for models.
    """

    name: str
    inputs: tuple[str, ...]
    nodes: tuple[NodeConfig, ...]
    outputs: Mapping[str, TensorSource]
    demultiply_count: int | None = None
    invalid: str | None = None


@dataclass(frozen=True)
class CustomNodeLibraryConfig:
    """One ``custom_node_library_config_list`` item: a name and the path of its shared library."""

    name: str
    base_path: str
