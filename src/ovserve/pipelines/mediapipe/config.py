"""Reading a MediaPipe ``graph.pbtxt`` as OVMS does: protobuf's text format, OVMS's calculators.

:func:`parse_graph_text` gives the ``CalculatorGraphConfig`` message; the node options of
the calculators ovserve runs (``protos/mediapipe/calculators/ovms_calculators.proto``) are
registered, so ``node_options`` and ``options`` extensions of them parse. A graph whose
text names options of a calculator ovserve does not have cannot be parsed by protobuf; its
error then names the calculators the graph uses that ovserve lacks (:func:`calculators_named`),
which is what a user needs to know.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from ovserve._generated.mediapipe.calculators import ovms_calculators_pb2 as options_pb2
from ovserve._generated.mediapipe.framework import calculator_pb2
from ovserve.errors import LoadError

GraphConfig = calculator_pb2.CalculatorGraphConfig
NodeConfig = calculator_pb2.CalculatorGraphConfig.Node

SESSION = "OpenVINOModelServerSessionCalculator"
INFERENCE = "OpenVINOInferenceCalculator"
PYTHON = "PythonExecutorCalculator"
CONVERTER = "PyTensorOvTensorConverterCalculator"
#: The calculators ovserve runs in a graph, and their node options.
OPTIONS = {
    SESSION: options_pb2.OpenVINOModelServerSessionCalculatorOptions,
    INFERENCE: options_pb2.OpenVINOInferenceCalculatorOptions,
    PYTHON: options_pb2.PythonExecutorCalculatorOptions,
    CONVERTER: options_pb2.PyTensorOvTensorConverterCalculatorOptions,
}
#: OVMS's status text for a graph that cannot be initialized (a calculator it lacks, a bad stream)
INITIALIZATION_ERROR = "Failed to initialize mediapipe graph"
#: OVMS's status text for a graph file protobuf cannot read
CONFIG_FILE_INVALID = "Failed to read protobuf graph configuration file"

_CALCULATOR = re.compile(r'calculator\s*:\s*"([^"]*)"')


def calculators_named(text: str) -> list[str]:
    """The calculator names a graph text mentions, in order, without parsing it."""
    return list(dict.fromkeys(_CALCULATOR.findall(text)))


def parse_graph_text(text: str, path: Path) -> GraphConfig:
    """The graph message of ``text`` (from ``path``); raises :class:`LoadError` naming the problem."""
    graph = GraphConfig()
    try:
        text_format.Parse(text, graph)
    except text_format.ParseError as exc:
        missing = [name for name in calculators_named(text) if name not in OPTIONS]
        if missing:
            raise LoadError(
                f"{INITIALIZATION_ERROR} - {path}: calculator {', '.join(missing)} is not provided by ovserve "
                f"(it runs {', '.join(OPTIONS)})"
            ) from None
        raise LoadError(f"{CONFIG_FILE_INVALID} - {path}: {exc}") from None
    return graph


def read_graph_text(path: Path) -> str:
    """The text of graph file ``path``; raises :class:`LoadError` when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"{CONFIG_FILE_INVALID} - {path}: {exc}") from None


def node_options(node: NodeConfig, options_type: Any) -> Any:
    """The node's options of ``options_type``, from ``node_options`` (Any) or ``options`` (extension)."""
    options = options_type()
    for packed in node.node_options:
        if packed.Is(options_type.DESCRIPTOR):
            packed.Unpack(options)
            return options
    extension = options_type.ext
    if node.HasField("options") and node.options.HasExtension(extension):
        options.CopyFrom(node.options.Extensions[extension])
    return options
