"""The ``make_node`` of the server: C custom nodes from the configured libraries, and Python nodes.

As OVMS: each ``custom_node_library_config_list`` entry is opened once (one ``dlopen`` per
name and path) and kept for the server's life, across config reloads; an entry whose
``base_path`` changes is opened anew under that path, and a library is never unloaded
(nodes built from it may still run). Each custom node is ``initialize``-d with its own
``params`` over its library and runs on threads of its own, as a Python node does (a library
that blocks must not starve the event loop's shared pool: model loads, compression). Nodes
are made on loader threads while pipelines are built (library and handler code may block);
several pipelines may be built at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from ovserve.config.pipelines import CustomNodeLibraryConfig, NodeConfig
from ovserve.errors import PipelineInvalid
from ovserve.pipelines.build import MakeNode
from ovserve.pipelines.custom_node import CustomNode, CustomNodeLibrary
from ovserve.pipelines.nodes import Node
from ovserve.pipelines.python_node import PythonNode

#: OVMS's texts: a node naming a library config.json does not list; a node type it does not know
MISSING_LIBRARY = "Pipeline refers to incorrect library"
WRONG_KIND = "Unsupported node type"


class NodeFactory:
    """Opens libraries once and makes nodes; safe to call from several loader threads."""

    def __init__(self) -> None:
        self._libraries: dict[tuple[str, str], CustomNodeLibrary] = {}
        self._lock = threading.Lock()

    def for_libraries(self, libraries: Mapping[str, CustomNodeLibraryConfig]) -> MakeNode:
        """The ``make_node`` of one config.json's ``custom_node_library_config_list``."""

        def make_node(node: NodeConfig) -> Node:
            if node.kind == "custom":
                library = libraries.get(node.library_name or "")
                if library is None:
                    raise PipelineInvalid(MISSING_LIBRARY, f"node: {node.name}; library: {node.library_name}")
                return CustomNode(self._library(library), node.name, node.params)
            if node.kind == "python":
                return PythonNode.from_config(node)
            raise PipelineInvalid(WRONG_KIND, f"node: {node.name}; type: {node.kind}")

        return make_node

    def _library(self, config: CustomNodeLibraryConfig) -> CustomNodeLibrary:
        """The library of ``config``, opened on first use (CustomNodeLibraryInvalid says why it cannot be)."""
        key = (config.name, config.base_path)
        with self._lock:
            found = self._libraries.get(key)
            if found is None:
                found = self._libraries[key] = CustomNodeLibrary.load(config)
            return found
