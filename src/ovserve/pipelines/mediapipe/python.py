"""The Python nodes of graphs: a ``PythonExecutorCalculator`` node as a :class:`~ovserve.pipelines.nodes.Node`."""

from __future__ import annotations

from ovserve.errors import LoadError
from ovserve.pipelines.mediapipe.calculators import PythonNodeSpec
from ovserve.pipelines.nodes import Node


def python_node(spec: PythonNodeSpec) -> Node:
    """The Python node ``spec`` names, initialized (OVMS's ``initialize`` kwargs)."""
    raise LoadError(f"node {spec.node_name}: Python nodes ({spec.handler_path}) are not available yet")
