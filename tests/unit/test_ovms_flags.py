"""Every flag of OVMS 2026.3's docs/parameters.md is accepted by ovserve's command line.

The list is tests/data/ovms_2026.3_flags.tsv (extracted from OVMS's docs; its header names
the source). A flag is *accepted* when the command line does not answer "does not exist" or
"unmatched arguments": it either works, or stops start-up with a line that names the flag and
the feature ovserve does not serve. Flags this branch owns must also parse into a server
config (or a config management command) with a typical value.

Rows owned by other branches of this session (genai, security) are answered, until those
branches land their flags in the flag table, by the not-served fallback of
:mod:`ovserve.ovms_flags`; test_flags_left_to_the_fallback lists them (as an expected
failure), so the lead sees which remain after the merges.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ovserve.cli import ConfigCommandRequested, ShowAndExit, parse_args
from ovserve.config.types import ServerConfig
from ovserve.errors import ConfigError
from ovserve.flags import FLAGS, usage
from ovserve.ovms_flags import FEATURES

DATA = Path(__file__).resolve().parents[1] / "data" / "ovms_2026.3_flags.tsv"
MODEL = ["--port", "9000", "--model_name", "m", "--model_path", "/models/m"]
KNOWN = {flag.name for flag in FLAGS} | {"help", "version"}


def _rows() -> list[dict[str, str]]:
    lines = [line for line in DATA.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


ROWS = _rows()


def _param(row: dict[str, str]) -> object:
    return pytest.param(row, id=f"{row['flag']}@{row['task']}")


def _argv(flag: str, tmp: Path) -> list[str]:
    """A typical command line using ``flag`` (dropin-owned flags)."""
    lib = tmp / "ext.so"
    lib.write_bytes(b"")
    config = tmp / "config.json"
    config.write_text(json.dumps({"model_config_list": []}))
    rest = ["--rest_port", "8000"]
    layout = ["--layout", "NHWC:NCHW"]
    samples: dict[str, list[str]] = {
        "model_name": MODEL,
        "model_path": MODEL,
        "shape": [*MODEL, "--shape", "(1,3,8,8)"],
        "batch_size": [*MODEL, "--batch_size", "2"],
        "layout": [*MODEL, *layout],
        "mean": [*MODEL, *layout, "--mean", "[0.5,0.5,0.5]"],
        "scale": [*MODEL, *layout, "--scale", "255"],
        "color_format": [*MODEL, *layout, "--color_format", "BGR:RGB"],
        "precision": [*MODEL, *layout, "--precision", "uint8:fp32"],
        "model_version_policy": [*MODEL, "--model_version_policy", '{"all": {}}'],
        "plugin_config": [*MODEL, "--plugin_config", '{"NUM_STREAMS": "1"}'],
        "nireq": [*MODEL, "--nireq", "2"],
        "target_device": [*MODEL, "--target_device", "CPU"],
        "metrics_enable": [*MODEL, *rest, "--metrics_enable"],
        "metrics_list": [*MODEL, *rest, "--metrics_enable", "--metrics_list", "ovms_requests_success"],
        "config_path": ["--port", "9000", "--config_path", str(config)],
        "port": MODEL,
        "rest_port": [*MODEL, *rest],
        "grpc_bind_address": [*MODEL, "--grpc_bind_address", "127.0.0.1"],
        "rest_bind_address": [*MODEL, *rest, "--rest_bind_address", "127.0.0.1"],
        "grpc_workers": [*MODEL, "--grpc_workers", "1"],
        "rest_workers": [*MODEL, *rest, "--rest_workers", "2"],
        "file_system_poll_wait_seconds": [*MODEL, "--file_system_poll_wait_seconds", "0"],
        "custom_node_resources_cleaner_interval_seconds": [
            *MODEL,
            "--custom_node_resources_cleaner_interval_seconds",
            "1",
        ],
        "cpu_extension": [*MODEL, "--cpu_extension", str(lib)],
        "log_level": [*MODEL, "--log_level", "DEBUG"],
        "log_path": [*MODEL, "--log_path", str(tmp / "log.txt")],
        "cache_dir": [*MODEL, "--cache_dir", str(tmp / "cache")],
        "grpc_channel_arguments": [*MODEL, "--grpc_channel_arguments", "grpc.max_connection_age_ms=2000"],
        "grpc_max_threads": [*MODEL, "--grpc_max_threads", "4"],
        "grpc_memory_quota": [*MODEL, "--grpc_memory_quota", "1000"],
        "help": ["--help"],
        "version": ["--version"],
        "model_repository_path": ["--list_models", "--model_repository_path", str(tmp)],
        "list_models": ["--list_models", "--model_repository_path", str(tmp)],
        "add_to_config": [
            "--add_to_config",
            "--config_path",
            str(config),
            "--model_name",
            "m",
            "--model_path",
            "m",
        ],
        "remove_from_config": ["--remove_from_config", "--config_path", str(config), "--model_name", "m"],
    }
    return samples[flag]


def _parse(argv: list[str], tmp: Path) -> object:
    try:
        return parse_args(argv, {}, cwd=str(tmp), default_cache_dir=str(tmp / "none"), cpu_count=4)
    except (ShowAndExit, ConfigCommandRequested) as outcome:
        return outcome


def test_the_list_is_the_whole_of_ovms_docs() -> None:
    flags = {row["flag"] for row in ROWS}
    assert len(ROWS) == 86 and len(flags) == 82
    assert {"port", "mean", "list_models", "api_key_file", "task", "max_num_seqs", "weight-format"} <= flags


@pytest.mark.parametrize("row", [_param(row) for row in ROWS])
def test_every_ovms_flag_is_accepted(row: dict[str, str], tmp_path: Path) -> None:
    flag, task = row["flag"], row["task"]
    if row["owner"] == "dropin":
        outcome = _parse(_argv(flag, tmp_path), tmp_path)
        assert isinstance(outcome, (ServerConfig, ShowAndExit, ConfigCommandRequested)), outcome
        return
    with_task = task != "-" and "task" in KNOWN  # OVMS parses a task's flags only after --task
    argv = [*MODEL, *(["--task", task] if with_task else []), f"--{flag}"]
    known = next((f for f in FLAGS if f.name == flag), None)
    if known is None or known.kind != "bool":
        argv.append("1")
    try:
        _parse(argv, tmp_path)
    except ConfigError as err:  # refused for a reason, but recognised
        assert "does not exist" not in err.problem and "unmatched arguments" not in err.problem, err
        if known is None:  # the not-served fallback: one line naming the flag and the feature
            assert err.key == f"--{flag}" and err.problem == f"{FEATURES[flag]} is not served by ovserve yet"


#: OVMS 2026.3 flags of features ovserve does not serve (pull mode, image generation, text to speech,
#: media inputs, configure mode): answered by the fallback, which names the feature and stops start-up.
UNSERVED = {
    "pull", "source_model", "overwrite_models", "gguf_filename", "extra_quantization_params", "weight-format",
    "resolution", "max_resolution", "default_resolution", "max_num_images_per_prompt", "num_images_per_prompt",
    "guidance_scale", "default_num_inference_steps", "max_num_inference_steps", "source_loras",
    "model_type", "allowed_local_media_path", "allowed_media_domains", "configure", "verbose_response",
}  # fmt: skip


def test_flags_left_to_the_fallback_are_exactly_the_unserved_features() -> None:
    left = {row["flag"] for row in ROWS if row["flag"] not in KNOWN}
    assert left == UNSERVED
    assert set(FEATURES) == UNSERVED  # the fallback names a feature for each, and for nothing else


def test_help_lists_every_ovms_flag() -> None:
    text = usage()
    missing = sorted(row["flag"] for row in ROWS if f"--{row['flag']}" not in text)
    assert missing == [], missing  # -h, --help and --version are listed too
