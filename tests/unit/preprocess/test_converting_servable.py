"""String and image conversion as a wrapper servable, installed at load time as the server does.

The loaders are the server's (``ovserve.app.sources.with_wrappers`` over the OpenVINO backend) and the
models real ones made with the opset API; answers are compared with in-process OpenVINO.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import cv2
import models
import numpy as np
import pytest
from fakes import EchoServable, StaticLoader, spec

from ovserve.app.sources import with_wrappers
from ovserve.backends.openvino import OpenVINOEngine
from ovserve.config.types import BatchingConfig, LayoutSpec, ModelConfig, StatefulConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import Loader
from ovserve.core.servable import Servable
from ovserve.errors import EmptyBinaryItem
from ovserve.preprocess import ConvertingServable, with_string_conversion
from ovserve.scheduling import BatchingHooks, BatchingServable
from ovserve.scheduling.stateful import StatefulServable
from ovserve.tensors import bytes_array

#: waits far longer than any test: a batch leaves only when it reaches its preferred size
NEVER_US = 600_000_000


@pytest.fixture(scope="module")
def engine() -> OpenVINOEngine:
    return OpenVINOEngine()


def load(engine: OpenVINOEngine, base: Path, hooks: BatchingHooks | None = None, **kw: object) -> Servable:
    """One version through the server's loader decorators."""
    cfg = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32, **kw)  # type: ignore[arg-type]
    factory = with_wrappers(lambda c, v, p: engine.loader(c, v, p), None, lambda _: hooks or BatchingHooks())
    return factory(cfg, 1, base / "1").load()


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def test_a_version_with_nothing_to_convert_is_served_as_it_loaded() -> None:
    plain = EchoServable(ServableId("m", 1))

    def factory(config: ModelConfig, version: int, path: Path) -> Loader:
        return StaticLoader(plain)

    loaded = with_string_conversion(factory)(ModelConfig("m", "/m"), 1, Path("/m/1")).load()
    assert loaded is plain and loaded.without_conversion is plain


def test_images_are_decoded_before_the_batcher_so_a_batch_holds_tensors(
    engine: OpenVINOEngine, tmp_path: Path
) -> None:
    base = models.save(models.pixels(), tmp_path / "m")
    batches: list[int] = []
    # the fixed wait (Triton's): the batch forms on its preferred size, whatever the arrival rate
    batching = BatchingConfig(4, NEVER_US, preferred_batch_sizes=(2,), adaptive_queue_delay=False)
    servable = load(
        engine,
        base,
        BatchingHooks(on_batch=batches.append),
        layout=LayoutSpec("NHWC"),
        dynamic_batching=batching,
    )
    assert isinstance(servable, ConvertingServable) and isinstance(servable.inner, BatchingServable)
    backend = servable.backend
    assert servable.batching == batching and servable.parallelism == backend.parallelism >= 1
    assert backend is servable.inner.inner and not isinstance(backend, BatchingServable)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(2)]

    async def both() -> list[dict[str, np.ndarray]]:
        calls = [servable.infer({"image": bytes_array([png(image)])}) for image in images]
        return list(await asyncio.gather(*calls))

    answers = asyncio.run(asyncio.wait_for(both(), 60))
    assert batches == [2]  # one batch of both requests: tensors, stacked by the batcher
    for image, answer in zip(images, answers, strict=True):
        expected = models.reference(models.model_file(base), {"image": image[np.newaxis]})["pixels"]
        np.testing.assert_array_equal(answer["pixels"], expected)
    servable.close()


def test_strings_become_rows_and_string_outputs_come_back_as_strings(
    engine: OpenVINOEngine, tmp_path: Path
) -> None:
    base = models.save(models.text_rows(), tmp_path / "m")
    servable = load(engine, base)
    assert isinstance(servable, ConvertingServable)
    answer = asyncio.run(servable.infer({"text": bytes_array([b"abc", b"hello"])}))
    rows = np.zeros((2, 6), np.uint8)
    rows[0, :3], rows[1, :5] = list(b"abc"), list(b"hello")
    expected = models.reference(models.model_file(base), {"text": rows})
    np.testing.assert_array_equal(answer["lengths"], expected["lengths"])
    assert answer["shifted_string"].tolist() == [b"bcd", b"ifmmp"]
    # a pipeline node calls the servable under the conversion: tensors in and out
    tensors = asyncio.run(servable.without_conversion.infer({"text": rows}))
    np.testing.assert_array_equal(tensors["shifted_string"], expected["shifted_string"])
    assert tensors["shifted_string"].dtype == np.uint8
    servable.close()


def test_an_empty_image_is_refused_with_both_apis_words(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.pixels(), tmp_path / "m")
    servable = load(engine, base, layout=LayoutSpec("NHWC"))
    with pytest.raises(EmptyBinaryItem) as caught:
        asyncio.run(servable.infer({"image": bytes_array([b""])}))
    assert caught.value.message == "Bytes contents is empty - item 0 of input image has no bytes"
    assert caught.value.tfs().message == "String val is empty - item 0 of input image has no bytes"
    servable.close()


class StepRows(Servable):
    """A stateful backend over a 2-D U8 input: each step answers the row lengths plus the earlier total."""

    def __init__(self) -> None:
        super().__init__(ServableId("m", 1), [spec("text", "UINT8", -1, -1)], [spec("total", "INT64", -1)])

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise AssertionError("a stateful model runs steps only")

    async def run_step(
        self, inputs: Mapping[str, np.ndarray], state: object | None
    ) -> tuple[dict[str, np.ndarray], object]:
        total = (0 if state is None else int(str(state))) + int(np.count_nonzero(inputs["text"]))
        return {"total": np.array([total], np.int64)}, total


def test_a_stateful_model_keeps_its_sequence_tensors_under_the_conversion() -> None:
    def factory(config: ModelConfig, version: int, path: Path) -> Loader:
        return StaticLoader(StepRows())

    config = ModelConfig("m", "/m", stateful=StatefulConfig())
    servable = with_wrappers(factory, None)(config, 1, Path("/m/1")).load()
    assert isinstance(servable, ConvertingServable) and isinstance(servable.inner, StatefulServable)
    assert set(servable.special_inputs) == {"sequence_id", "sequence_control_input"}
    assert list(servable.special_outputs) == ["sequence_id"]

    async def sequence() -> list[int]:
        totals = []
        for control, words in ((1, [b"ab"]), (0, [b"cde", b"f"]), (2, [b""])):
            inputs = {
                "text": bytes_array(words),
                "sequence_id": np.array([7], np.uint64),
                "sequence_control_input": np.array([control], np.uint32),
            }
            answer = await servable.infer(inputs)
            assert answer["sequence_id"].tolist() == [7]
            totals.append(int(answer["total"][0]))
        return totals

    assert asyncio.run(sequence()) == [2, 6, 6]
    servable.close()
