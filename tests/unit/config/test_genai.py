"""Generative model configs: --task and OVMS's per-task options, from the command line and config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovserve.cli import parse_args
from ovserve.config.file import parse_config_text
from ovserve.config.genai import GenerativeConfig, parse_generative, parse_task
from ovserve.errors import ConfigError

LLM = ["--model_name", "llm", "--model_path", "/models/llm"]


def cli(tmp_path: Path, *argv: str) -> GenerativeConfig | None:
    config = parse_args(
        ["--rest_port", "8000", *argv],
        {},
        cwd=str(tmp_path),
        default_cache_dir=str(tmp_path / "none"),
        cpu_count=2,
    )
    return config.models[0].generative


def test_task_and_options_from_the_command_line(tmp_path: Path) -> None:
    generative = cli(
        tmp_path, *LLM, "--task", "text_generation", "--max_num_seqs", "8", "--cache_size", "2",
        "--enable_prefix_caching=false", "--dynamic_split_fuse=false", "--kv_cache_precision", "u8",
    )  # fmt: skip
    assert generative == GenerativeConfig(
        task="text_generation",
        max_num_seqs=8,
        cache_size=2,
        enable_prefix_caching=False,
        dynamic_split_fuse=False,
        kv_cache_precision="u8",
    )
    assert cli(tmp_path, *LLM) is None  # a classic model
    embeddings = cli(tmp_path, *LLM, "--task", "embeddings", "--pooling", "MEAN", "--normalize=false")
    assert embeddings == GenerativeConfig(task="embeddings", pooling="MEAN", normalize=False)


@pytest.mark.parametrize(
    ("argv", "key", "fragment"),
    [
        (["--task", "chat"], "--task", "unknown task 'chat'"),
        (["--task", "image_generation"], "--task", "not supported yet"),
        (["--max_num_seqs", "4"], "--max_num_seqs", "set --task too"),
        (["--task", "embeddings", "--max_num_seqs", "4"], "--max_num_seqs", "not of embeddings"),
        (["--task", "rerank", "--pooling", "CLS"], "--pooling", "not of rerank"),
        (["--task", "embeddings", "--pooling", "MAX"], "--pooling", "is not one of"),
        (
            ["--task", "text_generation", "--tool_parser", "gemma4"],
            "--tool_parser",
            "tool parsers served are llama3",
        ),
        (["--task", "text_generation", "--pipeline_type", "VLM_CB"], "--pipeline_type", "VLM"),
        (["--task", "text_generation", "--draft_source_model", "d"], "--draft_source_model", "speculative"),
    ],
)
def test_bad_generative_flags_name_the_flag(tmp_path: Path, argv: list[str], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        cli(tmp_path, *LLM, *argv)
    assert err.value.key == key
    assert fragment in err.value.problem


def test_task_with_config_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_config_list": []}')
    with pytest.raises(ConfigError) as err:
        cli(tmp_path, "--config_path", "config.json", "--task", "embeddings")
    assert err.value.key == "--task"


def test_config_json_entry(tmp_path: Path) -> None:
    doc = {
        "model_config_list": [
            {"config": {"name": "llm", "base_path": "llm", "task": "text_generation", "max_num_seqs": 4}},
            {"config": {"name": "rr", "base_path": "rr", "task": "rerank", "max_allowed_chunks": 3}},
            {"config": {"name": "classic", "base_path": "c"}},
        ]
    }
    models = parse_config_text(json.dumps(doc), str(tmp_path)).models
    assert models[0].generative == GenerativeConfig(task="text_generation", max_num_seqs=4)
    assert models[0].base_path == str(tmp_path / "llm")
    assert models[1].generative == GenerativeConfig(task="rerank", max_allowed_chunks=3)
    assert models[2].generative is None
    assert (
        models[0].fingerprint()
        != models[0].__class__(name="llm", base_path=str(tmp_path / "llm")).fingerprint()
    )


@pytest.mark.parametrize(
    ("entry", "key", "fragment"),
    [
        ({"task": 3}, "model_config_list[0].config.task", "expected a string"),
        ({"max_num_seqs": 3}, "model_config_list[0].config.max_num_seqs", "set task too"),
        (
            {"task": "text_generation", "max_num_seqs": -1},
            "model_config_list[0].config.max_num_seqs",
            "non-negative",
        ),
        ({"task": "text_generation", "cache_size": "2"}, "model_config_list[0].config.cache_size", ""),
        (
            {"task": "embeddings", "normalize": "yes"},
            "model_config_list[0].config.normalize",
            "true or false",
        ),
    ],
)
def test_bad_config_json_entries(tmp_path: Path, entry: dict[str, object], key: str, fragment: str) -> None:
    """A bad value makes only this entry invalid (its status names the key), as in OVMS."""
    doc = {"model_config_list": [{"config": {"name": "m", "base_path": "m", **entry}}]}
    model = parse_config_text(json.dumps(doc), str(tmp_path)).models[0]
    if fragment:
        assert model.invalid is not None and key in model.invalid and fragment in model.invalid
    else:  # a digit string is taken, as on the command line
        assert model.invalid is None and model.generative is not None and model.generative.cache_size == 2


def test_parsers_directly() -> None:
    assert parse_task("rerank", "k") == "rerank"
    config = parse_generative("rerank", {"num_streams": "2"}, {})
    assert config.num_streams == 2
