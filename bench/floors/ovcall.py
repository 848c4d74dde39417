"""The OpenVINO call the two front-end floors make: the one ovserve makes for a fast model.

ovserve runs a model whose calls take a few microseconds synchronously on the event loop
thread (copy the input into the infer request's own tensor, the binding's own ``infer`` --
not openvino's Python wrapper of it, which dispatches inputs and wraps the outputs again --
returning the outputs copied); the floors do exactly that, so that what differs is only the
front end around it.
"""

from __future__ import annotations

import json
import os

import numpy as np
import openvino as ov
from openvino._pyopenvino import InferRequest as CoreInferRequest

RUN = CoreInferRequest.infer


class Call:
    """One compiled model (one input, one output) and one infer request used inline."""

    def __init__(self, xml: str) -> None:
        config = json.loads(os.environ.get("BENCH_PLUGIN_CONFIG", "{}"))
        self.compiled = ov.Core().compile_model(xml, "CPU", config)
        self.input_name = self.compiled.input(0).get_any_name()
        self.output_name = self.compiled.output(0).get_any_name()
        self.request = self.compiled.create_infer_request()
        self.request.infer()  # the first call pays for lazy allocations

    def __call__(self, x: np.ndarray) -> np.ndarray:
        request = self.request
        tensor = request.get_input_tensor(0)
        if tensor.data.shape != x.shape:
            tensor.shape = list(x.shape)
        np.copyto(tensor.data, x, casting="no")
        copies = RUN(request, {}, False, False)  # runs here; the outputs copied out, in order
        array: np.ndarray = next(iter(copies.values()))
        return array
