"""The ``make_node`` of the server: C custom nodes from the configured libraries, and Python nodes.

The libraries are :class:`~ovserve.pipelines.custom_libraries.CustomNodeLibraries`: an entry
whose name and path do not change keeps its loaded library across config reloads, and each
node is ``initialize``-d with its own ``params`` over it. Nodes are made on loader threads
while pipelines are built (library and handler code may block); several pipelines may be
built at once, so the libraries are updated and custom nodes made under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from ovserve.config.pipelines import CustomNodeLibraryConfig, NodeConfig
from ovserve.errors import PipelineInvalid
from ovserve.pipelines.build import MakeNode
from ovserve.pipelines.custom_libraries import CustomNodeLibraries
from ovserve.pipelines.nodes import Node
from ovserve.pipelines.python_node import PythonNode

#: OVMS's text for a node of a type it does not know
WRONG_KIND = "Unsupported node type"


class NodeFactory:
    """Makes the custom and Python nodes of pipelines; safe to call from several loader threads."""

    def __init__(self, libraries: CustomNodeLibraries | None = None) -> None:
        self._libraries = libraries or CustomNodeLibraries()
        self._applied: tuple[CustomNodeLibraryConfig, ...] | None = None
        self._lock = threading.Lock()

    def for_libraries(self, libraries: Mapping[str, CustomNodeLibraryConfig]) -> MakeNode:
        """The ``make_node`` of one config.json's ``custom_node_library_config_list``."""
        configs = tuple(libraries.values())

        def make_node(node: NodeConfig) -> Node:
            if node.kind == "custom":
                with self._lock:
                    if self._applied != configs:  # the first node after a change loads what changed
                        self._libraries.update(configs)
                        self._applied = configs
                    return self._libraries.make_node(node)
            if node.kind == "python":
                return PythonNode.from_config(node)
            raise PipelineInvalid(WRONG_KIND, f"node: {node.name}; type: {node.kind}")

        return make_node
