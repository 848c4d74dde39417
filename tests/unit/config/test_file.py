"""config.json: schema validation, base paths, unsupported sections and monitoring."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from ovserve.config.file import ConfigFile, load_config_file, parse_config_text
from ovserve.config.model_entry import NON_STATEFUL_PARAMETER as NON_STATEFUL
from ovserve.config.types import LayoutSpec, MetricsConfig, ModelConfig, StatefulConfig, VersionPolicy
from ovserve.errors import ConfigError
from ovserve.tensors import Dim

M0 = "model_config_list[0].config"


def write(tmp_path: Path, doc: object, name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(path)


def models(*configs: dict[str, object]) -> dict[str, object]:
    return {"model_config_list": [{"config": c} for c in configs]}


def load(tmp_path: Path, doc: object) -> ConfigFile:
    return load_config_file(write(tmp_path, doc))


def fails(tmp_path: Path, doc: object, key: str, *fragments: str) -> ConfigError:
    """The whole file is refused (a schema violation)."""
    with pytest.raises(ConfigError) as err:
        load(tmp_path, doc)
    assert err.value.key == key, str(err.value)
    for fragment in fragments:
        assert fragment in err.value.problem, (fragment, err.value.problem)
    return err.value


def invalid(tmp_path: Path, doc: object, key: str, *fragments: str) -> ModelConfig:
    """The file loads; its first entry is invalid (not served), naming the key and the problem (as OVMS)."""
    entry = load(tmp_path, doc).models[0]
    assert entry.invalid is not None and entry.invalid.startswith(f"{key}: "), entry
    for fragment in fragments:
        assert fragment in entry.invalid, (fragment, entry.invalid)
    return entry


# --- a complete, valid file ---------------------------------------------------------------------


def test_full_model_entry(tmp_path: Path) -> None:
    doc = models(
        {
            "name": "resnet",
            "base_path": "models/resnet",
            "batch_size": "1:8",
            "layout": "NHWC:NCHW",
            "model_version_policy": {"latest": {"num_versions": 2}},
            "nireq": 4,
            "target_device": "GPU",
            "plugin_config": {"NUM_STREAMS": 2, "PERF_COUNT": True},
            "allow_cache": True,
            "stateful": False,
        }
    )
    cfg = load(tmp_path, doc)
    assert cfg.metrics is None
    assert cfg.raw == doc
    (model,) = cfg.models
    assert model == ModelConfig(
        name="resnet",
        base_path=str(tmp_path / "models" / "resnet"),
        batch_size=Dim(1, 8),
        layout=LayoutSpec("NHWC", "NCHW"),
        version_policy=VersionPolicy("latest", num_versions=2),
        nireq=4,
        target_device="GPU",
        plugin_config={"NUM_STREAMS": "2", "PERF_COUNT": "YES"},
        allow_cache=True,
    )


def test_minimal_and_empty_lists(tmp_path: Path) -> None:
    assert load(tmp_path, {"model_config_list": []}).models == ()
    (model,) = load(tmp_path, models({"name": "m", "base_path": "/abs/m"})).models
    assert model == ModelConfig(name="m", base_path="/abs/m")


def test_shape_object_forms_and_batch_dropped_when_shape_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = {
        "name": "m",
        "base_path": "/m",
        "batch_size": 4,
        "shape": {"a": "(1,3)", "b": [2, 2], "c": "auto"},
    }
    with caplog.at_level(logging.WARNING, "ovserve.config"):
        (model,) = load(tmp_path, models(entry)).models
    assert model.shape == {"a": (Dim(1, 1), Dim(3, 3)), "b": (Dim(2, 2), Dim(2, 2)), "c": "auto"}
    assert model.batch_size is None
    assert "batch_size is ignored" in caplog.text


def test_anonymous_shape_and_layout_object(tmp_path: Path) -> None:
    entry = {"name": "m", "base_path": "/m", "shape": "(1,-1)", "layout": {"in": "nhwc:nchw", "out": "N..."}}
    (model,) = load(tmp_path, models(entry)).models
    assert model.shape == (Dim(1, 1), Dim.any())
    assert model.layout == {"in": LayoutSpec("NHWC", "NCHW"), "out": LayoutSpec("N...")}


def test_batch_size_integer_and_auto(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        models(
            {"name": "a", "base_path": "/a", "batch_size": 0},
            {"name": "b", "base_path": "/b", "batch_size": "auto"},
        ),
    )
    assert [m.batch_size for m in cfg.models] == [Dim(0, 0), "auto"]


def test_stateful_keys_with_ovms_defaults(tmp_path: Path) -> None:
    (model,) = load(tmp_path, models({"name": "m", "base_path": "/m", "stateful": True})).models
    assert model.stateful == StatefulConfig(max_sequence_number=500, idle_sequence_cleanup=True)
    entry = {
        "name": "m",
        "base_path": "/m",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "low_latency_transformation": True,
        "max_sequence_number": 0,
    }
    (model,) = load(tmp_path, models(entry)).models
    assert model.stateful == StatefulConfig(0, False, True)
    (model,) = load(tmp_path, models({"name": "m", "base_path": "/m", "stateful": False})).models
    assert model.stateful is None


def test_unsupported_sections_accepted_when_empty(tmp_path: Path) -> None:
    doc = {
        "model_config_list": [],
        "pipeline_config_list": [],
        "custom_node_library_config_list": [],
        "custom_loader_config_list": [],
        "mediapipe_config_list": [],
    }
    assert load(tmp_path, doc).models == ()


def test_directory_path_means_its_config_json(tmp_path: Path) -> None:
    write(tmp_path, models({"name": "m", "base_path": "m"}))
    (model,) = load_config_file(str(tmp_path)).models
    assert model.base_path == str(tmp_path / "m")


def test_relative_config_path_resolves_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", models({"name": "m", "base_path": "./models/m"}))
    monkeypatch.chdir(tmp_path)
    (model,) = load_config_file("conf/config.json").models
    assert model.base_path == str(tmp_path / "conf" / "models" / "m")


# --- base paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["s3://bucket/m", "s3://minio:9000/bucket/m", "gs://bucket/m", "az://container/m", "azfs://share/m"],
)
def test_cloud_base_paths_kept(tmp_path: Path, url: str) -> None:
    assert load(tmp_path, models({"name": "m", "base_path": url})).models[0].base_path == url


@pytest.mark.parametrize("path", ["../m", "models/../../m", "/models/..", "s3://b/../m", "a\\..\\b"])
def test_dotdot_segments_rejected(tmp_path: Path, path: str) -> None:
    invalid(
        tmp_path,
        models({"name": "m", "base_path": path}),
        f"{M0}.base_path",
        "The provided base path is invalid or doesn't exists",
        "escape with .. is forbidden",
    )


def test_dots_inside_names_are_not_dotdot_segments(tmp_path: Path) -> None:
    (model,) = load(tmp_path, models({"name": "m", "base_path": "/models/m..v2/x"})).models
    assert model.base_path == "/models/m..v2/x"


def test_empty_base_path_and_unknown_scheme_rejected(tmp_path: Path) -> None:
    invalid(tmp_path, models({"name": "m", "base_path": ""}), f"{M0}.base_path", "empty path")
    invalid(
        tmp_path,
        models({"name": "m", "base_path": "azure://c/m"}),
        f"{M0}.base_path",
        "unsupported storage URL scheme azure://",
    )


# --- duplicates ---------------------------------------------------------------------------------


def test_duplicate_names_first_wins_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    doc = models(
        {"name": "m", "base_path": "/first"},
        {"name": "n", "base_path": "/n"},
        {"name": "m", "base_path": "/2"},
    )
    with caplog.at_level(logging.WARNING, "ovserve.config"):
        cfg = load(tmp_path, doc)
    assert [(m.name, m.base_path) for m in cfg.models] == [("m", "/first"), ("n", "/n")]
    assert "Duplicated model names: m" in caplog.text


# --- file-level errors --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.json")
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert err.value.key == path
    assert "Configuration file not found or cannot open" in err.value.problem


def test_invalid_json_reports_parser_message_and_position(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "model_config_list": [,]\n}')
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert err.value.key == path
    assert err.value.problem.startswith("The file is not valid json - Expecting value")
    assert "line 2 column 25" in err.value.problem
    assert "(char 26)" in err.value.problem


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"model_config_list": ["\xff"]}')
    with pytest.raises(ConfigError) as err:
        load_config_file(str(path))
    assert "The file is not valid json" in err.value.problem


def test_parse_config_text_names_its_source() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text("nope", "/cfg", source="/etc/ovms/config.json")
    assert err.value.key == "/etc/ovms/config.json"
    cfg = parse_config_text(b'{"model_config_list": [{"config": {"name": "m", "base_path": "m"}}]}', "/cfg")
    assert cfg.models[0].base_path == "/cfg/m"


# --- schema: unknown keys, required keys, types -------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "key", "fragment"),
    [
        ([], "", "expected a JSON object at the top level, got array"),
        ({}, "model_config_list", "required key is missing"),
        ({"model_config_list": [], "extra": 1}, "extra", "unknown key"),
        ({"model_config_list": {}}, "model_config_list", "expected an array, got object"),
        ({"model_config_list": [5]}, "model_config_list[0]", "expected an object"),
        ({"model_config_list": [{}]}, "model_config_list[0].config", "required key is missing"),
        ({"model_config_list": [{"config": {}, "x": 1}]}, "model_config_list[0].x", "unknown key"),
        ({"model_config_list": [{"config": []}]}, M0, "expected an object, got array"),
        (models({"base_path": "/m"}), f"{M0}.name", "required key is missing"),
        (models({"name": "m", "base_path": "/m", "version": 1}), f"{M0}.version", "unknown key"),
        (models({"name": 1, "base_path": "/m"}), f"{M0}.name", "expected a string, got integer"),
        (models({"name": "", "base_path": "/m"}), f"{M0}.name", "must not be empty"),
        (models({"name": "m", "base_path": None}), f"{M0}.base_path", "expected a string, got null"),
        (models({"name": "m", "base_path": "/m", "nireq": -1}), f"{M0}.nireq", "must be >= 0"),
        (
            models({"name": "m", "base_path": "/m", "nireq": 1.0}),
            f"{M0}.nireq",
            "expected an integer, got number",
        ),
        (models({"name": "m", "base_path": "/m", "nireq": True}), f"{M0}.nireq", "got boolean"),
        (
            models({"name": "m", "base_path": "/m", "target_device": 1}),
            f"{M0}.target_device",
            "expected a string",
        ),
        (
            models({"name": "m", "base_path": "/m", "allow_cache": "yes"}),
            f"{M0}.allow_cache",
            "true or false",
        ),
        (
            models({"name": "m", "base_path": "/m", "shape": 1}),
            f"{M0}.shape",
            "expected a string or an object",
        ),
        (
            models({"name": "m", "base_path": "/m", "layout": ["NHWC"]}),
            f"{M0}.layout",
            "a string or an object",
        ),
        (
            models({"name": "m", "base_path": "/m", "model_version_policy": '{"all": {}}'}),
            f"{M0}.model_version_policy",
            "expected an object, got string",
        ),
        (
            models({"name": "m", "base_path": "/m", "plugin_config": '{"A": "1"}'}),
            f"{M0}.plugin_config",
            "expected an object, got string",
        ),
    ],
)
def test_schema_violations_name_the_key(tmp_path: Path, doc: object, key: str, fragment: str) -> None:
    fails(tmp_path, doc, key, fragment)


@pytest.mark.parametrize(
    ("doc", "key", "fragment"),
    [
        (
            models({"name": "m", "base_path": "/m", "shape": "(1,x)"}),
            f"{M0}.shape",
            "shape is in wrong format",
        ),
        (models({"name": "m", "base_path": "/m", "shape": {"in": "(a)"}}), f"{M0}.shape.in", "wrong format"),
        (
            models({"name": "m", "base_path": "/m", "layout": "NHWQ"}),
            f"{M0}.layout",
            "layout is in wrong format",
        ),
        (models({"name": "m", "base_path": "/m", "batch_size": -1}), f"{M0}.batch_size", ">= 0"),
        (
            models({"name": "m", "base_path": "/m", "batch_size": "x"}),
            f"{M0}.batch_size",
            "dimension is in wrong",
        ),
        (
            models({"name": "m", "base_path": "/m", "model_version_policy": {"latest": {"num_versions": 0}}}),
            f"{M0}.model_version_policy.latest.num_versions",
            "Model version policy is in wrong format",
        ),
        (
            models({"name": "m", "base_path": "/m", "plugin_config": {"A": None}}),
            f"{M0}.plugin_config.A",
            "Plugin config is in wrong format",
        ),
    ],
)
def test_value_errors_make_only_the_entry_invalid(
    tmp_path: Path, doc: object, key: str, fragment: str
) -> None:
    invalid(tmp_path, doc, key, fragment)


# --- unsupported features -----------------------------------------------------------------------


def test_custom_loaders_rejected_when_not_empty(tmp_path: Path) -> None:
    section = "custom_loader_config_list"
    fails(
        tmp_path,
        {"model_config_list": [], section: [{"name": "x"}]},
        section,
        "custom loaders are not supported",
    )


def test_unsupported_section_must_still_be_an_array(tmp_path: Path) -> None:
    fails(
        tmp_path,
        {"model_config_list": [], "pipeline_config_list": {}},
        "pipeline_config_list",
        "expected an array",
    )


@pytest.mark.parametrize(
    ("extra", "key", "fragment"),
    [
        ({"stateful": 1}, "stateful", "true or false"),
        ({"idle_sequence_cleanup": True}, "idle_sequence_cleanup", NON_STATEFUL),
        ({"stateful": False, "max_sequence_number": 500}, "max_sequence_number", NON_STATEFUL),
        ({"low_latency_transformation": False}, "low_latency_transformation", NON_STATEFUL),
        ({"stateful": True, "max_sequence_number": -1}, "max_sequence_number", "must be >= 0"),
        ({"max_sequence_number": -1}, "max_sequence_number", "must be >= 0"),
        ({"idle_sequence_cleanup": "yes"}, "idle_sequence_cleanup", "true or false"),
        ({"stateful": True, "max_sequence_number": 2**32}, "max_sequence_number", "parameter too high"),
        ({"stateful": True, "max_sequence_number": "5"}, "max_sequence_number", "expected an integer"),
        ({"stateful": True, "idle_sequence_cleanup": "yes"}, "idle_sequence_cleanup", "true or false"),
        ({"stateful": True, "shape": "auto"}, "stateful", "not supported for stateful models"),
        ({"stateful": True, "batch_size": "auto"}, "stateful", "not supported for stateful models"),
        (
            {"stateful": True, "dynamic_batching": {"max_batch_size": 4}},
            "dynamic_batching",
            "cannot be batched",
        ),
    ],
)
def test_stateful_keys_checked_as_ovms(
    tmp_path: Path, extra: dict[str, object], key: str, fragment: str
) -> None:
    key = f"{M0}.{key}"
    entry = models({"name": "m", "base_path": "/m", **extra})
    if (
        fragment in _SCHEMA_FRAGMENTS
    ):  # a wrong JSON type or range breaks the schema: the whole file is refused
        fails(tmp_path, entry, key, fragment)
    else:  # a wrong value makes only this entry invalid, as in OVMS
        invalid(tmp_path, entry, key, fragment)


_SCHEMA_FRAGMENTS = ("true or false", "expected an integer", "must be >= 0")


def test_custom_loader_options_rejected(tmp_path: Path) -> None:
    entry = {"name": "m", "base_path": "/m", "custom_loader_options": {"loader_name": "x"}}
    invalid(tmp_path, models(entry), f"{M0}.custom_loader_options", "custom loaders are not supported")


# --- monitoring ---------------------------------------------------------------------------------


def test_monitoring_section(tmp_path: Path) -> None:
    doc = {
        "model_config_list": [],
        "monitoring": {
            "metrics": {"enable": True, "metrics_list": ["ovms_requests_success", "ovms_infer_req_active"]}
        },
    }
    assert load(tmp_path, doc).metrics == MetricsConfig(
        enable=True, metrics_list=("ovms_requests_success", "ovms_infer_req_active")
    )
    doc = {"model_config_list": [], "monitoring": {"metrics": {"enable": False}}}
    assert load(tmp_path, doc).metrics == MetricsConfig(enable=False)


@pytest.mark.parametrize(
    ("monitoring", "key", "fragment"),
    [
        ([], "monitoring", "expected an object"),
        ({}, "monitoring.metrics", "required key is missing"),
        ({"metrics": {"enable": True}, "x": 1}, "monitoring.x", "unknown key"),
        ({"metrics": {}}, "monitoring.metrics.enable", "required key is missing"),
        ({"metrics": {"enable": "true"}}, "monitoring.metrics.enable", "expected true or false"),
        (
            {"metrics": {"enable": True, "endpoint_path": "/m"}},
            "monitoring.metrics.endpoint_path",
            "unknown key",
        ),
        (
            {"metrics": {"enable": True, "metrics_list": "a"}},
            "monitoring.metrics.metrics_list",
            "expected an array",
        ),
        (
            {"metrics": {"enable": True, "metrics_list": [1]}},
            "monitoring.metrics.metrics_list[0]",
            "a string",
        ),
        (
            {"metrics": {"enable": True, "metrics_list": ["ovms_nope"]}},
            "monitoring.metrics.metrics_list",
            "Invalid name in metrics_list",
        ),
    ],
)
def test_monitoring_errors(tmp_path: Path, monitoring: object, key: str, fragment: str) -> None:
    fails(tmp_path, {"model_config_list": [], "monitoring": monitoring}, key, fragment)


# --- equality -----------------------------------------------------------------------------------


def test_equal_entries_are_equal_and_share_a_fingerprint() -> None:
    first = ModelConfig(name="a", base_path="/a", shape={"in": (Dim(1, 1),)}, plugin_config={"X": "1"})
    second = ModelConfig(name="a", base_path="/a", shape={"in": (Dim(1, 1),)}, plugin_config={"X": "1"})
    assert first == second
    assert first.fingerprint() == second.fingerprint()


def test_relative_base_path_is_absolute(tmp_path: Path) -> None:
    (model,) = load(tmp_path, models({"name": "m", "base_path": "sub/./m/"})).models
    assert os.path.isabs(model.base_path)
    assert model.base_path == str(tmp_path / "sub" / "m")
