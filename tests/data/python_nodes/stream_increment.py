"""A generative Python node (OVMS's contract): for one input, yields COUNT sets of outputs.

Input ``input`` (any numeric array); each step i (1..COUNT) yields ``output`` = input + i.
A streaming request (KServe ModelStreamInfer) gets COUNT responses.
"""

import numpy as np

from pyovms import Tensor

COUNT = 3


class OvmsPythonModel:
    def initialize(self, kwargs):
        self.output_name = kwargs["output_names"][0]

    def execute(self, inputs):
        data = np.array(inputs[0])
        for step in range(1, COUNT + 1):
            yield [Tensor(self.output_name, data + np.asarray(step, dtype=data.dtype))]
