"""OVMS 2025-2026 config syntax: preprocessing values, graph entries, config management commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovserve.cli import ConfigCommandRequested, parse_args
from ovserve.config.file import GRAPH_NOT_SERVED, parse_config
from ovserve.config.manage import ConfigCommand, list_servables
from ovserve.config.preprocessing import parse_preprocess
from ovserve.config.types import PreprocessSpec
from ovserve.errors import ConfigError
from ovserve.flags import usage

# --- preprocessing values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"mean": "0.5"}, PreprocessSpec(mean=0.5)),
        ({"mean": "[1, 2,3]"}, PreprocessSpec(mean=(1.0, 2.0, 3.0))),
        ({"scale": "(255,255,255)"}, PreprocessSpec(scale=(255.0, 255.0, 255.0))),
        ({"scale": 2}, PreprocessSpec(scale=2.0)),
        ({"mean": [1, 2.5]}, PreprocessSpec(mean=(1.0, 2.5))),
        ({"color_format": "bgr:rgb"}, PreprocessSpec(color_format=("BGR", "RGB"))),
        ({"precision": "uint8:fp32"}, PreprocessSpec(precision=("UINT8", "FP32"))),
        ({"mean": ""}, None),
        ({}, None),
    ],
)
def test_preprocess_values(values: dict[str, object], expected: PreprocessSpec | None) -> None:
    assert parse_preprocess(values, "--") == expected


@pytest.mark.parametrize(
    ("values", "key", "fragment"),
    [
        ({"mean": "x"}, "--mean", "Wrong format of float value"),
        ({"mean": "[1,,2]"}, "--mean", "Wrong format of float value"),
        ({"mean": "nan"}, "--mean", "not finite"),
        ({"mean": True}, "--mean", "expected a number"),
        ({"scale": "0"}, "--scale", "divides by zero"),
        ({"color_format": "RGB"}, "--color_format", "expected A:B"),
        ({"color_format": "RGB:YUV"}, "--color_format", "YUV is not one of"),
        ({"precision": "f32:u8"}, "--precision", "F32 is not one of"),
        ({"precision": 1}, "--precision", "expected A:B"),
    ],
)
def test_preprocess_errors_name_the_setting(values: dict[str, object], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_preprocess(values, "--")
    assert err.value.key == key and fragment in err.value.problem


# --- graph entries -------------------------------------------------------------------------------------


def test_graph_entries_carry_their_graph_file(tmp_path: Path) -> None:
    (tmp_path / "llm").mkdir()
    (tmp_path / "llm" / "graph.pbtxt").write_text("")
    doc = {
        "model_config_list": [
            {"config": {"name": "m", "base_path": "/m"}},
            {"config": {"name": "llm", "base_path": "llm"}},
            {"config": {"name": "g", "graph_path": "/graphs/g.pbtxt"}},
            {"config": {"name": "s", "base_path": "/x", "subconfig": "sub.json"}},
            {"config": {"name": "rel", "base_path": "llm", "graph_path": "other.pbtxt"}},
            {"config": {"name": "remote", "base_path": "s3://bucket/g", "graph_path": "graph.pbtxt"}},
        ],
        "mediapipe_config_list": [{"name": "mp"}],
    }
    models = {m.name: m for m in parse_config(doc, str(tmp_path)).models}
    assert models["m"].graph_path is None and models["m"].not_served is None
    assert models["llm"].graph_path == str(tmp_path / "llm" / "graph.pbtxt")
    assert models["llm"].base_path == str(tmp_path / "llm")
    assert models["g"].graph_path == "/graphs/g.pbtxt"
    assert models["s"].graph_path == "/x/graph.pbtxt"
    assert models["rel"].graph_path == str(tmp_path / "llm" / "other.pbtxt")  # relative to the base path
    assert models["mp"].base_path == str(tmp_path / "mp")  # OVMS's default: <config dir>/<name>
    assert models["mp"].graph_path == str(tmp_path / "mp" / "graph.pbtxt")
    assert all(models[n].not_served is None for n in ("llm", "g", "s", "rel", "mp"))
    assert models["remote"].graph_path is None
    assert models["remote"].not_served == f"{GRAPH_NOT_SERVED}: graph.pbtxt"


def test_a_model_path_holding_a_graph_is_a_graph_entry(tmp_path: Path) -> None:
    (tmp_path / "llm").mkdir()
    (tmp_path / "llm" / "graph.pbtxt").write_text("")
    (model,) = parse_args(
        ["--port", "9", "--model_name", "llm", "--model_path", "llm"], {}, cwd=str(tmp_path)
    ).models
    assert model.graph_path == str(tmp_path / "llm" / "graph.pbtxt") and model.not_served is None


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ({"base_path": "x"}, "mediapipe_config_list[0].name"),
        ({"name": "a", "nodes": []}, "mediapipe_config_list[0].nodes"),
        ({"name": "a", "graph_path": 1}, "mediapipe_config_list[0].graph_path"),
    ],
)
def test_graph_list_schema_violations_refuse_the_file(item: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"model_config_list": [], "mediapipe_config_list": [item]}, "/")
    assert err.value.key == key


# --- flags of unserved features ------------------------------------------------------------------------


def test_a_flag_of_an_unserved_feature_stops_start_up_naming_both() -> None:
    with pytest.raises(ConfigError) as err:
        parse_args(["--port", "9", "--model_name", "m", "--model_path", "/m", "--pull"], {}, cwd="/")
    assert (
        str(err.value) == "--pull: pulling models from Hugging Face (pull mode) is not served by ovserve yet"
    )
    assert "pulling models from Hugging Face (pull mode):" in usage()


# --- configuration management --------------------------------------------------------------------------


def command(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> ConfigCommand:
    with pytest.raises(ConfigCommandRequested) as asked:
        parse_args(list(argv), env or {}, cwd=str(tmp_path))
    return asked.value.command


def test_repository_env_gives_the_defaults(tmp_path: Path) -> None:
    env = {"OVMS_MODEL_REPOSITORY_PATH": "/repo"}
    add = command(tmp_path, "--add_to_config", "--model_name", "m", env=env)
    assert (add.config_path, add.model_path) == ("/repo/config.json", "/repo/m")
    listing = command(tmp_path, "--list_models", env=env)
    assert listing.repository_path == "/repo"


def test_add_remove_and_errors(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    add = command(tmp_path, "--add_to_config", "--config_path", "config.json", "--model_name", "m",
                  "--model_path", "/m", "--shape", '{"x": "(1,3)"}', "--batch_size", "2")  # fmt: skip
    assert add.run() == (0, "Config updated: config.json")  # printed as given, as OVMS does
    doc = json.loads(config.read_text())
    assert doc == {"model_config_list": [{"config": {
        "name": "m", "base_path": "/m", "batch_size": "2", "shape": {"x": "(1,3)"}}}]}  # fmt: skip
    config.write_text("{not json")
    assert add.run() == (1, "config.json error on config update : The file is not valid json")
    gone = command(
        tmp_path, "--remove_from_config", "--config_path", str(tmp_path / "none.json"), "--model_name", "m"
    )
    assert gone.run()[0] == 1 and "The provided base path is invalid" in gone.run()[1]


def test_list_servables_finds_models_and_graphs(tmp_path: Path) -> None:
    (tmp_path / "a" / "1").mkdir(parents=True)
    (tmp_path / "a" / "1" / "m.onnx").write_bytes(b"")
    (tmp_path / "deep" / "b" / "2").mkdir(parents=True)
    (tmp_path / "deep" / "b" / "2" / "m.xml").write_bytes(b"")
    (tmp_path / "deep" / "b" / "2" / "m.bin").write_bytes(b"")
    (tmp_path / "xml_only" / "1").mkdir(parents=True)
    (tmp_path / "xml_only" / "1" / "m.xml").write_bytes(b"")  # no .bin: not a model
    (tmp_path / "zero" / "01").mkdir(parents=True)
    (tmp_path / "zero" / "01" / "m.onnx").write_bytes(b"")  # "01" is not a version name
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "graph.pbtxt").write_text("")
    assert list_servables(str(tmp_path)) == ["a", "deep/b", "g"]
    assert list_servables(str(tmp_path / "missing")) == []


def test_list_servables_survives_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "a" / "1").mkdir(parents=True)
    (tmp_path / "a" / "1" / "m.tflite").write_bytes(b"")
    (tmp_path / "group").mkdir()
    (tmp_path / "group" / "loop").symlink_to(tmp_path / "group")
    assert list_servables(str(tmp_path)) == ["a"]


def test_a_graph_subconfig_adds_its_models(tmp_path: Path) -> None:
    graph = tmp_path / "graph"
    graph.mkdir()
    (graph / "graph.pbtxt").write_text("")
    (graph / "subconfig.json").write_text(
        json.dumps({"model_config_list": [{"config": {"name": "inner", "base_path": "model", "nireq": 2}}]})
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "graph.pbtxt").write_text("")
    (tmp_path / "other" / "mine.json").write_text(
        json.dumps({"model_config_list": [{"config": {"name": "second", "base_path": "/abs"}}]})
    )
    doc = {
        "model_config_list": [{"config": {"name": "g", "base_path": "graph"}}],
        "mediapipe_config_list": [
            {"name": "h", "base_path": "other", "subconfig": "mine.json"},
            {"name": "none", "base_path": "other", "subconfig": "missing.json"},  # no error, as OVMS
        ],
    }
    models = {m.name: m for m in parse_config(doc, str(tmp_path)).models}
    assert set(models) == {"g", "h", "none", "inner", "second"}
    assert models["inner"].base_path == str(graph / "model") and models["inner"].nireq == 2
    assert models["second"].base_path == "/abs"


def test_a_subconfig_that_is_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "subconfig.json").write_text("{")
    with pytest.raises(ConfigError, match="subconfig"):
        parse_config({"model_config_list": [], "mediapipe_config_list": [{"name": "g"}]}, str(tmp_path))


def test_single_model_mode_on_a_graph_directory_reads_its_subconfig(tmp_path: Path) -> None:
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "graph.pbtxt").write_text("")
    (tmp_path / "g" / "subconfig.json").write_text(
        json.dumps({"model_config_list": [{"config": {"name": "m", "base_path": "m"}}]})
    )
    graph, model = parse_args(
        ["--port", "9", "--model_name", "g", "--model_path", "g"], {}, cwd=str(tmp_path)
    ).models
    assert graph.graph_path == str(tmp_path / "g" / "graph.pbtxt")
    assert (model.name, model.base_path) == ("m", str(tmp_path / "g" / "m"))
