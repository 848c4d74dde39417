"""The ``make_node`` of the server: C custom nodes from the configured libraries, and Python nodes.

Each ``custom_node_library_config_list`` entry is opened once (one ``dlopen`` per name and
path) and kept for the server's life: a pipeline rebuilt after a model change makes new
nodes (each node ``initialize``-d with its own ``params``) over the same library, and a
library entry whose ``base_path`` changes is opened anew under that path. Nodes are made on
a loader thread while a pipeline is built (library and handler code may block).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from ovserve.config.pipelines import CustomNodeLibraryConfig, NodeConfig
from ovserve.errors import PipelineInvalid
from ovserve.pipelines.build import MakeNode
from ovserve.pipelines.custom_node import CustomNode, CustomNodeLibrary
from ovserve.pipelines.nodes import Node
from ovserve.pipelines.python_node import PythonNode

log = logging.getLogger(__name__)

#: OVMS's text for a node naming a library that config.json does not list
MISSING_LIBRARY = "Pipeline refers to incorrect library"


class NodeFactory:
    """Opens libraries once and makes nodes; safe to call from several loader threads."""

    def __init__(self) -> None:
        self._libraries: dict[tuple[str, str], CustomNodeLibrary] = {}
        self._lock = threading.Lock()

    def for_libraries(self, libraries: Mapping[str, CustomNodeLibraryConfig]) -> MakeNode:
        """The ``make_node`` of one config.json's libraries."""

        def make_node(node: NodeConfig) -> Node:
            if node.kind == "custom":
                library = libraries.get(node.library_name or "")
                if library is None:
                    raise PipelineInvalid(MISSING_LIBRARY, f"node: {node.name}; library: {node.library_name}")
                return CustomNode(self._library(library), node.name, node.params)
            if node.kind == "python":
                return PythonNode.from_config(node)
            raise PipelineInvalid("Unsupported node type", f"node: {node.name}; type: {node.kind}")

        return make_node

    def _library(self, config: CustomNodeLibraryConfig) -> CustomNodeLibrary:
        key = (config.name, config.base_path)
        with self._lock:
            found = self._libraries.get(key)
            if found is None:
                found = self._libraries[key] = CustomNodeLibrary.load(config)
            return found
