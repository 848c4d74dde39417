"""config.json's pipeline_config_list and custom_node_library_config_list: OVMS's schema, ovserve's Python nodes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ovserve.config.file import load_config_file
from ovserve.config.pipeline_entries import MULTIPLE_SOURCES
from ovserve.config.pipelines import (
    CustomNodeLibraryConfig,
    NodeConfig,
    NodeOutput,
    PipelineConfig,
    TensorSource,
)
from ovserve.errors import ConfigError

P0 = "pipeline_config_list[0]"
N0 = f"{P0}.nodes[0]"


def chain() -> dict[str, object]:
    """OVMS's documented shape: a request input through one model to one pipeline output."""
    return {
        "name": "chain",
        "inputs": ["in"],
        "nodes": [
            {
                "name": "first",
                "type": "DL model",
                "model_name": "m1",
                "version": 2,
                "inputs": [{"x": {"node_name": "request", "data_item": "in"}}],
                "outputs": [{"data_item": "y", "alias": "first_out"}],
            },
            {
                "name": "crop",
                "type": "custom",
                "library_name": "lib",
                "params": {"w": "10"},
                "demultiply_count": 0,
                "inputs": [{"image": {"node_name": "first", "data_item": "first_out"}}],
                "outputs": [{"data_item": "crops", "alias": "crops"}],
            },
        ],
        "outputs": [{"out": {"node_name": "crop", "data_item": "crops"}}],
    }


def load(
    tmp_path: Path, *pipelines: object, libraries: tuple[object, ...] | list[object] = ()
) -> tuple[tuple[PipelineConfig, ...], tuple[CustomNodeLibraryConfig, ...]]:
    doc = {
        "model_config_list": [],
        "pipeline_config_list": list(pipelines),
        "custom_node_library_config_list": list(libraries),
    }
    (tmp_path / "config.json").write_text(json.dumps(doc))
    parsed = load_config_file(str(tmp_path / "config.json"))
    return parsed.pipelines, parsed.libraries


def refused(tmp_path: Path, pipeline: object, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, pipeline)
    assert err.value.key == key, str(err.value)
    assert fragment in str(err.value)


def test_a_pipeline_reads_as_ovms_writes_it(tmp_path: Path) -> None:
    pipelines, libraries = load(tmp_path, chain(), libraries=[{"name": "lib", "base_path": "libs/crop.so"}])
    assert pipelines == (
        PipelineConfig(
            name="chain",
            inputs=("in",),
            nodes=(
                NodeConfig(
                    name="first",
                    kind="DL model",
                    inputs={"x": TensorSource("request", "in")},
                    outputs=(NodeOutput("y", "first_out"),),
                    model_name="m1",
                    version=2,
                ),
                NodeConfig(
                    name="crop",
                    kind="custom",
                    inputs={"image": TensorSource("first", "first_out")},
                    outputs=(NodeOutput("crops", "crops"),),
                    library_name="lib",
                    params={"w": "10"},
                    demultiply_count=-1,  # 0 is OVMS's old spelling of dynamic
                ),
            ),
            outputs={"out": TensorSource("crop", "crops")},
        ),
    )
    assert libraries == (CustomNodeLibraryConfig("lib", str(tmp_path / "libs" / "crop.so")),)


def test_python_node_is_ovserves_extension(tmp_path: Path) -> None:
    node = {
        "name": "py",
        "type": "python",
        "handler_path": "nodes/crop.py",
        "inputs": [{"a": {"node_name": "request", "data_item": "in"}}],
        "outputs": [{"data_item": "b", "alias": "b"}],
    }
    pipeline = {**chain(), "nodes": [node], "outputs": [{"out": {"node_name": "py", "data_item": "b"}}]}
    (parsed,), _ = load(tmp_path, pipeline)
    assert parsed.nodes[0].kind == "python"
    assert parsed.nodes[0].handler_path == str(tmp_path / "nodes" / "crop.py")


def test_a_python_node_takes_no_params(tmp_path: Path) -> None:
    node = {
        "name": "py",
        "type": "python",
        "handler_path": "crop.py",
        "params": {"a": "1"},
        "inputs": [{"a": {"node_name": "request", "data_item": "in"}}],
        "outputs": [{"data_item": "b", "alias": "b"}],
    }
    pipeline = {**chain(), "nodes": [node], "outputs": [{"out": {"node_name": "py", "data_item": "b"}}]}
    refused(tmp_path, pipeline, f"{N0}.params", 'not allowed in a node of type "python"')


def with_node(**changes: object) -> dict[str, object]:
    pipeline = chain()
    nodes = pipeline["nodes"]
    assert isinstance(nodes, list)
    node = dict(nodes[0])
    for key, value in changes.items():
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value
    nodes[0] = node
    return pipeline


@pytest.mark.parametrize(
    ("pipeline", "key", "fragment"),
    [
        ({**chain(), "shape": "(1,2)"}, f"{P0}.shape", "unknown key"),
        ({k: v for k, v in chain().items() if k != "nodes"}, f"{P0}.nodes", "required key is missing"),
        ({**chain(), "name": ""}, f"{P0}.name", "must not be empty"),
        ({**chain(), "inputs": "in"}, f"{P0}.inputs", "expected an array"),
        ({**chain(), "demultiply_count": 10001}, f"{P0}.demultiply_count", "<= 10000"),
        ({**chain(), "demultiply_count": -2}, f"{P0}.demultiply_count", ">= -1"),
        ({**chain(), "outputs": [{}]}, f"{P0}.outputs[0]", "exactly one key"),
        (with_node(type="model"), f"{N0}.type", 'unsupported node type "model"'),
        (with_node(model_name=None), f"{N0}.model_name", "required key is missing"),
        (with_node(library_name="lib"), f"{N0}.library_name", 'not allowed in a node of type "DL model"'),
        (with_node(version=0), f"{N0}.version", ">= 1"),
        (with_node(params={"a": 1}), f"{N0}.params.a", "expected a string"),
        (with_node(outputs=[{"data_item": "y"}]), f"{N0}.outputs[0].alias", "required key is missing"),
        (
            with_node(inputs=[{"x": {"node_name": "request"}}]),
            f"{N0}.inputs[0].x.data_item",
            "required key is missing",
        ),
        (with_node(gather_from_node=3), f"{N0}.gather_from_node", "expected a string"),
    ],
)
def test_schema_violations_refuse_the_file_naming_the_key(
    tmp_path: Path, pipeline: object, key: str, fragment: str
) -> None:
    refused(tmp_path, pipeline, key, fragment)


def test_library_entries_follow_the_schema(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, libraries=[{"name": "lib"}])
    assert err.value.key == "custom_node_library_config_list[0].base_path"
    with pytest.raises(ConfigError) as err:
        load(tmp_path, libraries=[{"name": "lib", "base_path": "a.so", "x": 1}])
    assert err.value.key == "custom_node_library_config_list[0].x"


def test_a_repeated_connection_makes_only_that_pipeline_invalid(tmp_path: Path) -> None:
    twice = with_node(
        inputs=[
            {"x": {"node_name": "request", "data_item": "in"}},
            {"x": {"node_name": "request", "data_item": "in"}},
        ]
    )
    other = {**chain(), "name": "other", "inputs": ["in", "in"]}
    first, second = load(tmp_path, twice, other)[0]
    assert first.invalid == f"{MULTIPLE_SOURCES} - node: first input: x"
    assert second.invalid == "Pipeline other has duplicated input declaration: in"


def test_repeated_pipeline_name_keeps_the_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        pipelines, _ = load(tmp_path, chain(), {**chain(), "inputs": ["other"]})
    assert [p.inputs for p in pipelines] == [("in",)]
    assert "Duplicated pipeline names: chain" in caplog.text
