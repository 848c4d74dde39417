"""MediaPipe graph texts as OVMS's documentation writes them, and a stand-in Python node, for the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput
from ovserve.pipelines.mediapipe.build import GraphContext
from ovserve.pipelines.mediapipe.calculators import PythonNodeSpec
from ovserve.tensors import Dim, TensorSpec


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


class ScaleNode:
    """A stand-in for a Python node: ``out = in * factor``; generative, it yields ``count`` times
    (``in * factor * k`` for k = 1..count). Records its spec and whether it was closed."""

    def __init__(self, spec: PythonNodeSpec, factor: float = 3.0, count: int = 3, fail: bool = False) -> None:
        self.spec = spec
        self.factor = factor
        self.count = count
        self.fail = fail
        self.closed = False
        any_f32 = (Dim.any(),)
        self._inputs = {n: TensorSpec(n, np.dtype(np.float32), any_f32) for n in spec.input_names}
        self._outputs = {n: TensorSpec(n, np.dtype(np.float32), any_f32) for n in spec.output_names}

    @property
    def inputs(self) -> Mapping[str, TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Mapping[str, TensorSpec]:
        return self._outputs

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.fail:
            raise InvalidInput("the handler refused its input")
        (value,) = inputs.values()
        return {name: value * self.factor for name in self.spec.output_names}

    async def run_stream(self, inputs: Mapping[str, np.ndarray]) -> AsyncIterator[dict[str, np.ndarray]]:
        (value,) = inputs.values()
        for k in range(1, self.count + 1):
            yield {name: value * self.factor * k for name in self.spec.output_names}

    def close(self) -> None:
        self.closed = True


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


def context(
    tmp_path: Path, models: Models, nodes: list[ScaleNode] | None = None, **node_args: object
) -> GraphContext:
    made = nodes if nodes is not None else []

    def make(spec: PythonNodeSpec) -> ScaleNode:
        node = ScaleNode(spec, **node_args)  # type: ignore[arg-type]
        made.append(node)
        return node

    return GraphContext(tmp_path / "graph.pbtxt", str(tmp_path), models.acquire, make)
