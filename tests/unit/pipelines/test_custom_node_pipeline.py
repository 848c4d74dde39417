"""C custom nodes inside pipelines: the engine (build_pipeline) with nodes from compiled libraries
(tests/data/custom_nodes) and real OpenVINO models served by a real manager; results compared with
the same steps run in-process (numpy for the C nodes, in-process OpenVINO for the models)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import models
import numpy as np
import pytest
from custom_nodes import build, crop_reference, detections
from pipeline_fakes import Served, node, pipeline

from ovserve.config.pipelines import CustomNodeLibraryConfig, NodeConfig
from ovserve.errors import Code, DemultiplexerNoResults, NodeFailed, PipelineInvalid
from ovserve.pipelines.build import build_pipeline
from ovserve.pipelines.custom_node import CustomNode, CustomNodeLibrary
from ovserve.pipelines.nodes import Node

T = TypeVar("T")
CROP = {"target_image_width": "16", "target_image_height": "16", "confidence_threshold": "0.5"}


class Libraries:
    """The test's libraries, one load each, and the ``make_node`` of their custom nodes."""

    def __init__(self, out: Path) -> None:
        self.loaded = {
            name: CustomNodeLibrary.load(CustomNodeLibraryConfig(name, str(build(name, out))))
            for name in ("add_one", "crop", "faulty")
        }

    def make_node(self, node: NodeConfig) -> Node:
        assert node.kind == "custom" and node.library_name is not None
        return CustomNode(self.loaded[node.library_name], node.name, node.params)


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> Libraries:
    return Libraries(tmp_path_factory.mktemp("custom_nodes"))


def run(tmp_path: Path, body: Callable[[Served], Awaitable[T]]) -> T:
    async def go() -> T:
        served = Served(tmp_path)
        try:
            return await body(served)
        finally:
            await served.manager.close()

    return asyncio.run(go())


def detect_crop_classify(crop_params: dict[str, str]) -> object:
    return pipeline(
        [
            node(
                "crop",
                {"image": "request:image", "detection": "request:detection"},
                [("images", "crops"), "confidences"],
                kind="custom",
                library_name="crop",
                params=crop_params,
                demultiply_count=-1,
            ),
            node("classify", {"image": "crop:crops"}, ["probs"], model="classify"),
        ],
        {"probs": "classify:probs", "confidences": "crop:confidences"},
        inputs=("image", "detection"),
    )


def test_crop_demultiplexes_into_a_model_and_the_response_gathers(
    tmp_path: Path, libraries: Libraries
) -> None:
    async def body(served: Served) -> None:
        await served.serve("classify", models.small_cnn(size=16))
        pipe = build_pipeline(detect_crop_classify(CROP), served.manager.acquire, libraries.make_node)  # type: ignore[arg-type]
        assert pipe.outputs["probs"].shape == (-1, -1, 10)  # demultiplexed, then the model's own batch
        image = np.random.default_rng(1).uniform(0, 1, (1, 3, 32, 48)).astype(np.float32)
        detection = detections([0.9, 0.1, 0.6, 0.8], np.random.default_rng(3))
        out = await pipe.infer({"image": image, "detection": detection})
        crops, _, confidences = crop_reference(image, detection, 16, 16, 0.5)
        expected = np.stack([served.reference("classify", {"image": crop})["probs"] for crop in crops])
        assert out["probs"].shape == (3, 1, 10)
        np.testing.assert_allclose(out["probs"], expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(out["confidences"], confidences)
        with pytest.raises(DemultiplexerNoResults):  # nothing above the threshold: OVMS's "no content"
            await pipe.infer({"image": image, "detection": detections([0.2, 0.3], np.random.default_rng(4))})
        pipe.close()

    run(tmp_path, body)


def test_a_model_chained_after_add_one(tmp_path: Path, libraries: Libraries) -> None:
    config = pipeline(
        [
            node(
                "plus",
                {"input_numbers": "request:x"},
                [("output_numbers", "y")],
                kind="custom",
                library_name="add_one",
                params={"add_number": "3"},
            ),
            node("scale", {"x": "plus:y"}, ["y"], model="a"),
        ],
        {"out": "scale:y"},
    )

    async def body(served: Served) -> None:
        await served.serve("a", models.add_scaled(scale=2.0))
        pipe = build_pipeline(config, served.manager.acquire, libraries.make_node)
        data = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
        out = await pipe.infer({"x": data})
        np.testing.assert_allclose(
            out["out"], served.reference("a", {"x": data + np.float32(3)})["y"], rtol=1e-6
        )
        pipe.close()

    run(tmp_path, body)


def test_a_failing_library_answers_naming_the_node(tmp_path: Path, libraries: Libraries) -> None:
    config = pipeline(
        [
            node(
                "broken",
                {"x": "request:x"},
                ["y"],
                kind="custom",
                library_name="faulty",
                params={"mode": "bad_bytes"},
            )
        ],
        {"y": "broken:y"},
    )

    async def body(served: Served) -> None:
        pipe = build_pipeline(config, served.manager.acquire, libraries.make_node)
        with pytest.raises(NodeFailed) as caught:
            await pipe.infer({"x": np.zeros(3, np.float32)})
        assert caught.value.code is Code.UNKNOWN
        assert "Custom node output has invalid content size - output y" in caught.value.message
        assert "node: broken" in caught.value.message
        pipe.close()

    run(tmp_path, body)


def test_the_libraries_metadata_is_validated_against_the_models(tmp_path: Path, libraries: Libraries) -> None:
    """Crops of 8x8 cannot feed a classifier of 16x16 inputs: the pipeline is refused at build."""

    async def body(served: Served) -> None:
        await served.serve("classify", models.small_cnn(size=16))
        small = {**CROP, "target_image_width": "8", "target_image_height": "8"}
        with pytest.raises(PipelineInvalid) as caught:
            build_pipeline(detect_crop_classify(small), served.manager.acquire, libraries.make_node)  # type: ignore[arg-type]
        assert "node: classify; input: image" in caught.value.message
        assert "node: crop; output: images; shape: (1,-1,8,8)" in caught.value.message

    run(tmp_path, body)
