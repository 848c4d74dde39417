"""The Python nodes of graphs: a ``PythonExecutorCalculator`` node as a ``PythonNode``."""

from __future__ import annotations

from ovserve.pipelines.mediapipe.calculators import PythonNodeSpec, TensorNode
from ovserve.pipelines.python_node import PythonNode


def python_node(spec: PythonNodeSpec) -> TensorNode:
    """The Python node ``spec`` names, initialized with OVMS's kwargs; blocks while ``initialize`` runs.
    Raises :class:`~ovserve.errors.PythonNodeLoadFailed` naming the node and the file."""
    return PythonNode(
        spec.node_name, spec.handler_path, spec.input_names, spec.output_names, base_dir=spec.base_path
    )
