"""--log_format and --tracing_* on the command line; the JSON log formatter and request ids."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ovserve.cli import parse_args
from ovserve.config.types import ServerConfig, TracingConfig
from ovserve.errors import ConfigError
from ovserve.logs import MAX_REQUEST_ID, REQUEST_ID, JsonFormatter, accepted_request_id, request_id_maker

MODEL = ["--port", "9178", "--model_name", "m", "--model_path", "/models/m"]


def run(tmp_path: Path, *argv: str) -> ServerConfig:
    return parse_args(
        [*MODEL, *argv], {}, cwd=str(tmp_path), default_cache_dir=str(tmp_path / "x"), cpu_count=2
    )


def test_defaults_are_text_logs_and_no_tracing(tmp_path: Path) -> None:
    config = run(tmp_path)
    assert (config.log_format, config.tracing) == ("text", TracingConfig())


def test_tracing_flags(tmp_path: Path) -> None:
    config = run(
        tmp_path,
        "--log_format",
        "json",
        "--tracing_enable",
        "--tracing_endpoint",
        "http://127.0.0.1:4317",
        "--tracing_protocol",
        "grpc",
        "--tracing_sample_ratio",
        "0.25",
    )
    assert config.log_format == "json"
    assert config.tracing == TracingConfig(True, "http://127.0.0.1:4317", "grpc", 0.25)
    assert run(tmp_path, "--tracing_enable").tracing == TracingConfig(True)  # the rest from OTEL_* variables


@pytest.mark.parametrize(
    ("argv", "key", "fragment"),
    [
        (["--log_format", "xml"], "--log_format", "text, json"),
        (["--tracing_enable", "--tracing_protocol", "thrift"], "--tracing_protocol", "http/protobuf, grpc"),
        (["--tracing_enable", "--tracing_endpoint", "collector:4317"], "--tracing_endpoint", "http://"),
        (["--tracing_enable", "--tracing_sample_ratio", "1.5"], "--tracing_sample_ratio", "from 0 to 1"),
        (["--tracing_enable", "--tracing_sample_ratio", "half"], "--tracing_sample_ratio", "'half'"),
        (["--tracing_enable", "--tracing_sample_ratio", "nan"], "--tracing_sample_ratio", "from 0 to 1"),
        (["--tracing_sample_ratio", "0.5"], "--tracing_enable", "need tracing_enable"),
    ],
)
def test_bad_observability_flags(tmp_path: Path, argv: list[str], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as failed:
        run(tmp_path, *argv)
    assert failed.value.key == key and fragment in str(failed.value), str(failed.value)


def _record(message: str, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord("ovserve.test", logging.WARNING, __file__, 1, message, ("x",), exc_info)


def test_json_lines_carry_the_request_id_only_inside_a_request() -> None:
    formatter = JsonFormatter(worker=2)
    outside = json.loads(formatter.format(_record("model %s")))
    assert outside["message"] == "model x" and outside["level"] == "WARNING" and outside["worker"] == 2
    assert "request_id" not in outside and outside["time"].endswith("Z")
    token = REQUEST_ID.set("abc-1")
    try:
        inside = json.loads(formatter.format(_record("model %s", exc=True)))
    finally:
        REQUEST_ID.reset(token)
    assert inside["request_id"] == "abc-1"
    assert "ValueError: boom" in inside["exception"]


def test_request_ids_are_taken_when_sane_else_made() -> None:
    make = request_id_maker()
    first, second = make(), make()
    assert first != second
    assert accepted_request_id(b"client-id-7", make) == "client-id-7"
    assert accepted_request_id("x" * MAX_REQUEST_ID, make) == "x" * MAX_REQUEST_ID
    for bad in ("x" * (MAX_REQUEST_ID + 1), "line\nbreak", "caf\u00e9", "", None):
        made = accepted_request_id(bad, make)
        assert made != bad and made.isascii()
