"""Stateful test models made with OpenVINO's opset API, and their in-process reference runs.

Each model's output depends on the state its earlier requests left (ReadValue/Assign
variables), so a server that mixed up, lost or reset the state of a sequence answers
differently from :class:`ReferenceSequence`, which runs the same model file on one
in-process infer request of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops
from openvino._offline_transformations import apply_low_latency_transformation
from openvino.op.util import Variable, VariableInfo

#: exact comparisons (as tests/models.py; defined here too so bench/ can import this module)
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _named(node: ov.Node, name: str) -> ov.Node:
    node.output(0).get_tensor().set_names({name})
    node.set_friendly_name(name)
    return node


def _variable(name: str, shape: list[int]) -> Variable:
    info = VariableInfo()
    info.data_shape = ov.PartialShape(shape)
    info.data_type = ov.Type.f32
    info.variable_id = name
    return Variable(info)


def running_sum(width: int = 4) -> ov.Model:
    """``y = x + (sum of every earlier x of the sequence)``: input ``x`` and output ``y`` are [1, width] FP32."""
    x = _named(ops.parameter([1, width], ov.Type.f32, name="x"), "x")
    acc = _variable("acc", [1, width])
    previous = ops.read_value(ops.constant(np.zeros((1, width), np.float32)), acc)
    total = _named(ops.add(previous, x), "y")
    return ov.Model([ops.result(total)], [ops.assign(total, acc)], [x], "running_sum")


def recurrent_cell(inputs: int = 3, hidden: int = 8, seed: int = 7) -> ov.Model:
    """An Elman cell: ``h = tanh(x W + h_prev U + b)``; outputs ``h`` [1, hidden] and ``score`` [1, 1] (h V).

    Input ``x`` is [1, inputs] FP32; the hidden state starts at zeros.
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.6, (inputs, hidden)).astype(np.float32)
    u = rng.normal(0, 0.6, (hidden, hidden)).astype(np.float32)
    b = rng.normal(0, 0.1, (1, hidden)).astype(np.float32)
    v = rng.normal(0, 0.6, (hidden, 1)).astype(np.float32)
    x = _named(ops.parameter([1, inputs], ov.Type.f32, name="x"), "x")
    state = _variable("h", [1, hidden])
    h_prev = ops.read_value(ops.constant(np.zeros((1, hidden), np.float32)), state)
    pre = ops.add(
        ops.add(
            ops.matmul(x, ops.constant(w), False, False), ops.matmul(h_prev, ops.constant(u), False, False)
        ),
        ops.constant(b),
    )
    h = _named(ops.tanh(pre), "h")
    score = _named(ops.matmul(h, ops.constant(v), False, False), "score")
    return ov.Model([ops.result(h), ops.result(score)], [ops.assign(h, state)], [x], "recurrent_cell")


def tensor_iterator_cell(steps: int = 2, inputs: int = 3, hidden: int = 8, seed: int = 3) -> ov.Model:
    """A TensorIterator over ``steps`` time steps of ``x`` [1, steps, inputs]: ``h = tanh(x_t W + h U)``.

    No variables: the hidden state starts at zeros on every request, until OpenVINO's
    LowLatency2 (``low_latency_transformation``) turns it into a variable kept across requests.
    Output ``h`` is the last step's [1, hidden].
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.6, (inputs, hidden)).astype(np.float32)
    u = rng.normal(0, 0.6, (hidden, hidden)).astype(np.float32)
    x = _named(ops.parameter([1, steps, inputs], ov.Type.f32, name="x"), "x")
    x_t = ops.parameter([1, 1, inputs], ov.Type.f32)
    h_prev = ops.parameter([1, hidden], ov.Type.f32)
    squeezed = ops.squeeze(x_t, ops.constant(np.array([1], np.int64)))
    pre = ops.add(
        ops.matmul(squeezed, ops.constant(w), False, False), ops.matmul(h_prev, ops.constant(u), False, False)
    )
    h_next = ops.result(ops.tanh(pre))
    loop = ops.tensor_iterator()
    loop.set_body(ov.Model([h_next], [x_t, h_prev]))
    loop.set_sliced_input(x_t, x.output(0), 0, 1, 1, -1, 1)
    loop.set_merged_input(h_prev, ops.constant(np.zeros((1, hidden), np.float32)).output(0), h_next.output(0))
    h = ops.result(loop.get_iter_value(h_next.output(0), -1))
    h.output(0).get_tensor().set_names({"h"})
    return ov.Model([h], [x], "tensor_iterator_cell")


def save(model: ov.Model, base_path: Path) -> Path:
    """Write ``model`` as IR version 1 under ``base_path``; returns base_path."""
    (base_path / "1").mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(base_path / "1" / "model.xml"), compress_to_fp16=False)
    return base_path


class ReferenceSequence:
    """One sequence run in-process: the model file compiled with f32 precision, on its own infer request.

    ``low_latency``: apply LowLatency2 first, as ``low_latency_transformation`` asks the server to.
    """

    def __init__(self, model_file: Path | str, low_latency: bool = False) -> None:
        core = ov.Core()
        model = core.read_model(str(model_file))
        if low_latency:
            apply_low_latency_transformation(model, True)
        compiled = core.compile_model(model, "CPU", F32)
        self.request = compiled.create_infer_request()
        self.outputs = [port.get_any_name() for port in compiled.outputs]

    def step(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.request.infer(dict(inputs))
        return {name: self.request.get_output_tensor(i).data.copy() for i, name in enumerate(self.outputs)}
