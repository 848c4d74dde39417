"""``OpenVINOServable.infer_now``: the request path's synchronous call for a model that runs inline.

It must answer exactly as ``infer`` does (outputs, errors, the timing report, the infer request
back in the pool), and decline (None) whenever ``infer`` would not run the call inline at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import models
import numpy as np
import pytest

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.servable import INLINE_MAX_BYTES, OpenVINOServable
from ovserve.config.types import ModelConfig
from ovserve.errors import BackendError, ServingError, ShapeMismatch

INLINE = 1_000_000  # µs: every real model is under it


def load(tmp_path: Path, model: object, inline_us: int = INLINE, nireq: int = 2) -> OpenVINOServable:
    base = models.save(model, tmp_path / "m")  # type: ignore[arg-type]
    config = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32, nireq=nireq)
    servable = OpenVINOEngine(inline_inference_us=inline_us).loader(config, 1, base / "1").load()
    assert isinstance(servable, OpenVINOServable)
    return servable


def first_call(servable: OpenVINOServable, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One ``infer``, on a loop of its own."""
    return asyncio.run(servable.infer(inputs))


def test_it_answers_what_infer_answers_for_every_output(tmp_path: Path) -> None:
    servable = load(tmp_path, models.multi_io())
    timings: list[tuple[int, int]] = []
    servable.timing_observer = lambda wait, run: timings.append((wait, run))
    inputs = {"a": np.array([[1.5, 2.5, -3.0]], np.float32), "b": np.array([[4, -5, 6]], np.int32)}
    expected = models.reference(models.model_file(tmp_path / "m"), inputs)
    now = servable.infer_now(inputs)  # the pool is there from the start: no call has to make it
    assert now is not None
    via_infer = first_call(servable, inputs)
    assert list(now) == list(via_infer) == ["sum", "prod"]
    for name in now:
        assert now[name].dtype == via_infer[name].dtype
        np.testing.assert_array_equal(now[name], via_infer[name])
        np.testing.assert_allclose(now[name], expected[name], rtol=1e-6)
        assert now[name].flags.writeable
    assert len(timings) == 2 and all(run > 0 and wait >= 0 for wait, run in timings)
    assert servable.infer_requests_in_use == 0
    # the outputs do not change when the request runs again (they were copied out)
    kept = now["sum"].copy()
    servable.infer_now({"a": inputs["a"] * 3, "b": inputs["b"]})
    np.testing.assert_array_equal(now["sum"], kept)


def test_it_declines_what_infer_would_not_run_inline_at_once(tmp_path: Path) -> None:
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    threaded = load(tmp_path / "t", models.add_scaled((1, 4)), inline_us=0)
    first_call(threaded, {"x": x})
    assert threaded.infer_now({"x": x}) is None  # inline inference off
    servable = load(tmp_path / "i", models.add_scaled((-1, 4)), nireq=1)
    first_call(servable, {"x": x})
    np.testing.assert_allclose(servable.infer_now({"x": x})["y"], x * 2 + 1, rtol=1e-6)  # type: ignore[index]
    big = np.ones((INLINE_MAX_BYTES // 16 + 1, 4), np.float32)  # over the inline size
    assert servable.infer_now({"x": big}) is None
    pool = servable._pool
    slot = pool.idle.pop()  # the one infer request is busy
    try:
        assert servable.infer_now({"x": x}) is None
    finally:
        pool.put(slot)
    servable._estimate_ns = 2 * servable._inline_ns  # measured slower than the threshold
    assert servable.infer_now({"x": x}) is None


@pytest.mark.parametrize(
    "inputs",
    [
        {"x": np.ones((1, 4), np.int32)},  # precision
        {"x": np.ones((1, 5), np.float32)},  # shape
        {"x": np.ones((2, 4), np.float32)},  # batch: refused by the static model only
        {"x": np.ones((4,), np.float32)},  # rank
        {"y": np.ones((1, 4), np.float32)},  # name
        {"x": np.ones((1, 4), np.float32), "z": np.ones((1, 4), np.float32)},  # count
    ],
)
@pytest.mark.parametrize("batch", [-1, 1])  # a dynamic and a static model
def test_inputs_get_infers_answer(tmp_path: Path, inputs: dict[str, np.ndarray], batch: int) -> None:
    servable = load(tmp_path, models.add_scaled((batch, 4)))
    first_call(servable, {"x": np.ones((1, 4), np.float32)})
    try:
        expected: object = first_call(servable, inputs)["y"].tolist()
    except ServingError as exc:
        expected = (type(exc), exc.message)
    try:
        now = servable.infer_now(inputs)
        assert now is not None
        answer: object = now["y"].tolist()
    except ServingError as exc:
        answer = (type(exc), exc.message)
    assert answer == expected
    assert isinstance(expected, tuple) or (batch == -1 and inputs["x"].shape == (2, 4))
    assert servable.infer_requests_in_use == 0


def test_shapes_the_model_refuses_are_refused_when_known_and_left_to_infer_when_not(tmp_path: Path) -> None:
    servable = load(tmp_path, models.div32(), nireq=1)
    good = np.ones((1, 3, 64, 64), np.float32)
    first_call(servable, {"image": good})
    assert servable.infer_now({"image": np.ones((1, 3, 50, 50), np.float32)}) is None  # never checked
    with pytest.raises(ShapeMismatch) as via_infer:  # checked now, off the loop, and remembered
        first_call(servable, {"image": np.ones((1, 3, 50, 50), np.float32)})
    with pytest.raises(ShapeMismatch) as now:
        servable.infer_now({"image": np.ones((1, 3, 50, 50), np.float32)})
    assert now.value.message == via_infer.value.message
    assert servable.infer_now({"image": good}) is not None
    assert servable.infer_requests_in_use == 0


def test_an_openvino_failure_is_a_500_and_the_request_goes_back(tmp_path: Path) -> None:
    servable = load(tmp_path, models.div32(), nireq=1)
    first_call(servable, {"image": np.ones((1, 3, 64, 64), np.float32)})
    servable._shape_check = None  # let a shape the graph refuses reach OpenVINO's infer request
    with pytest.raises(BackendError) as caught:
        servable.infer_now({"image": np.ones((1, 3, 50, 50), np.float32)})
    assert caught.value.message.startswith("Internal inference error - model m version 1:")
    assert servable.infer_requests_in_use == 0


@pytest.mark.parametrize("rows", [0, 1, 3])
def test_empty_and_full_batches_of_numbers_and_strings(tmp_path: Path, rows: int) -> None:
    numbers = load(tmp_path / "n", models.add_scaled((-1, 4)))
    x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)
    via_infer = first_call(numbers, {"x": x})  # the shape checked (and the estimate measured) first
    out = numbers.infer_now({"x": x})
    assert out is not None and out["y"].shape == via_infer["y"].shape == (rows, 4)
    np.testing.assert_allclose(out["y"], x * 2 + 1, rtol=1e-6)
    strings = load(tmp_path / "s", models.string_identity())
    texts = np.array([b"a", b"", "z\u00fcrich".encode()][:rows], dtype=object)
    first_call(strings, {"text": texts})
    answer = strings.infer_now({"text": texts})  # an empty string tensor read kills the process
    assert answer is not None
    assert answer["text"].tolist() == texts.tolist()
