"""Start-up as a user meets it: bad command lines, bad config files, broken models, ports, signals."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from models import add_scaled, model_file, reference, save
from serverproc import HOST, ServerProcess, free_port, run_cli


def test_help_lists_every_flag_with_defaults() -> None:
    result = run_cli(["--help"])
    assert result.returncode == 0
    for flag in (
        "--port",
        "--rest_port",
        "--config_path",
        "--model_name",
        "--nireq",
        "--plugin_config",
        "--list_models",
        "config management options:",
    ):
        assert flag in result.stdout


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.returncode == 0 and "OpenVINO" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model_name", "m"], "model_path"),
        (["--bogus_flag", "1"], "bogus_flag"),
        (["--model_name", "m", "--model_path", "/x", "--port", "70000"], "--port"),
        (["--model_name", "m", "--model_path", "/x", "--rest_workers", "4"], "rest_workers"),
        (["--model_name", "m", "--model_path", "/x", "--port", "9", "--log_level", "LOUD"], "log_level"),
        (
            ["--model_name", "m", "--model_path", "/x", "--port", "9", "--plugin_config", "{not"],
            "plugin_config",
        ),
        (["--model_name", "m", "--model_path", "/x"], "port and rest_port cannot both be unset"),
    ],
)
def test_bad_command_line_exits_64_with_one_line(args: list[str], expected: str) -> None:
    result = run_cli(args)
    assert result.returncode == 64, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_invalid_config_file_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"model_config_list": [{"config": {"name": "m", "base_path": "/x", "colour": 1}}]})
    )
    result = run_cli(["--config_path", str(config), "--port", str(free_port())])
    assert result.returncode == 64
    assert "colour" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_port_in_use_exits_64(tmp_path: Path) -> None:
    base = save(add_scaled(), tmp_path / "m")
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            [
                "--model_name",
                "m",
                "--model_path",
                str(base),
                "--port",
                str(free_port()),
                "--rest_port",
                str(port),
                "--rest_bind_address",
                HOST,
                "--grpc_bind_address",
                HOST,
            ]
        )
    assert result.returncode == 64 and str(port) in result.stderr


def test_broken_and_missing_models_do_not_stop_the_others(tmp_path: Path) -> None:
    good = save(add_scaled(), tmp_path / "good")
    broken = tmp_path / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "model.xml").write_text("<net>truncated")
    (broken / "model.bin").write_bytes(b"\0")
    config = tmp_path / "config.json"
    entries = [
        {"config": {"name": n, "base_path": str(p)}}
        for n, p in [("good", good), ("broken", tmp_path / "broken"), ("missing", tmp_path / "nowhere")]
    ]
    config.write_text(json.dumps({"model_config_list": entries}))
    server = ServerProcess(["--config_path", str(config)], tmp_path / "log.txt").start()
    try:
        with urllib.request.urlopen(f"{server.rest_url}/v1/models/broken") as answer:
            status = json.loads(answer.read())["model_version_status"][0]
        assert status["state"] == "LOADING" and status["status"]["error_code"] == "UNKNOWN"
        assert "File not found or cannot open" in status["status"]["error_message"]
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{server.rest_url}/v2/models/missing/ready")
        assert missing.value.code == 404
        client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        assert not client.is_model_ready("broken") and client.is_model_ready("good")
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        inp = httpclient.InferInput("x", [2, 4], "FP32")
        inp.set_data_from_numpy(x)
        out = client.infer("good", [inp]).as_numpy("y")
        np.testing.assert_allclose(out, reference(model_file(good), {"x": x})["y"], rtol=1e-6)
        assert "broken" in server.log() and "File not found or cannot open" in server.log()
    finally:
        assert server.stop() == 0


def test_single_model_mode_and_sigterm_exits_0(tmp_path: Path) -> None:
    base = save(add_scaled(), tmp_path / "m", versions=(1, 3))
    server = ServerProcess(
        [
            "--model_name",
            "solo",
            "--model_path",
            str(base),
            "--plugin_config",
            '{"INFERENCE_PRECISION_HINT": "f32"}',
        ],
        tmp_path / "log.txt",
    ).start()
    try:
        with urllib.request.urlopen(f"{server.rest_url}/v2/models/solo") as answer:
            assert json.loads(answer.read())["versions"] == ["3"]  # default policy: latest 1
    finally:
        assert server.stop() == 0
    assert "stopped" in server.log()
