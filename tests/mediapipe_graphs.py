"""MediaPipe graph texts as OVMS's documentation writes them, and a Python node handler, for the graph tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ovserve.core.servable import Servable
from ovserve.pipelines.mediapipe.build import GraphContext
from ovserve.pipelines.mediapipe.python import python_node
from ovserve.pipelines.python_handler import Handler
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

    def make(handler: Handler) -> PythonNode:
        node = python_node(handler)
        assert isinstance(node, PythonNode)
        made.append(node)
        return node

    return GraphContext(tmp_path / "graph.pbtxt", str(tmp_path), models.acquire, make)


# --- the graphs of tests/integration/test_mediapipe_graphs.py (on a model named ``add``) ---

CHAIN = (
    'input_stream: "OVTENSOR:in"\noutput_stream: "OVTENSOR:out"\n'
    + session("s", "add", "1")
    + inference("first", "s", "in", "mid", "x", "y")
    + inference("second", "s", "mid", "out", "x", "y")
)
#: a Python node (x * 3), a converter, then an inference node on ``add``
PY_INFER = (
    'input_stream: "OVMS_PY_TENSOR:in"\noutput_stream: "OVTENSOR:out"\n'
    + python("scale", "in", "scaled")
    + """
node { name: "conv" calculator: "PyTensorOvTensorConverterCalculator"
       input_stream: "OVMS_PY_TENSOR:scaled" output_stream: "OVTENSOR:tensor" }
"""
    + session("s", "add")
    + inference("infer", "s", "tensor", "out", "x", "y")
)
#: a generative Python node (yields x * 3 * k, k = 1..3), each yield through the inference node
STREAM = (
    'input_stream: "OVMS_PY_TENSOR:in"\noutput_stream: "OVTENSOR:out"\n'
    + python("gen", "in", "scaled", loopback=True)
    + session("s", "add")
    + inference("infer", "s", "scaled", "out", "x", "y")
)
#: a generative Python node that yields ``in + k`` for k = 1, 2, ... for ever; its generator's
#: ``finally`` appends "closed" to the file ``endless.py`` names (ENDLESS_HANDLER.format(mark=...))
ENDLESS = 'input_stream: "OVMS_PY_TENSOR:in"\noutput_stream: "OVMS_PY_TENSOR:counted"\n' + python(
    "gen", "in", "counted", handler="endless.py", loopback=True
)
ENDLESS_HANDLER = """
import numpy as np
from pyovms import Tensor


class OvmsPythonModel:
    def execute(self, inputs):
        return self.generate(np.array(inputs[0]))

    def generate(self, data):
        k = 0
        try:
            while True:
                k += 1
                yield [Tensor("counted", data + np.float32(k))]
        finally:
            with open({mark!r}, "a") as f:
                f.write("closed\\n")
"""
#: a Python node that answers what it got: the bytes of its input, its shape and datatype
RAW = 'input_stream: "OVMS_PY_TENSOR_DATA:data"\noutput_stream: "OVMS_PY_TENSOR:echo"\n' + python(
    "echo", "data", "echo", handler="echo.py"
)
ECHO_HANDLER = """
import json
import numpy as np
from pyovms import Tensor


class OvmsPythonModel:
    def execute(self, inputs):
        (tensor,) = inputs
        seen = {"bytes": bytes(tensor).hex(), "shape": list(tensor.shape), "datatype": tensor.datatype}
        return [Tensor("echo", np.frombuffer(json.dumps(seen).encode(), dtype=np.uint8))]
"""
#: two Python nodes: the first makes a tensor of a custom datatype, the second passes it on and
#: adds a BYTES tensor whose buffer is not KServe's length-prefixed format (OVMS sends both as they are)
CUSTOM = (
    'input_stream: "OVMS_PY_TENSOR:in"\noutput_stream: "OVMS_PY_TENSOR_A:custom"\n'
    'output_stream: "OVMS_PY_TENSOR_B:text"\n'
    + python("make", "in", "made", handler="make.py")
    + python("pass", "made", "custom", handler="pass.py").replace(
        'output_stream: "OUTPUT:custom"', 'output_stream: "OUTPUT:custom"\n  output_stream: "TEXT:text"'
    )
)
MAKE_HANDLER = """
from pyovms import Tensor


class OvmsPythonModel:
    def execute(self, inputs):
        return [Tensor("made", b"null0terminated0string0", shape=(3,), datatype="my_string")]
"""
PASS_HANDLER = """
from pyovms import Tensor


class OvmsPythonModel:
    def execute(self, inputs):
        (made,) = inputs
        seen = f"{made.datatype} {list(made.shape)}".encode()
        return [Tensor("custom", made, shape=made.shape, datatype=made.datatype), Tensor("text", seen, datatype="BYTES")]
"""
UNSUPPORTED = """
input_stream: "in"
output_stream: "out"
node {
  calculator: "ImageTransformationCalculator"
  input_stream: "IMAGE:in"
  output_stream: "IMAGE:out"
  node_options: { [type.googleapis.com/mediapipe.ImageTransformationCalculatorOptions]: { output_width: 8 } }
}
"""
