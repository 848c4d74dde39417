"""config.json's ``dynamic_batching`` (ovserve's extension) and the loader decorator that installs it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import EchoServable

from ovserve.config.model_entry import parse_model_entry
from ovserve.config.types import BatchingConfig, LayoutSpec, ModelConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import Loader
from ovserve.core.servable import Servable
from ovserve.errors import ConfigError, LoadError
from ovserve.scheduling import BatchingHooks, BatchingLoader, BatchingServable, backend_config, with_batching
from ovserve.tensors import Dim, TensorSpec


def model(**extra: Any) -> ModelConfig:
    """One entry parsed strictly: an error in its values raises (parse_config would mark it invalid)."""
    entry = {"config": {"name": "m", "base_path": "/models/m", **extra}}
    return parse_model_entry(entry, "model_config_list[0]", "/")


def test_dynamic_batching_parses_with_defaults() -> None:
    cfg = model(dynamic_batching={"max_batch_size": 16})
    assert cfg.dynamic_batching == BatchingConfig(max_batch_size=16)
    full = model(
        dynamic_batching={
            "max_batch_size": 32,
            "max_queue_delay_microseconds": 1000,
            "preferred_batch_sizes": [16, 8, 16],
            "max_queue_size": 256,
            "timeout_microseconds": 5000,
            "adaptive_queue_delay": False,
        }
    )
    assert full.dynamic_batching == BatchingConfig(32, 1000, (8, 16), 256, 5000, adaptive_queue_delay=False)
    assert cfg.dynamic_batching is not None and cfg.dynamic_batching.adaptive_queue_delay  # on by default
    assert model().dynamic_batching is None


@pytest.mark.parametrize(
    ("value", "key", "text"),
    [
        ([], "dynamic_batching", "expected an object"),
        ({}, "dynamic_batching.max_batch_size", "required key is missing"),
        ({"max_batch_size": 4, "max_delay": 1}, "dynamic_batching.max_delay", "unknown key"),
        ({"max_batch_size": 0}, "dynamic_batching.max_batch_size", "must be >= 1"),
        ({"max_batch_size": "8"}, "dynamic_batching.max_batch_size", "expected an integer"),
        ({"max_batch_size": True}, "dynamic_batching.max_batch_size", "expected an integer"),
        ({"max_batch_size": 2**31}, "dynamic_batching.max_batch_size", "must be <="),
        (
            {"max_batch_size": 8, "preferred_batch_sizes": 4},
            "dynamic_batching.preferred_batch_sizes",
            "array",
        ),
        (
            {"max_batch_size": 8, "preferred_batch_sizes": [4, 16]},
            "dynamic_batching.preferred_batch_sizes[1]",
            "must be <= max_batch_size (8)",
        ),
        (
            {"max_batch_size": 8, "preferred_batch_sizes": [0]},
            "dynamic_batching.preferred_batch_sizes[0]",
            ">= 1",
        ),
        (
            {"max_batch_size": 8, "max_queue_delay_microseconds": -1},
            "dynamic_batching.max_queue_delay_microseconds",
            ">= 0",
        ),
        ({"max_batch_size": 8, "max_queue_size": 1.5}, "dynamic_batching.max_queue_size", "integer"),
        ({"max_batch_size": 8, "timeout_microseconds": -5}, "dynamic_batching.timeout_microseconds", ">= 0"),
        (
            {"max_batch_size": 8, "adaptive_queue_delay": "yes"},
            "dynamic_batching.adaptive_queue_delay",
            "expected true or false",
        ),
    ],
)
def test_dynamic_batching_errors_name_the_key(value: object, key: str, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        model(dynamic_batching=value)
    assert caught.value.key == f"model_config_list[0].config.{key}"
    assert text in caught.value.problem


def test_a_static_batch_size_that_cannot_batch_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        model(batch_size=1, dynamic_batching={"max_batch_size": 8})
    assert caught.value.key.endswith("dynamic_batching.max_batch_size")
    assert "batch_size 1 cannot take batches of 1 to 8" in caught.value.problem
    ranged = model(batch_size="1:8", dynamic_batching={"max_batch_size": 8})
    assert ranged.batch_size == Dim(1, 8)


def test_batching_settings_are_part_of_the_fingerprint() -> None:
    a = model(dynamic_batching={"max_batch_size": 8})
    b = model(dynamic_batching={"max_batch_size": 8, "max_queue_size": 4})
    assert a.fingerprint() != b.fingerprint() != model().fingerprint()
    assert a.fingerprint() == model(dynamic_batching={"max_batch_size": 8}).fingerprint()


def test_backend_config_makes_the_batch_dimension_dynamic_unless_the_user_set_one() -> None:
    batching = BatchingConfig(max_batch_size=16)
    plain = ModelConfig("m", "/m", dynamic_batching=batching)
    assert backend_config(plain).batch_size == Dim(1, 16)
    assert backend_config(plain).dynamic_batching == batching
    mine = dataclasses.replace(plain, batch_size=Dim.any())
    assert backend_config(mine) is mine
    shaped = dataclasses.replace(plain, shape=(Dim.static(1), Dim.static(3)))
    assert backend_config(shaped) is shaped
    off = ModelConfig("m", "/m")
    assert backend_config(off) is off


class _Loader:
    def __init__(
        self, config: ModelConfig, version: int, inputs: tuple[TensorSpec, ...] | None = None
    ) -> None:
        self.config = config
        self.version = version
        self.inputs = inputs
        self.servable: EchoServable | None = None

    def load(self) -> Servable:
        sid = ServableId(self.config.name, self.version)
        self.servable = EchoServable(sid, self.inputs) if self.inputs else EchoServable(sid)
        return self.servable


def test_with_batching_wraps_only_models_that_ask_for_it() -> None:
    made: list[_Loader] = []

    def factory(config: ModelConfig, version: int, path: Path) -> Loader:
        made.append(_Loader(config, version))
        return made[-1]

    hooks_for: list[ServableId] = []

    def hooks(sid: ServableId) -> BatchingHooks:
        hooks_for.append(sid)
        return BatchingHooks()

    make = with_batching(factory, in_flight=lambda _s: 3, hooks=hooks)
    plain = make(ModelConfig("p", "/p"), 1, Path("/p/1"))
    assert plain is made[0]
    batched = make(ModelConfig("b", "/b", dynamic_batching=BatchingConfig(8)), 2, Path("/b/2"))
    assert isinstance(batched, BatchingLoader)
    assert made[1].config.batch_size == Dim(1, 8)  # the backend is asked for a dynamic batch
    servable = batched.load()
    assert isinstance(servable, BatchingServable)
    assert servable.inner is made[1].servable
    assert servable.max_in_flight == 3
    assert hooks_for == [ServableId("b", 2)]


class _PooledEcho(EchoServable):
    @property
    def parallelism(self) -> int:
        return 4


def test_batches_in_flight_default_to_the_servables_parallelism() -> None:
    config = ModelConfig("b", "/b", dynamic_batching=BatchingConfig(8))
    loader = _Loader(config, 1)
    plain = with_batching(lambda *_args: loader)(config, 1, Path("/b/1")).load()
    assert isinstance(plain, BatchingServable) and plain.max_in_flight == 1 and plain.parallelism == 1

    class _PooledLoader(_Loader):
        def load(self) -> Servable:
            self.servable = _PooledEcho(ServableId(self.config.name, self.version))
            return self.servable

    pooled = with_batching(lambda *_args: _PooledLoader(config, 1))(config, 1, Path("/b/1")).load()
    assert isinstance(pooled, BatchingServable) and pooled.max_in_flight == 4 and pooled.parallelism == 4


def test_batching_loader_closes_the_model_it_cannot_batch() -> None:
    static = (TensorSpec("x", np.dtype(np.float32), (Dim.static(1), Dim.static(4))),)
    config = ModelConfig("m", "/m", dynamic_batching=BatchingConfig(8))
    inner = _Loader(config, 1, static)
    with pytest.raises(LoadError, match="batch dimension 1"):
        BatchingLoader(inner, config, 1).load()
    assert inner.servable is not None and inner.servable.closed


@pytest.mark.parametrize("layout", [LayoutSpec("NHWC", "NCHW"), LayoutSpec("N..."), {"x": LayoutSpec("NC")}])
def test_layouts_with_the_batch_first_are_accepted(layout: object) -> None:
    config = ModelConfig("m", "/m", layout=layout, dynamic_batching=BatchingConfig(8))  # type: ignore[arg-type]
    assert isinstance(BatchingLoader(_Loader(config, 1), config, 1).load(), BatchingServable)


@pytest.mark.parametrize("layout", [LayoutSpec("CN"), {"x": LayoutSpec("HWCN:NCHW")}])
def test_a_layout_with_the_batch_elsewhere_is_refused_at_load(layout: object) -> None:
    config = ModelConfig("m", "/m", layout=layout, dynamic_batching=BatchingConfig(8))  # type: ignore[arg-type]
    inner = _Loader(config, 1)
    with pytest.raises(LoadError, match="does not have the batch"):
        BatchingLoader(inner, config, 1).load()
    assert inner.servable is None  # refused before loading anything
