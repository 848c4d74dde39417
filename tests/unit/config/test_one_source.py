"""One source of truth for configuration: defaults, the reload fingerprint, storage settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ovserve.cli import DEFAULTS, parse_args
from ovserve.config.genai import GenerativeConfig
from ovserve.config.storage import StorageSettings
from ovserve.config.types import (
    NOT_IN_FINGERPRINT,
    BatchingConfig,
    LayoutSpec,
    ModelConfig,
    PreprocessSpec,
    ServerConfig,
    StatefulConfig,
    VersionPolicy,
)
from ovserve.flags import FLAGS
from ovserve.tensors import Dim

BASE = ModelConfig(name="m", base_path="/m")

#: For every ModelConfig field: a value different from BASE's. A field added to ModelConfig without
#: an entry here fails test_every_model_field_is_covered_by_reloads, so whoever adds it decides.
CHANGED: dict[str, object] = {
    "name": "other",
    "base_path": "/elsewhere",
    "batch_size": Dim(4, 4),
    "shape": {"x": (Dim(1, 1), Dim(3, 3))},
    "layout": LayoutSpec("NHWC", "NCHW"),
    "version_policy": VersionPolicy("all"),
    "nireq": 3,
    "target_device": "GPU",
    "plugin_config": {"NUM_STREAMS": "2"},
    "allow_cache": True,
    "dynamic_batching": BatchingConfig(max_batch_size=8),
    "preprocess": PreprocessSpec(mean=0.5),
    "stateful": StatefulConfig(max_sequence_number=7),
    "generative": GenerativeConfig(task="embeddings"),
    "not_served": "a graph",
    "invalid": "a bad shape",
    "graph_path": "/m/graph.pbtxt",
}


def test_every_model_field_is_covered_by_reloads() -> None:
    names = [f.name for f in dataclasses.fields(ModelConfig)]
    missing = [name for name in names if name not in CHANGED]
    assert not missing, f"new ModelConfig fields {missing}: add a changed value to CHANGED"
    for name in names:
        changed = dataclasses.replace(BASE, **{name: CHANGED[name]})
        assert changed != BASE
        if name in NOT_IN_FINGERPRINT:
            assert changed.fingerprint() == BASE.fingerprint(), name
        else:
            assert changed.fingerprint() != BASE.fingerprint(), f"changing {name} would not reload the model"
        hash(changed.fingerprint())


def test_mapping_order_does_not_change_the_fingerprint() -> None:
    a = dataclasses.replace(BASE, plugin_config={"A": "1", "B": "2"})
    b = dataclasses.replace(BASE, plugin_config={"B": "2", "A": "1"})
    assert a.fingerprint() == b.fingerprint()


def test_flag_defaults_come_from_the_server_config() -> None:
    for flag in FLAGS:
        if flag.default is None:
            value = getattr(ServerConfig(), flag.name)
            shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
            assert flag.shown_default() == shown, flag.name
    assert ServerConfig() == DEFAULTS
    assert {f.name for f in FLAGS if f.default is None} >= {
        "port", "rest_port", "grpc_memory_quota", "inline_inference_us", "max_request_bytes",
        "shutdown_grace_seconds", "file_system_poll_wait_seconds", "log_level",
    }  # fmt: skip


def test_parsed_defaults_equal_the_server_config_defaults(tmp_path: Path) -> None:
    parsed = parse_args(
        ["--rest_port", "8000", "--model_name", "m", "--model_path", "/m"], {}, cwd=str(tmp_path)
    )
    expected = ServerConfig(rest_port=8000, models=parsed.models, cache_dir=parsed.cache_dir)
    assert parsed == expected


def test_storage_settings_are_parsed_by_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-process")  # not read: only env is
    env = {"S3_ENDPOINT": "http://minio:9000", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    parsed = parse_args(["--port", "9", "--model_name", "m", "--model_path", "/m"], env, cwd=str(tmp_path))
    assert parsed.storage == StorageSettings.from_env(env)
    assert parsed.storage.s3_endpoint == "http://minio:9000"
    assert parsed.storage.aws_access_key_id == "k"
    bare = parse_args(["--port", "9", "--model_name", "m", "--model_path", "/m"], {}, cwd=str(tmp_path))
    assert bare.storage == StorageSettings()
