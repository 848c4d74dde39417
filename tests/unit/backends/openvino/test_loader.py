"""The OpenVINO backend in-process: real models made with the opset API, no sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import models
import numpy as np
import pytest

from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.loader import DEFAULT_POOL_DEPTH, plugin_properties
from ovserve.config.types import LayoutSpec, ModelConfig
from ovserve.errors import LoadError
from ovserve.tensors import Dim


@pytest.fixture(scope="module")
def engine() -> OpenVINOEngine:
    return OpenVINOEngine()


def load(engine: OpenVINOEngine, base: Path, **kw: object):  # type: ignore[no-untyped-def]
    cfg = ModelConfig(name="m", base_path=str(base), plugin_config=models.F32, **kw)  # type: ignore[arg-type]
    return engine.loader(cfg, 1, base / "1").load()


def infer(servable, inputs):  # type: ignore[no-untyped-def]
    return asyncio.run(servable.infer(inputs))


def test_metadata_uses_the_model_files_names_and_dtypes(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.multi_io(), tmp_path / "m")
    s = load(engine, base)
    assert list(s.inputs) == ["a", "b"]
    assert list(s.outputs) == ["sum", "prod"]
    assert s.inputs["b"].datatype == "INT32"
    assert s.outputs["sum"].shape == (1, 3)
    assert s.nireq >= 1


@pytest.mark.parametrize("hint", ["THROUGHPUT", "LATENCY"])
def test_the_default_pool_is_deeper_than_openvinos_optimal_number_and_nireq_sets_it(
    engine: OpenVINOEngine, tmp_path: Path, hint: str
) -> None:
    base = models.save(models.small_cnn(), tmp_path / "cnn")
    config = {**models.F32, "PERFORMANCE_HINT": hint}
    s = engine.loader(ModelConfig(name="m", base_path=str(base), plugin_config=config), 1, base / "1").load()
    optimal = int(s.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    # every stream has its next requests queued inside OpenVINO; batching keeps one batch per stream
    assert (s.nireq, s.parallelism, len(s._slots)) == (optimal * DEFAULT_POOL_DEPTH, optimal, s.nireq)
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)

    async def many() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(s.infer({"image": x + i}) for i in range(2 * s.nireq)))

    for i, out in enumerate(asyncio.run(many())):  # the whole pool serves, more calls wait for it
        expected = models.reference(models.model_file(base), {"image": x + i})["probs"]
        np.testing.assert_allclose(out["probs"], expected, rtol=1e-5)
    configured = ModelConfig(name="m", base_path=str(base), plugin_config=config, nireq=3)
    s = engine.loader(configured, 1, base / "1").load()
    assert (s.nireq, s.parallelism, len(s._slots)) == (3, 3, 3)  # as in OVMS: nireq is the pool's size


def test_results_match_in_process_openvino(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.small_cnn(), tmp_path / "cnn")
    s = load(engine, base)
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    out = infer(s, {"image": x})
    np.testing.assert_allclose(
        out["probs"], models.reference(models.model_file(base), {"image": x})["probs"], rtol=1e-5
    )


def test_concurrent_requests_share_the_pool(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.add_scaled(), tmp_path / "a")
    s = load(engine, base, nireq=2)

    async def many() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(s.infer({"x": np.full((1, 4), i, np.float32)}) for i in range(20)))

    for i, out in enumerate(asyncio.run(many())):
        np.testing.assert_array_equal(out["y"], np.full((1, 4), 2 * i + 1, np.float32))


def test_strings(engine: OpenVINOEngine, tmp_path: Path) -> None:
    s = load(engine, models.save(models.string_identity(), tmp_path / "s"))
    data = np.array([b"hello", b"", "żółw".encode()], dtype=object)
    out = infer(s, {"text": data})
    assert list(out["text"]) == list(data)


def test_batch_size_shape_and_layout(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.small_cnn(), tmp_path / "cnn")
    assert load(engine, base, batch_size=Dim.static(4)).inputs["image"].shape == (4, 3, 32, 32)
    s = load(engine, base, shape=(Dim.static(2), Dim.static(3), Dim.static(32), Dim.static(32)))
    assert s.inputs["image"].shape == (2, 3, 32, 32)
    s = load(engine, base, layout=LayoutSpec("NHWC", "NCHW"))
    assert s.inputs["image"].shape == (-1, 32, 32, 3)
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32)
    out = infer(s, {"image": np.ascontiguousarray(x.transpose(0, 2, 3, 1))})
    np.testing.assert_allclose(
        out["probs"], models.reference(models.model_file(base), {"image": x})["probs"], rtol=1e-5
    )


def test_load_errors_name_the_problem(engine: OpenVINOEngine, tmp_path: Path) -> None:
    (tmp_path / "empty" / "1").mkdir(parents=True)
    with pytest.raises(LoadError, match="no model file"):
        load(engine, tmp_path / "empty")
    broken = tmp_path / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "model.xml").write_text("<net>not a model")
    (broken / "model.bin").write_bytes(b"")
    with pytest.raises(LoadError, match="File not found or cannot open"):
        load(engine, tmp_path / "broken")
    base = models.save(models.multi_io(), tmp_path / "multi")
    with pytest.raises(LoadError, match="anonymous shape needs a single-input model"):
        load(engine, base, shape=(Dim.static(1), Dim.static(3)))
    with pytest.raises(LoadError, match="Nireq parameter too high"):
        load(engine, base, nireq=200_000)
    with pytest.raises(LoadError, match="Cannot compile model into target device"):
        load(engine, base, target_device="NOSUCHDEVICE")


def test_plugin_properties_defaults_and_legacy_keys() -> None:
    assert plugin_properties({}) == {"PERFORMANCE_HINT": "LATENCY"}
    assert plugin_properties({"NUM_STREAMS": "2"}) == {"NUM_STREAMS": "2"}
    assert plugin_properties({"CPU_THROUGHPUT_STREAMS": "CPU_THROUGHPUT_AUTO"}) == {
        "PERFORMANCE_HINT": "THROUGHPUT"
    }
    assert plugin_properties({"CPU_BIND_THREAD": "NO", "PERFORMANCE_HINT": "THROUGHPUT"}) == {
        "AFFINITY": "NONE",
        "PERFORMANCE_HINT": "THROUGHPUT",
    }


def test_pass_through_outputs_stay_correct_as_shapes_grow(engine: OpenVINOEngine, tmp_path: Path) -> None:
    # OpenVINO 2026.4 can return stale data for an output wired straight to an input once
    # the input grows; the servable answers such outputs from the input itself.
    base = models.save(models.identity(np.float32, (-1, 10)), tmp_path / "id")
    s = load(engine, base, nireq=4)
    rng = np.random.default_rng(0)
    inputs = [
        rng.standard_normal((int(rng.integers(1, 2 + i // 8)), 10)).astype(np.float32) for i in range(400)
    ]

    async def many() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(s.infer({"in": x}) for x in inputs))

    for x, out in zip(inputs, asyncio.run(many()), strict=True):
        np.testing.assert_array_equal(out["out"], x)


def test_concurrent_calls_with_changing_batch_sizes(engine: OpenVINOEngine, tmp_path: Path) -> None:
    base = models.save(models.add_scaled(shape=(-1, 10)), tmp_path / "a")
    s = load(engine, base, nireq=3)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((int(rng.integers(1, 40)), 10)).astype(np.float32) for _ in range(300)]

    async def many() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(s.infer({"x": x}) for x in inputs))

    for x, out in zip(inputs, asyncio.run(many()), strict=True):
        np.testing.assert_allclose(out["y"], x * 2 + 1, rtol=1e-6)


@pytest.mark.parametrize("inline_us", [0, 1_000_000])
def test_inline_and_threaded_inference_give_the_same_results(tmp_path: Path, inline_us: int) -> None:
    engine = OpenVINOEngine(inline_inference_us=inline_us)
    base = models.save(models.small_cnn(), tmp_path / "cnn")
    s = load(engine, base, nireq=2, batch_size=Dim.static(1))
    assert s._estimate_ns > 0  # measured by the warm-up (static shapes only)
    rng = np.random.default_rng(5)
    images = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(6)]

    async def many() -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(s.infer({"image": x}) for x in images))

    for x, out in zip(images, asyncio.run(many()), strict=True):
        expected = models.reference(models.model_file(base), {"image": x})["probs"]
        np.testing.assert_allclose(out["probs"], expected, rtol=1e-5)


def test_slow_runs_now_and_then_do_not_push_a_short_model_off_the_fast_path(tmp_path: Path) -> None:
    engine = OpenVINOEngine(inline_inference_us=300)
    s = load(engine, models.save(models.add_scaled((1, 4)), tmp_path / "m"))
    s._estimate_ns = 30_000
    s._recent = [30_000] * 8  # what a tiny model measures on a quiet machine
    assert s._runs_inline(40)
    # a busy machine: most runs are delayed by the OS, but not all of them
    for i in range(200):
        s._observe_inline(30_000 if i % 5 == 0 else 2_000_000)
        assert s._runs_inline(40)


def test_a_model_that_became_slow_leaves_the_fast_path_and_comes_back(tmp_path: Path) -> None:
    engine = OpenVINOEngine(inline_inference_us=300)
    s = load(engine, models.save(models.add_scaled((1, 4)), tmp_path / "m"))
    for _ in range(8):
        s._observe_inline(500_000)  # every recent run over the threshold (within 4x of it)
    assert not s._runs_inline(40)
    # it is re-measured inline now and then, and comes back once those runs are short again
    probes = 0
    for _ in range(64 * 10):
        if s._runs_inline(40):
            probes += 1
            s._observe_inline(30_000)
            if probes == 1:
                break
    assert probes == 1
    assert s._runs_inline(40)


def test_a_model_slower_than_the_threshold_stays_off_the_event_loop(tmp_path: Path) -> None:
    engine = OpenVINOEngine(inline_inference_us=1)  # 1 µs: no real model is that fast
    s = load(engine, models.save(models.add_scaled((1, 4)), tmp_path / "m"))
    assert not any(s._runs_inline(40) for _ in range(200))
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_allclose(infer(s, {"x": x})["y"], x * 2 + 1, rtol=1e-6)


def test_a_worker_of_a_multi_process_server_does_not_pin_openvino_threads(tmp_path: Path) -> None:
    base = models.save(models.add_scaled((1, 4)), tmp_path / "m")
    shared = load(OpenVINOEngine(shared_cores=True), base)
    assert shared.compiled.get_property("ENABLE_CPU_PINNING") is False
    # a model's own plugin config still decides
    own = ModelConfig(
        name="m", base_path=str(base), plugin_config={**models.F32, "ENABLE_CPU_PINNING": "YES"}
    )
    pinned = OpenVINOEngine(shared_cores=True).loader(own, 1, base / "1").load()
    assert pinned.compiled.get_property("ENABLE_CPU_PINNING") is True
