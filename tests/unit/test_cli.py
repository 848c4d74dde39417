"""The command line: OVMS's flags, syntax, defaults and validation."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from ovserve.cli import HelpRequested, ShowAndExit, VersionRequested, parse_args, usage, version_text
from ovserve.config.types import (
    LayoutSpec,
    MetricsConfig,
    ModelConfig,
    ServerConfig,
    StatefulConfig,
    VersionPolicy,
)
from ovserve.errors import ConfigError
from ovserve.flags import FLAGS
from ovserve.tensors import Dim

MODEL = ["--model_name", "m", "--model_path", "/models/m"]


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    return tmp_path


#: OVMS 2025.1+ starts no gRPC server by default and needs a port: the tests give one first
#: (a later --port in a test wins, as the last value of a flag does).
PORT = ["--port", "9178"]


def run(
    cwd: Path, *argv: str, env: Mapping[str, str] | None = None, cores: int = 8, port: bool = True
) -> ServerConfig:
    return parse_args(
        [*PORT, *argv] if port and argv else list(argv),
        env or {},
        cwd=str(cwd),
        default_cache_dir=str(cwd / "no-such-cache"),
        cpu_count=cores,
    )


def fails(cwd: Path, *argv: str, key: str, fragment: str, cores: int = 8, port: bool = True) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        run(cwd, *argv, cores=cores, port=port)
    assert err.value.key == key, str(err.value)
    assert fragment in err.value.problem, err.value.problem
    return err.value


def write_config(directory: Path, doc: object) -> str:
    path = directory / "config.json"
    path.write_text(json.dumps(doc))
    return str(path)


# --- defaults -----------------------------------------------------------------------------------


def test_single_model_defaults(cwd: Path) -> None:
    cfg = run(cwd, *MODEL)
    assert cfg == ServerConfig(port=9178, models=(ModelConfig(name="m", base_path="/models/m"),))
    assert cfg.port == 9178
    assert cfg.rest_port == 0
    assert cfg.grpc_bind_address == cfg.rest_bind_address == "0.0.0.0"
    assert cfg.grpc_workers == 1
    assert cfg.rest_workers is None
    assert cfg.grpc_max_threads is None
    assert cfg.grpc_memory_quota == 2147483648
    assert cfg.log_level == "INFO"
    assert cfg.log_path is None
    assert cfg.file_system_poll_wait_seconds == 1
    assert cfg.sequence_cleaner_poll_wait_minutes == 5
    assert cfg.custom_node_resources_cleaner_interval_seconds == 1
    assert cfg.cache_dir is None
    assert cfg.metrics == MetricsConfig()
    assert cfg.config_path is None


def test_cache_dir_defaults_to_opt_cache_when_it_exists(cwd: Path) -> None:
    cache = cwd / "cache"
    cache.mkdir()
    cfg = parse_args([*PORT, *MODEL], {}, cwd=str(cwd), default_cache_dir=str(cache), cpu_count=8)
    assert cfg.cache_dir == str(cache)
    assert run(cwd, *MODEL, "--cache_dir", "c").cache_dir == str(cwd / "c")


def test_every_server_flag(cwd: Path) -> None:
    cfg = run(
        cwd,
        *MODEL,
        "--port=9000",
        "--rest_port",
        "8000",
        "--grpc_bind_address",
        "127.0.0.1",
        "--rest_bind_address=localhost",
        "--grpc_workers",
        "2",
        "--rest_workers",
        "16",
        "--grpc_max_threads",
        "32",
        "--grpc_memory_quota",
        "18446744073709551615",
        "--grpc_channel_arguments",
        "grpc.max_connection_age_ms=2000,grpc.lb=rr",
        "--log_level",
        "DEBUG",
        "--log_path",
        "/tmp/ovserve.log",
        "--trace_path",
        "/tmp/trace",
        "--file_system_poll_wait_seconds",
        "0",
        "--sequence_cleaner_poll_wait_minutes",
        "7",
        "--custom_node_resources_cleaner_interval_seconds",
        "3",
        "--metrics_enable",
        "--metrics_list",
        "ovms_requests_success, ovms_infer_req_active",
    )
    assert (cfg.port, cfg.rest_port) == (9000, 8000)
    assert (cfg.grpc_bind_address, cfg.rest_bind_address) == ("127.0.0.1", "localhost")
    assert (cfg.grpc_workers, cfg.rest_workers, cfg.grpc_max_threads) == (2, 16, 32)
    assert cfg.grpc_memory_quota == 2**64 - 1
    assert cfg.grpc_channel_arguments == {"grpc.max_connection_age_ms": 2000, "grpc.lb": "rr"}
    assert (cfg.log_level, cfg.log_path, cfg.trace_path) == ("DEBUG", "/tmp/ovserve.log", "/tmp/trace")
    assert cfg.file_system_poll_wait_seconds == 0
    assert cfg.sequence_cleaner_poll_wait_minutes == 7
    assert cfg.custom_node_resources_cleaner_interval_seconds == 3
    assert cfg.metrics == MetricsConfig(
        enable=True, metrics_list=("ovms_requests_success", "ovms_infer_req_active")
    )


def test_cleaner_interval_zero_is_taken_as_one(cwd: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "ovserve.cli"):
        cfg = run(cwd, *MODEL, "--custom_node_resources_cleaner_interval_seconds", "0")
    assert cfg.custom_node_resources_cleaner_interval_seconds == 1
    assert "1 is used" in caplog.text


# --- syntax -------------------------------------------------------------------------------------


def test_value_syntaxes_and_last_value_wins(cwd: Path) -> None:
    assert run(cwd, *MODEL, "--port=1234").port == 1234
    assert run(cwd, *MODEL, "--port", "1234", "--port=4321").port == 4321
    assert run(cwd, "--model_name=m", "--model_path=/x").models[0].base_path == "/x"


def test_value_may_start_with_dashes_as_in_cxxopts(cwd: Path) -> None:
    assert run(cwd, "--model_name", "--weird", "--model_path", "/x").models[0].name == "--weird"


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("--metrics_enable", True),
        ("--metrics_enable=true", True),
        ("--metrics_enable=True", True),
        ("--metrics_enable=t", True),
        ("--metrics_enable=1", True),
        ("--metrics_enable=false", False),
        ("--metrics_enable=F", False),
        ("--metrics_enable=0", False),
    ],
)
def test_bool_flag_values(cwd: Path, arg: str, expected: bool) -> None:
    assert run(cwd, *MODEL, "--rest_port", "8000", arg).metrics.enable is expected


def test_bool_flag_bad_value(cwd: Path) -> None:
    fails(
        cwd, *MODEL, "--metrics_enable=yes", key="--metrics_enable", fragment="Argument 'yes' failed to parse"
    )


def test_bool_flag_does_not_take_the_next_argument(cwd: Path) -> None:
    err = fails(cwd, *MODEL, "--metrics_enable", "false", key="", fragment="unmatched arguments: false")
    assert "--flag=false" in err.problem


@pytest.mark.parametrize(
    ("argv", "key", "fragment"),
    [
        (["--nope", "1"], "--nope", "Option 'nope' does not exist"),
        (["--nope=1"], "--nope", "Option 'nope' does not exist"),
        (["-x"], "-x", "Option 'x' does not exist"),
        (["-port", "1"], "-port", "Option 'port' does not exist"),
        (["extra"], "", "unmatched arguments: extra"),
        (["--", "--port", "1"], "", "unmatched arguments: --port, 1"),
        (["--port"], "--port", "Option 'port' is missing an argument"),
        (["--port", "abc"], "--port", "Argument 'abc' failed to parse"),
        (["--port", "-1"], "--port", "expected an unsigned 32-bit integer"),
        (["--port", "4294967296"], "--port", "unsigned 32-bit"),
        (["--nireq", "1.5"], "--nireq", "unsigned 32-bit"),
        (["--grpc_memory_quota", "18446744073709551616"], "--grpc_memory_quota", "unsigned 64-bit"),
        (["--port="], "--port", "Argument '' failed to parse"),
    ],
)
def test_parse_errors(cwd: Path, argv: list[str], key: str, fragment: str) -> None:
    fails(cwd, *MODEL, *argv, key=key, fragment=fragment)


# --- help and version ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h"], [*MODEL, "--help"], ["--port", "1", "-h"]])
def test_help(cwd: Path, argv: list[str]) -> None:
    with pytest.raises(HelpRequested) as err:
        run(cwd, *argv)
    assert isinstance(err.value, ShowAndExit)
    assert err.value.code == 0
    assert err.value.text == usage()


@pytest.mark.parametrize("argv", [["--version"], ["--version", "--help"], [*MODEL, "--version"]])
def test_version(cwd: Path, argv: list[str]) -> None:
    with pytest.raises(VersionRequested) as err:
        run(cwd, *argv)
    assert isinstance(err.value, ShowAndExit)
    assert err.value.code == 0
    assert err.value.text == version_text()
    lines = err.value.text.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("ovserve ")
    assert lines[1].startswith("OpenVINO backend ")


def test_parse_errors_come_before_help_and_version(cwd: Path) -> None:
    fails(cwd, "--help", "--nope", key="--nope", fragment="does not exist")
    fails(cwd, "--version", "stray", key="", fragment="unmatched arguments: stray")


def test_validation_comes_after_help(cwd: Path) -> None:
    with pytest.raises(HelpRequested):
        run(cwd, "--port", "0", "--help")


def test_usage_lists_every_flag_with_default() -> None:
    text = usage()
    assert not text.endswith("\n")  # print() adds the newline
    for flag in FLAGS:
        line = next(
            line for line in text.splitlines() if f"--{flag.name} " in line or line.endswith(f"--{flag.name}")
        )
        assert line
        if flag.shown_default():
            assert f"(default: {flag.shown_default()})" in text
    assert "--help" in text and "--version" in text
    assert "--port PORT" in text and "must differ (default: 0)" in text
    assert "[not effective yet]" in text
    names = {flag.name for flag in FLAGS}
    expected = {
        "port", "grpc_bind_address", "rest_port", "rest_bind_address", "grpc_workers", "grpc_max_threads",
        "grpc_memory_quota", "rest_workers", "log_level", "log_path", "trace_path", "grpc_channel_arguments",
        "file_system_poll_wait_seconds", "sequence_cleaner_poll_wait_minutes", "shutdown_grace_seconds",
        "sequence_cleaner_poll_wait_seconds",
            "max_request_bytes", "inline_inference_us",
        "custom_node_resources_cleaner_interval_seconds", "cache_dir", "metrics_enable", "metrics_list",
        "cpu_extension", "config_path", "model_name", "model_path", "batch_size", "shape", "layout",
        "model_version_policy", "nireq", "target_device", "plugin_config", "stateful",
        "idle_sequence_cleanup", "low_latency_transformation", "max_sequence_number",
        # OVMS 2025-2026 (issue 14)
        "mean", "scale", "color_format", "precision",
        "model_repository_path", "list_models", "add_to_config", "remove_from_config",
        "rest_read_timeout_seconds",
    }  # fmt: skip
    expected |= {  # security (docs/security.md)
        "api_key_file", "allowed_origins", "allowed_methods", "allowed_headers", "allow_credentials",
        "tls_cert_path", "tls_key_path", "tls_client_ca_path",
    }  # fmt: skip
    expected |= {
        "log_format",
        "tracing_enable",
        "tracing_endpoint",
        "tracing_protocol",
        "tracing_sample_ratio",
    }
    generative = {
        "task", "max_num_seqs", "pipeline_type", "enable_prefix_caching", "max_num_batched_tokens", "cache_size",
        "dynamic_split_fuse", "kv_cache_precision", "max_prompt_len", "model_distribution_policy",
        "draft_source_model", "reasoning_parser", "tool_parser", "enable_tool_guided_generation",
        "cache_interval_multiplier", "num_streams", "normalize", "truncate", "pooling", "max_allowed_chunks",
    }  # fmt: skip
    assert names == expected | generative


# --- OVMS validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "key", "fragment"),
    [
        (
            ["--config_path", "c.json", "--model_name", "m"],
            "--config_path",
            "Use either config_path or model_path",
        ),
        (
            ["--config_path", "c.json", "--model_path", "/m"],
            "--config_path",
            "Use either config_path or model_path",
        ),
        ([], "--config_path", "Use config_path or model_path with model_name"),
        (["--model_name", "m"], "--model_path", "Use config_path or model_path with model_name"),
        (["--model_path", "/m"], "--model_name", "Use config_path or model_path with model_name"),
        (["--model_name", "", "--model_path", "/m"], "--model_name", "Use config_path or model_path"),
    ],
)
def test_mode_selection_errors(cwd: Path, argv: list[str], key: str, fragment: str) -> None:
    fails(cwd, "--port", "9000", *argv, key=key, fragment=fragment)


@pytest.mark.parametrize(
    "param",
    [
        ["--batch_size", "1"],
        ["--shape", "(1,3)"],
        ["--nireq", "2"],
        ["--model_version_policy", '{"all": {}}'],
        ["--target_device", "GPU"],
        ["--plugin_config", '{"NUM_STREAMS": "1"}'],
    ],
)
def test_model_params_exclusive_with_config_path(cwd: Path, param: list[str]) -> None:
    fails(
        cwd,
        "--config_path",
        "c.json",
        *param,
        key=param[0],
        fragment="Model parameters in CLI are exclusive with the config file",
    )


def test_nireq_zero_and_layout_allowed_with_config_path(cwd: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_config(cwd, {"model_config_list": []})
    with caplog.at_level(logging.WARNING, "ovserve.cli"):
        cfg = run(cwd, "--config_path", path, "--nireq", "0", "--layout", "NHWC")
    assert cfg.models == ()
    assert "--layout is ignored" in caplog.text


@pytest.mark.parametrize(
    ("argv", "key", "fragment"),
    [
        (
            ["--grpc_workers", "0"],
            "--grpc_workers",
            "grpc_workers count should be from 1 to CPU core count : 4",
        ),
        (
            ["--grpc_workers", "5"],
            "--grpc_workers",
            "grpc_workers count should be from 1 to CPU core count : 4",
        ),
        (["--rest_port", "8000", "--rest_workers", "1"], "--rest_workers", "should be from 2 to 10000"),
        (["--rest_port", "8000", "--rest_workers", "10001"], "--rest_workers", "should be from 2 to 10000"),
        (["--rest_workers", "4"], "--rest_workers", "rest_workers is set but rest_port is not set"),
        (["--port", "65536"], "--port", "port number out of range from 0 to 65535"),
        (["--rest_port", "70000"], "--rest_port", "rest_port number out of range from 0 to 65535"),
        (
            ["--metrics_enable"],
            "--metrics_enable",
            "rest_port setting is missing, metrics are enabled on rest port",
        ),
        (
            ["--rest_port", "8000", "--metrics_list", "ovms_streams"],
            "--metrics_list",
            "metrics_enable setting is missing, required when metrics_list is provided",
        ),
        (
            ["--rest_port", "8000", "--metrics_enable", "--metrics_list", "ovms_streams,ovms_bogus"],
            "--metrics_list",
            "Invalid name in metrics_list",
        ),
        (["--rest_bind_address", "bad_host"], "--rest_bind_address", "rest_bind_address has invalid format"),
        (
            ["--grpc_bind_address", "300.1.1.1"],
            "--grpc_bind_address",
            "proper hostname or IP address expected",
        ),
        (["--port", "0"], "--port", "port and rest_port cannot both be unset"),
        (
            ["--port", "8000", "--rest_port", "8000"],
            "--port",
            "port and rest_port cannot have the same values",
        ),
        (
            ["--cpu_extension", "missing.so"],
            "--cpu_extension",
            "does not exists in the filesystem: missing.so",
        ),
        (
            ["--log_level", "VERBOSE"],
            "--log_level",
            "log_level should be one of: TRACE, DEBUG, INFO, WARNING, ERROR",
        ),
        (["--log_level", "info"], "--log_level", "log_level should be one of"),
        (
            ["--idle_sequence_cleanup"],
            "--idle_sequence_cleanup",
            "require setting stateful flag for the model",
        ),
        (["--idle_sequence_cleanup=false"], "--idle_sequence_cleanup", "require setting stateful flag"),
        (["--low_latency_transformation"], "--low_latency_transformation", "require setting stateful flag"),
        (["--max_sequence_number", "10"], "--max_sequence_number", "require setting stateful flag"),
        (
            ["--stateful=false", "--max_sequence_number", "10"],
            "--max_sequence_number",
            "require setting stateful",
        ),
        (
            ["--stateful", "--shape", "auto"],
            "--stateful",
            "Dynamic shape and dynamic batch size are not supported for stateful models",
        ),
        (["--stateful", "--batch_size", "auto"], "--stateful", "not supported for stateful models"),
        (["--grpc_channel_arguments", "a=1,b"], "--grpc_channel_arguments", "expected key=value"),
    ],
)
def test_validation_errors(cwd: Path, argv: list[str], key: str, fragment: str) -> None:
    fails(cwd, *MODEL, *argv, key=key, fragment=fragment, cores=4)


def test_validation_order_follows_ovms(cwd: Path) -> None:
    # model-mode errors first, then workers, then ports, then bind addresses, then port clash.
    fails(cwd, "--grpc_workers", "0", key="--config_path", fragment="Use config_path")
    fails(
        cwd, *MODEL, "--grpc_workers", "0", "--port", "70000", key="--grpc_workers", fragment="grpc_workers"
    )
    fails(
        cwd,
        *MODEL,
        "--port",
        "0",
        "--rest_port",
        "8000",
        "--rest_bind_address",
        "a_b",
        key="--rest_bind_address",
        fragment="invalid",
    )


def test_stateful_false_is_accepted(cwd: Path) -> None:
    model = run(cwd, *MODEL, "--stateful=false").models[0]
    assert model.name == "m" and model.stateful is None


def test_stateful_flags_with_ovms_defaults(cwd: Path) -> None:
    assert run(cwd, *MODEL, "--stateful").models[0].stateful == StatefulConfig(500, True, False)
    cfg = run(
        cwd,
        *MODEL,
        "--stateful",
        "--max_sequence_number",
        "7",
        "--idle_sequence_cleanup=false",
        "--low_latency_transformation",
        "--sequence_cleaner_poll_wait_seconds",
        "2",
    )
    assert cfg.models[0].stateful == StatefulConfig(7, False, True)
    assert cfg.sequence_cleaner_poll_wait_seconds == 2 and cfg.sequence_cleaner_interval_seconds == 2
    default = run(cwd, *MODEL)
    assert default.sequence_cleaner_poll_wait_seconds is None
    assert default.sequence_cleaner_interval_seconds == 300  # OVMS's 5 minutes
    assert (
        run(cwd, *MODEL, "--sequence_cleaner_poll_wait_minutes", "0").sequence_cleaner_interval_seconds == 0
    )
    off = run(
        cwd, *MODEL, "--sequence_cleaner_poll_wait_minutes", "2", "--sequence_cleaner_poll_wait_seconds", "0"
    )
    assert off.sequence_cleaner_interval_seconds == 0


def test_existing_cpu_extension_resolved_against_cwd(cwd: Path) -> None:
    (cwd / "ext.so").write_bytes(b"")
    assert run(cwd, *MODEL, "--cpu_extension", "ext.so").cpu_extension == str(cwd / "ext.so")


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "[::1]", "my-host", "10.0.0.1"])
def test_bind_addresses_accepted(cwd: Path, address: str) -> None:
    cfg = run(cwd, *MODEL, "--grpc_bind_address", address, "--rest_bind_address", address)
    assert cfg.grpc_bind_address == cfg.rest_bind_address == address


# --- environment --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("4", 4), (" 3 ", 3), ("0", 1), ("abc", 1), ("-2", 1), ("", 1)]
)
def test_grpc_servers_env_overrides_grpc_workers(cwd: Path, value: str, expected: int) -> None:
    assert run(cwd, *MODEL, env={"GRPC_SERVERS": value}).grpc_workers == expected


def test_grpc_servers_overrides_without_core_limit(cwd: Path) -> None:
    assert run(cwd, *MODEL, "--grpc_workers", "2", env={"GRPC_SERVERS": "64"}, cores=2).grpc_workers == 64


def test_process_environment_is_not_read(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_SERVERS", "7")
    assert run(cwd, *MODEL, env={}).grpc_workers == 1


# --- single-model mode --------------------------------------------------------------------------


def test_single_model_flags(cwd: Path) -> None:
    cfg = run(
        cwd,
        "--model_name",
        "resnet",
        "--model_path",
        "models/resnet",
        "--shape",
        '{"in": "(1,3,224,224)", "other": [1, 2]}',
        "--layout",
        '{"in": "NHWC:NCHW"}',
        "--model_version_policy",
        '{"specific": {"versions": [1, 3]}}',
        "--nireq",
        "4",
        "--target_device",
        "GPU",
        "--plugin_config",
        '{"NUM_STREAMS": 2, "PERF_COUNT": false}',
    )
    (model,) = cfg.models
    assert model == ModelConfig(
        name="resnet",
        base_path=str(cwd / "models" / "resnet"),
        shape={"in": (Dim(1, 1), Dim(3, 3), Dim(224, 224), Dim(224, 224)), "other": (Dim(1, 1), Dim(2, 2))},
        layout={"in": LayoutSpec("NHWC", "NCHW")},
        version_policy=VersionPolicy("specific", versions=(1, 3)),
        nireq=4,
        target_device="GPU",
        plugin_config={"NUM_STREAMS": "2", "PERF_COUNT": "NO"},
    )


def test_single_model_anonymous_forms(cwd: Path) -> None:
    (model,) = run(cwd, *MODEL, "--batch_size", "1:8", "--layout", "nhwc").models
    assert model.batch_size == Dim(1, 8)
    assert model.layout == LayoutSpec("NHWC")
    (model,) = run(cwd, *MODEL, "--shape", "auto").models
    assert model.shape == "auto"
    (model,) = run(cwd, *MODEL, "--batch_size", "auto").models
    assert model.batch_size == "auto"


def test_batch_size_ignored_when_shape_set(cwd: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "ovserve.cli"):
        (model,) = run(cwd, *MODEL, "--batch_size", "4", "--shape", "(1,3)").models
    assert model.batch_size is None
    assert model.shape == (Dim(1, 1), Dim(3, 3))
    assert "--batch_size is ignored" in caplog.text


@pytest.mark.parametrize("url", ["s3://bucket/m", "gs://bucket/m", "az://c/m", "azfs://s/m"])
def test_model_path_urls_kept(cwd: Path, url: str) -> None:
    assert run(cwd, "--model_name", "m", "--model_path", url).models[0].base_path == url


@pytest.mark.parametrize(
    ("argv", "key", "fragment"),
    [
        (["--model_path", "../m"], "--model_path", "escape with .. is forbidden"),
        (["--model_path", "azure://c/m"], "--model_path", "unsupported storage URL scheme"),
        (["--model_path", "/m", "--shape", "(1,x)"], "--shape", "The provided shape is in wrong format"),
        (["--model_path", "/m", "--shape", "[1,3]"], "--shape", "The provided shape is in wrong format"),
        (
            ["--model_path", "/m", "--batch_size", "0:3"],
            "--batch_size",
            "The provided dimension is in wrong format",
        ),
        (["--model_path", "/m", "--layout", "NHWCX"], "--layout", "The provided layout is in wrong format"),
        (
            ["--model_path", "/m", "--layout", '{"in": 3}'],
            "--layout.in",
            "The provided layout is in wrong format",
        ),
        (
            ["--model_path", "/m", "--model_version_policy", '{"latest": 1}'],
            "--model_version_policy.latest",
            "Model version policy is in wrong format",
        ),
        (
            ["--model_path", "/m", "--model_version_policy", "latest"],
            "--model_version_policy",
            "Model version policy is in wrong format",
        ),
        (
            ["--model_path", "/m", "--plugin_config", "NUM_STREAMS=1"],
            "--plugin_config",
            "Plugin config is in wrong",
        ),
    ],
)
def test_single_model_value_errors(cwd: Path, argv: list[str], key: str, fragment: str) -> None:
    fails(cwd, "--model_name", "m", *argv, key=key, fragment=fragment)


# --- config mode --------------------------------------------------------------------------------


def test_config_mode_loads_models(cwd: Path) -> None:
    (cwd / "conf").mkdir()
    write_config(cwd / "conf", {"model_config_list": [{"config": {"name": "a", "base_path": "a"}}]})
    cfg = run(cwd, "--config_path", "conf/config.json", "--port", "9001")
    assert cfg.config_path == str(cwd / "conf" / "config.json")
    assert cfg.models == (ModelConfig(name="a", base_path=str(cwd / "conf" / "a")),)
    assert cfg.port == 9001
    assert cfg.metrics == MetricsConfig()


def test_config_mode_propagates_file_errors(cwd: Path) -> None:
    path = write_config(
        cwd, {"model_config_list": [{"config": {"name": "a", "base_path": "/a", "shape": 1}}]}
    )
    fails(  # a schema violation refuses the file (a bad value only makes its entry invalid)
        cwd,
        "--config_path",
        path,
        key="model_config_list[0].config.shape",
        fragment="expected a string or an object",
    )
    fails(
        cwd,
        "--config_path",
        "missing.json",
        key=str(cwd / "missing.json"),
        fragment="not found or cannot open",
    )


def test_config_monitoring_becomes_server_metrics(cwd: Path) -> None:
    monitoring = {"metrics": {"enable": True, "metrics_list": ["ovms_streams"]}}
    path = write_config(cwd, {"model_config_list": [], "monitoring": monitoring})
    cfg = run(cwd, "--config_path", path, "--rest_port", "8000")
    assert cfg.metrics == MetricsConfig(enable=True, metrics_list=("ovms_streams",))


def test_config_monitoring_needs_rest_port(cwd: Path) -> None:
    path = write_config(cwd, {"model_config_list": [], "monitoring": {"metrics": {"enable": True}}})
    fails(cwd, "--config_path", path, key="monitoring.metrics.enable", fragment="Missing rest_port parameter")
    path = write_config(cwd, {"model_config_list": [], "monitoring": {"metrics": {"enable": False}}})
    assert run(cwd, "--config_path", path).metrics == MetricsConfig(enable=False)


def test_metrics_in_both_cli_and_config_rejected(cwd: Path) -> None:
    path = write_config(cwd, {"model_config_list": [], "monitoring": {"metrics": {"enable": True}}})
    fails(
        cwd,
        "--config_path",
        path,
        "--rest_port",
        "8000",
        "--metrics_enable",
        key="--metrics_enable",
        fragment="Metrics configuration duplicated in configuration file and CLI parameters",
    )


def test_cli_metrics_apply_when_config_has_no_monitoring(cwd: Path) -> None:
    path = write_config(cwd, {"model_config_list": []})
    cfg = run(cwd, "--config_path", path, "--rest_port", "8000", "--metrics_enable")
    assert cfg.metrics == MetricsConfig(enable=True)
