"""The Python nodes of graphs: a ``PythonExecutorCalculator`` node as a ``PythonNode``."""

from __future__ import annotations

from ovserve.pipelines.mediapipe.calculators import TensorNode
from ovserve.pipelines.python_handler import Handler
from ovserve.pipelines.python_node import PythonNode


def python_node(handler: Handler) -> TensorNode:
    """The Python node of ``handler``, initialized with OVMS's kwargs; blocks while ``initialize`` runs.
    Raises :class:`~ovserve.errors.PythonNodeLoadFailed` naming the node and the file."""
    return PythonNode.from_handler(handler)
