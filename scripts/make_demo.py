"""Build the demo model repository: models made locally with OpenVINO's opset API.

    python scripts/make_demo.py DIR

writes DIR/models/tiny (y = 2x + 1 on [N,10] FP32, input ``x``, output ``y``),
DIR/models/cnn (a small random-weight CNN on [N,3,32,32], input ``image``, output
``probs``) and DIR/config.json serving both, and the pipelines of docs/pipelines.md:

- ``tiny_chain``: ``tiny`` twice in a row, so ``y`` = 2(2x + 1) + 1 = 4x + 3;
- ``tiny_negated``: ``tiny``, then the Python node DIR/nodes/negate.py, so ``y`` = -(2x + 1);
- ``tiny_plus_half``: ``tiny``, then the C custom node ``add_one`` (tests/data/custom_nodes,
  compiled here into DIR/libs with the system C compiler) with ``add_number`` 0.5, so
  ``y`` = 2x + 1.5. Left out, with a message, where there is no C compiler;

and the MediaPipe graph ``tiny_graph`` (DIR/graphs/tiny_graph/graph.pbtxt, listed in
``mediapipe_config_list``): the Python node ``negate`` (its own copy of negate.py), then OVMS's
session + inference calculators on ``tiny``, so ``y`` = 2(-x) + 1 = 1 - 2x.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from models import add_scaled, save, small_cnn, write_config

NEGATE = """\
import numpy as np
from pyovms import Tensor


class OvmsPythonModel:
    \"\"\"A Python node as OVMS runs them: its one output is minus its one input.\"\"\"

    def initialize(self, kwargs):
        self.output = kwargs["output_names"][0]  # as the DAG or the graph names it

    def execute(self, inputs):
        return [Tensor(self.output, -np.asarray(inputs[0]))]
"""

#: OVMS's graph format: the Python node negate.py, a converter to an OpenVINO tensor, then
#: OVMS's session + inference calculators running the served model ``tiny`` (input x, output y)
GRAPH = """\
input_stream: "OVMS_PY_TENSOR:x"
output_stream: "OVTENSOR:y"
node {
  name: "negate"
  calculator: "PythonExecutorCalculator"
  input_side_packet: "PYTHON_NODE_RESOURCES:py"
  input_stream: "INPUT:x"
  output_stream: "OUTPUT:negated"
  node_options: {
    [type.googleapis.com / mediapipe.PythonExecutorCalculatorOptions]: { handler_path: "HANDLER" }
  }
}
node {
  name: "to_openvino"
  calculator: "PyTensorOvTensorConverterCalculator"
  input_stream: "OVMS_PY_TENSOR:negated"
  output_stream: "OVTENSOR:tensor"
}
node {
  name: "session"
  calculator: "OpenVINOModelServerSessionCalculator"
  output_side_packet: "SESSION:tiny"
  node_options: {
    [type.googleapis.com / mediapipe.OpenVINOModelServerSessionCalculatorOptions]: { servable_name: "tiny" }
  }
}
node {
  name: "infer"
  calculator: "OpenVINOInferenceCalculator"
  input_side_packet: "SESSION:tiny"
  input_stream: "X:tensor"
  output_stream: "Y:y"
  node_options: {
    [type.googleapis.com / mediapipe.OpenVINOInferenceCalculatorOptions]: {
      tag_to_input_tensor_names { key: "X" value: "x" }
      tag_to_output_tensor_names { key: "Y" value: "y" }
    }
  }
}
"""


def main(target: str) -> None:
    root = Path(target).resolve()
    paths = {
        "tiny": save(add_scaled(shape=(-1, 10)), root / "models" / "tiny"),
        "cnn": save(small_cnn(), root / "models" / "cnn"),
    }
    config = write_config(root / "config.json", paths)
    doc = json.loads(config.read_text())
    doc["pipeline_config_list"] = [tiny_chain(), tiny_then("tiny_negated", python_node(root))]
    library = custom_library(root)
    if library is not None:
        relative = str(library.relative_to(root))  # under config.json's directory, as model paths
        doc["custom_node_library_config_list"] = [{"name": "add_one", "base_path": relative}]
        doc["pipeline_config_list"].append(tiny_then("tiny_plus_half", custom_node()))
    doc["mediapipe_config_list"] = [graph(root)]
    config.write_text(json.dumps(doc, indent=2))
    print(f"demo repository written: {config}")


def python_node(root: Path) -> dict[str, object]:
    handler = root / "nodes" / "negate.py"
    handler.parent.mkdir(parents=True, exist_ok=True)
    handler.write_text(NEGATE)
    relative = str(handler.relative_to(root))  # under config.json's directory
    return {"name": "negate", "type": "python", "handler_path": relative, "input": "x", "output": "y"}


def graph(root: Path) -> dict[str, str]:
    """A MediaPipe graph (OVMS's graph.pbtxt): negate.py, then ``tiny`` through OVMS's calculators."""
    base = root / "graphs" / "tiny_graph"
    base.mkdir(parents=True, exist_ok=True)
    (base / "negate.py").write_text(NEGATE)  # handler_path is relative to the graph's base path
    (base / "graph.pbtxt").write_text(GRAPH.replace("HANDLER", "negate.py"))
    return {"name": "tiny_graph", "base_path": str(base.relative_to(root))}


def custom_node() -> dict[str, object]:
    return {
        "name": "plus_half",
        "type": "custom",
        "library_name": "add_one",
        "params": {"add_number": "0.5"},
        "input": "input_numbers",
        "output": "output_numbers",
    }


def custom_library(root: Path) -> Path | None:
    """tests/data/custom_nodes/add_one.c compiled into root/libs, or None without a C compiler."""
    from custom_nodes import build, compiler

    try:
        compiler()
    except RuntimeError as missing:
        print(f"no C custom node in the demo: {missing}")
        return None
    (root / "libs").mkdir(parents=True, exist_ok=True)
    return build("add_one", root / "libs")


def tiny_then(name: str, step: dict[str, object]) -> dict[str, object]:
    """request ``x`` -> tiny -> ``step`` (its one ``input`` and ``output``) -> response ``y``."""
    node = {key: value for key, value in step.items() if key not in ("input", "output")}
    node["inputs"] = [{step["input"]: {"node_name": "tiny", "data_item": "y"}}]
    node["outputs"] = [{"data_item": step["output"], "alias": "out"}]
    first = {
        "name": "tiny",
        "type": "DL model",
        "model_name": "tiny",
        "inputs": [{"x": {"node_name": "request", "data_item": "x"}}],
        "outputs": [{"data_item": "y", "alias": "y"}],
    }
    return {
        "name": name,
        "inputs": ["x"],
        "nodes": [first, node],
        "outputs": [{"y": {"node_name": step["name"], "data_item": "out"}}],
    }


def tiny_chain() -> dict[str, object]:
    """A pipeline (OVMS's DAG format): request ``x`` -> tiny -> tiny -> response ``y``."""

    def node(name: str, source: dict[str, str]) -> dict[str, object]:
        return {
            "name": name,
            "type": "DL model",
            "model_name": "tiny",
            "inputs": [{"x": source}],
            "outputs": [{"data_item": "y", "alias": "y"}],
        }

    return {
        "name": "tiny_chain",
        "inputs": ["x"],
        "nodes": [
            node("first", {"node_name": "request", "data_item": "x"}),
            node("second", {"node_name": "first", "data_item": "y"}),
        ],
        "outputs": [{"y": {"node_name": "second", "data_item": "y"}}],
    }


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo")
