"""Empty string tensors through the OpenVINO servable (issue 9, defect 4).

OpenVINO 2026.4 refuses an empty list of strings for an input ("Unknown string kind") and dies
(SIGFPE) reading the strings of an empty string output; the servable must do neither. The model
reshapes its string input, so its output is computed by OpenVINO (not answered from the input);
a string output of rank 2 was also answered wrongly (its rows taken as items, NUL-padded).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import models
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.servable import OpenVINOServable
from ovserve.config.types import ModelConfig
from ovserve.tensors import BYTES_DTYPE


def string_reshape(target: tuple[int, int]) -> ov.Model:
    text = ops.parameter([-1], ov.Type.string, name="text")
    text.output(0).get_tensor().set_names({"text"})
    column = ops.reshape(text, ops.constant(np.array(target, dtype=np.int64)), False)
    column.output(0).get_tensor().set_names({"column"})
    return ov.Model([column], [text], "string_columns")


@pytest.mark.parametrize(("target", "empty_shape"), [((-1, 1), (0, 1)), ((1, -1), (1, 0))])
def test_empty_and_non_empty_string_batches(
    tmp_path: Path, target: tuple[int, int], empty_shape: tuple[int, int]
) -> None:
    base = models.save(string_reshape(target), tmp_path / "m")
    for inline_us in (0, 1_000_000):  # through the completion callback, and inline
        engine = OpenVINOEngine(inline_inference_us=inline_us)
        servable = engine.loader(ModelConfig(name="m", base_path=str(base)), 1, base / "1").load()

        async def run(items: list[bytes], servable: OpenVINOServable = servable) -> np.ndarray:
            array = np.empty(len(items), dtype=BYTES_DTYPE)
            array[:] = items
            return (await servable.infer({"text": array}))["column"]

        empty = asyncio.run(run([]))
        assert empty.shape == empty_shape and empty.dtype == BYTES_DTYPE
        full = asyncio.run(run([b"a", b"bc"]))
        assert full.tolist() == np.array([b"a", b"bc"], dtype=object).reshape(target).tolist()
        assert asyncio.run(run([])).shape == empty_shape  # after a non-empty one
        servable.close()
