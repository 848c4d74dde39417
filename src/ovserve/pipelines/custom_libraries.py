"""The custom node libraries of ``custom_node_library_config_list``, kept across config reloads.

As OVMS: an entry whose name and ``base_path`` are unchanged keeps its loaded library; a new
entry, or one whose path changed, is loaded; a removed entry is forgotten (its library stays
mapped: nodes built from it may still run, and libraries are never unloaded). An entry that
fails to load is remembered with its reason, which the nodes that use it report.

Not thread-safe: the lifecycle calls :meth:`CustomNodeLibraries.update` and
:meth:`CustomNodeLibraries.make_node` one at a time, off the event loop (both may block).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Executor

from ovserve.config.pipelines import CustomNodeLibraryConfig, NodeConfig
from ovserve.errors import CustomNodeLibraryInvalid
from ovserve.pipelines.custom_node import CustomNode, CustomNodeLibrary

log = logging.getLogger(__name__)


class CustomNodeLibraries:
    """Library name -> loaded library (or why it did not load); builds the custom nodes of pipelines."""

    def __init__(
        self,
        load: Callable[[CustomNodeLibraryConfig], CustomNodeLibrary] = CustomNodeLibrary.load,
        executor: Executor | None = None,
    ) -> None:
        self._load = load
        self._executor = executor  # where the nodes' execute calls run (None: the loop's default)
        self._loaded: dict[str, CustomNodeLibrary] = {}
        self._failed: dict[str, tuple[str, str]] = {}  # name -> (base_path, reason)

    def update(self, configs: Iterable[CustomNodeLibraryConfig]) -> dict[str, str]:
        """Apply the configured list (a later entry of one name wins); the entries that failed, with why."""
        wanted = {config.name: config for config in configs}
        loaded: dict[str, CustomNodeLibrary] = {}
        failed: dict[str, tuple[str, str]] = {}
        for name, config in wanted.items():
            kept = self._loaded.get(name)
            if kept is not None and kept.path == config.base_path:
                loaded[name] = kept
                continue
            try:
                loaded[name] = self._load(config)
            except CustomNodeLibraryInvalid as error:
                log.error("%s", error.message)
                failed[name] = (config.base_path, error.message)
        self._loaded, self._failed = loaded, failed
        return {name: reason for name, (_, reason) in failed.items()}

    def library(self, name: str) -> CustomNodeLibrary:
        """The loaded library ``name``; CustomNodeLibraryInvalid says why there is none."""
        found = self._loaded.get(name)
        if found is not None:
            return found
        if name in self._failed:
            raise CustomNodeLibraryInvalid(
                f"Pipeline refers to incorrect library - {name}: {self._failed[name][1]}"
            )
        raise CustomNodeLibraryInvalid(f"Custom node library not found - {name}")

    def make_node(self, node: NodeConfig) -> CustomNode:
        """The node of a ``"type": "custom"`` pipeline node: its library initialized with its params."""
        if node.library_name is None:
            raise CustomNodeLibraryInvalid(
                f"Pipeline refers to incorrect library - node {node.name} names none"
            )
        return CustomNode(self.library(node.library_name), node.name, node.params, self._executor)
