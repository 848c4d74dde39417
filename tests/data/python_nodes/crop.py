"""A Python node (OVMS's contract) that crops boxes out of an image, with numpy only.

Inputs: ``image`` (1, C, H, W) and ``boxes`` (1, N, 4) of [x_min, y_min, x_max, y_max]
normalized to [0, 1]. Output (the node's first output name): (N, 1, C, SIZE, SIZE), each
box resized by nearest neighbour (pixel centres), in the image's dtype; N may be 0. Used
by the detect -> crop -> classify pipeline tests (the output is demultiplexed on dim 0).
"""

import numpy as np

from pyovms import Tensor

SIZE = 8


def sample_points(lo, hi, extent):
    """SIZE pixel indices covering [lo, hi) (normalized) of an axis of ``extent`` pixels."""
    start, stop = lo * extent, hi * extent
    centres = start + (np.arange(SIZE) + 0.5) * (stop - start) / SIZE
    return np.clip(np.floor(centres).astype(np.int64), 0, extent - 1)


class OvmsPythonModel:
    def initialize(self, kwargs):
        self.output_name = kwargs["output_names"][0]

    def execute(self, inputs):
        by_name = {tensor.name: tensor for tensor in inputs}
        image = np.array(by_name["image"])
        boxes = np.array(by_name["boxes"]).reshape(-1, 4)
        _, channels, height, width = image.shape
        crops = np.zeros((len(boxes), 1, channels, SIZE, SIZE), dtype=image.dtype)
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            rows = sample_points(y0, y1, height)
            cols = sample_points(x0, x1, width)
            crops[i, 0] = image[0][:, rows][:, :, cols]
        return [Tensor(self.output_name, crops)]
