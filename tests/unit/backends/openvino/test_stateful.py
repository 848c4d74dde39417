"""Stateful models on the OpenVINO backend in-process: state per sequence on a shared request pool.

Sequences run interleaved and at once on a pool smaller than their number; each one's
outputs must equal an in-process OpenVINO infer request fed that sequence alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import models
import numpy as np
import pytest
from stateful_models import ReferenceSequence, recurrent_cell, running_sum, save, tensor_iterator_cell

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.config.types import ModelConfig, StatefulConfig
from ovserve.scheduling.stateful import StatefulServable


@pytest.fixture(scope="module")
def engine() -> OpenVINOEngine:
    return OpenVINOEngine()


def load(engine: OpenVINOEngine, base: Path, nireq: int = 2, low_latency: bool = False) -> StatefulServable:
    stateful = StatefulConfig(low_latency_transformation=low_latency)
    cfg = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32, nireq=nireq, stateful=stateful)
    return StatefulServable(engine.loader(cfg, 1, base / "1").load(), stateful)


async def run_sequence(
    servable: StatefulServable, sequence_id: int, xs: list[np.ndarray]
) -> list[dict[str, np.ndarray]]:
    answers = []
    for index, x in enumerate(xs):
        control = 1 if index == 0 else 2 if index == len(xs) - 1 else 0
        inputs = {
            "x": x,
            "sequence_id": np.array([sequence_id], np.uint64),
            "sequence_control_input": np.array([control], np.uint32),
        }
        answers.append(await servable.infer(inputs))
        await asyncio.sleep(0)  # let the other sequences interleave
    return answers


def check_against_reference(
    model_file: Path, xs: list[np.ndarray], answers: list[dict[str, np.ndarray]], low_latency: bool = False
) -> None:
    reference = ReferenceSequence(model_file, low_latency)
    for x, answer in zip(xs, answers, strict=True):
        expected = reference.step({"x": x})
        for name, value in expected.items():
            np.testing.assert_allclose(answer[name], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("builder", [running_sum, recurrent_cell])
def test_interleaved_sequences_on_a_small_pool_match_in_process_openvino(
    engine: OpenVINOEngine, tmp_path: Path, builder: object
) -> None:
    base = save(builder(), tmp_path / "m")  # type: ignore[operator]
    servable = load(engine, base, nireq=2)
    width = servable.inputs["x"].shape[1]
    rng = np.random.default_rng(5)
    sequences = {
        sid: [rng.normal(size=(1, width)).astype(np.float32) for _ in range(6)] for sid in range(1, 9)
    }

    async def all_at_once() -> list[list[dict[str, np.ndarray]]]:
        return await asyncio.gather(*(run_sequence(servable, sid, xs) for sid, xs in sequences.items()))

    answers = asyncio.run(asyncio.wait_for(all_at_once(), 60))
    for (sid, xs), got in zip(sequences.items(), answers, strict=True):
        assert all(int(a["sequence_id"][0]) == sid for a in got)
        check_against_reference(base / "1" / "model.xml", xs, got)
    assert len(servable.sequences) == 0
    servable.close()


def test_low_latency_transformation_keeps_a_tensor_iterators_state(
    engine: OpenVINOEngine, tmp_path: Path
) -> None:
    base = save(tensor_iterator_cell(), tmp_path / "ti")
    rng = np.random.default_rng(9)
    xs = [rng.normal(size=(1, 2, 3)).astype(np.float32) for _ in range(4)]
    servable = load(engine, base, low_latency=True)
    answers = asyncio.run(run_sequence(servable, 3, xs))
    check_against_reference(base / "1" / "model.xml", xs, answers, low_latency=True)
    # without the transformation every request starts from zeros: the answers differ after the first
    plain = asyncio.run(run_sequence(load(engine, base), 3, xs))
    np.testing.assert_allclose(plain[0]["h"], answers[0]["h"], rtol=1e-5)
    assert not np.allclose(plain[1]["h"], answers[1]["h"], atol=1e-3)
