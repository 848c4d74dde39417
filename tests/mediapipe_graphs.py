"""MediaPipe graph texts as OVMS's documentation writes them, and a Python node handler, for the graph tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ovserve.core.servable import Servable
from ovserve.pipelines.mediapipe.build import GraphContext
from ovserve.pipelines.mediapipe.calculators import PythonNodeSpec
from ovserve.pipelines.mediapipe.python import python_node
from ovserve.pipelines.python_node import PythonNode


def session(name: str, model: str, version: str = "") -> str:
    version_line = f'servable_version: "{version}"' if version else ""
    return f"""
node {{
  name: "{name}"
  calculator: "OpenVINOModelServerSessionCalculator"
  output_side_packet: "SESSION:{name}"
  node_options: {{
    [type.googleapis.com / mediapipe.OpenVINOModelServerSessionCalculatorOptions]: {{
      servable_name: "{model}"
      {version_line}
    }}
  }}
}}
"""


def inference(
    name: str, session_name: str, stream_in: str, stream_out: str, tensor_in: str, tensor_out: str
) -> str:
    return f"""
node {{
  name: "{name}"
  calculator: "OpenVINOInferenceCalculator"
  input_side_packet: "SESSION:{session_name}"
  input_stream: "IN:{stream_in}"
  output_stream: "OUT:{stream_out}"
  node_options: {{
    [type.googleapis.com / mediapipe.OpenVINOInferenceCalculatorOptions]: {{
      tag_to_input_tensor_names {{ key: "IN" value: "{tensor_in}" }}
      tag_to_output_tensor_names {{ key: "OUT" value: "{tensor_out}" }}
    }}
  }}
}}
"""


def python(
    name: str, stream_in: str, stream_out: str, handler: str = "node.py", loopback: bool = False
) -> str:
    loop = (
        """
  input_stream: "LOOPBACK:loop"
  input_stream_info: { tag_index: 'LOOPBACK:0', back_edge: true }
  input_stream_handler {
    input_stream_handler: "SyncSetInputStreamHandler",
    options { [mediapipe.SyncSetInputStreamHandlerOptions.ext] { sync_set { tag_index: "LOOPBACK:0" } } }
  }
  output_stream: "LOOPBACK:loop"
"""
        if loopback
        else ""
    )
    return f"""
node {{
  name: "{name}"
  calculator: "PythonExecutorCalculator"
  input_side_packet: "PYTHON_NODE_RESOURCES:py"
  input_stream: "INPUT:{stream_in}"
  output_stream: "OUTPUT:{stream_out}"{loop}
  node_options: {{
    [type.googleapis.com / mediapipe.PythonExecutorCalculatorOptions]: {{ handler_path: "{handler}" }}
  }}
}}
"""


#: A Python node handler (OVMS's contract): ``out = in * 3``; with ``COUNT`` > 1 a generator
#: yielding ``in * 3 * k`` for k = 1..COUNT; with ``FAIL`` it raises.
SCALE_HANDLER = """
import numpy as np
from pyovms import Tensor

COUNT = {count}
FAIL = {fail}


class OvmsPythonModel:
    def initialize(self, kwargs):
        self.kwargs = kwargs

    def execute(self, inputs):
        if FAIL:
            raise ValueError("the handler refused its input")
        data = np.array(inputs[0])
        name = self.kwargs["output_names"][0]
        if COUNT == 1:
            return [Tensor(name, data * np.float32(3))]
        return self.generate(name, data)

    def generate(self, name, data):
        for k in range(1, COUNT + 1):
            yield [Tensor(name, data * np.float32(3 * k))]
"""


def write_scale_handler(directory: Path, count: int = 1, fail: bool = False, name: str = "node.py") -> Path:
    path = directory / name
    path.write_text(SCALE_HANDLER.format(count=count, fail=fail))
    return path


class Models:
    """``acquire`` over a fixed set of servables (the manager's contract: a context manager)."""

    def __init__(self, servables: Mapping[str, Servable]) -> None:
        self.servables = dict(servables)
        self.acquired: list[tuple[str, int | None]] = []

    @contextmanager
    def acquire(self, name: str, version: int | None = None) -> Iterator[Servable]:
        from ovserve.errors import ModelNotFound

        self.acquired.append((name, version))
        if name not in self.servables:
            raise ModelNotFound(name)
        yield self.servables[name]


def context(tmp_path: Path, models: Models, nodes: list[PythonNode] | None = None) -> GraphContext:
    """Graphs built in ``tmp_path`` (handler files from there); every Python node made is added to ``nodes``."""
    made = nodes if nodes is not None else []

    def make(spec: PythonNodeSpec) -> PythonNode:
        node = python_node(spec)
        assert isinstance(node, PythonNode)
        made.append(node)
        return node

    return GraphContext(tmp_path / "graph.pbtxt", str(tmp_path), models.acquire, make)
