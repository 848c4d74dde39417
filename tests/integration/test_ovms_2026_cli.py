"""OVMS 2025-2026 command lines, started from the CLI: --port 0, a single model file,
the preprocessing flags, and the configuration management commands."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import openvino as ov
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from models import F32, add_scaled, channels_model, preprocessed_reference, reference, save
from serverproc import HOST, ServerProcess, run_cli

MEAN = np.array([1.0, 2.0, 3.0], np.float32)
SCALE = np.array([2.0, 4.0, 8.0], np.float32)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (from /proc: its socket inodes in LISTEN state)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def status(server: ServerProcess, name: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{server.rest_url}/v1/models/{name}") as answer:
        return json.loads(answer.read())["model_version_status"]  # type: ignore[no-any-return]


# --- help and --port ------------------------------------------------------------------------------


def test_help_groups_flags_as_ovms_does() -> None:
    result = run_cli(["--help"])
    assert result.returncode == 0
    text = result.stdout
    order = [" multi model options:", " single model options:", "config management options:"]
    positions = [text.index(header) for header in order]
    assert positions == sorted(positions), positions
    assert text.index("--mean MEAN") > text.index(" single model options:")
    assert text.index("      --add_to_config") > text.index("config management options:")


def test_port_zero_serves_rest_only(tmp_path: Path) -> None:
    base = save(add_scaled(), tmp_path / "m")
    server = ServerProcess(["--model_name", "m", "--model_path", str(base)], tmp_path / "log.txt")
    server.args[server.args.index("--port") + 1] = "0"  # OVMS 2025.1+: 0 = no gRPC server
    server.start()
    try:
        client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        inp = httpclient.InferInput("x", [2, 4], "FP32")
        inp.set_data_from_numpy(x)
        y = client.infer("m", [inp]).as_numpy("y")
        np.testing.assert_allclose(y, reference(base / "1" / "model.xml", {"x": x})["y"], rtol=1e-6)
        assert server.process is not None
        assert listening_ports(server.process.pid) == {server.rest_port}  # no gRPC socket at all
        assert "gRPC listening" not in server.log()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("flag", "feature"),
    [
        (["--pull"], "pulling models from Hugging Face (pull mode) is not served by ovserve yet"),
        (
            ["--resolution", "512x512"],
            "image generation (--task image_generation) is not served by ovserve yet",
        ),
    ],
)
def test_an_ovms_flag_of_an_unserved_feature_names_flag_and_feature(flag: list[str], feature: str) -> None:
    result = run_cli(["--model_name", "m", "--model_path", "/x", "--port", "9", *flag])
    assert result.returncode == 64
    assert result.stderr.strip().splitlines() == [f"ovserve: {flag[0]}: {feature}"]


# --- a single model file ---------------------------------------------------------------------------


def test_model_path_may_be_one_model_file(tmp_path: Path) -> None:
    folder = tmp_path / "hub"
    folder.mkdir()
    model_xml = folder / "add.xml"
    ov.save_model(add_scaled(scale=5.0), str(model_xml), compress_to_fp16=False)
    (folder / "mapping_config.json").write_text(json.dumps({"inputs": {"x": "data"}}))
    server = ServerProcess(
        ["--model_name", "m", "--model_path", str(model_xml), "--plugin_config", json.dumps(F32)],
        tmp_path / "log.txt",
    ).start()
    try:
        assert status(server, "m") == [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": "OK"}}
        ]
        x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
        client = grpcclient.InferenceServerClient(server.grpc_address)
        inp = grpcclient.InferInput("data", [3, 4], "FP32")  # the mapping beside the file applies
        inp.set_data_from_numpy(x)
        y = client.infer("m", [inp], model_version="1").as_numpy("y")
        np.testing.assert_array_equal(y, reference(model_xml, {"x": x})["y"])
    finally:
        server.stop()


# --- preprocessing -----------------------------------------------------------------------------------


def test_preprocessing_flags_are_built_into_the_model(tmp_path: Path) -> None:
    base = save(channels_model(), tmp_path / "m")
    flags = ["--layout", "NHWC:NCHW", "--mean", "[1, 2, 3]", "--scale", "(2,4,8)"]
    flags += ["--color_format", "BGR:RGB", "--precision", "uint8:fp32", "--plugin_config", json.dumps(F32)]
    server = ServerProcess(["--model_name", "m", "--model_path", str(base), *flags], tmp_path / "log.txt")
    server.start()
    try:
        client = grpcclient.InferenceServerClient(server.grpc_address)
        meta = client.get_model_metadata("m", as_json=True)
        assert meta["inputs"] == [{"name": "x", "datatype": "UINT8", "shape": ["1", "4", "5", "3"]}]
        rgb = np.random.default_rng(7).integers(0, 256, (1, 4, 5, 3)).astype(np.uint8)
        expected = preprocessed_reference(base / "1" / "model.xml", rgb, MEAN, SCALE)
        inp = grpcclient.InferInput("x", [1, 4, 5, 3], "UINT8")
        inp.set_data_from_numpy(rgb)
        np.testing.assert_allclose(client.infer("m", [inp]).as_numpy("y"), expected, rtol=1e-6)
        tfs = ovmsclient.make_http_client(f"{HOST}:{server.rest_port}")
        np.testing.assert_allclose(tfs.predict({"x": rgb}, "m"), expected, rtol=1e-6)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--mean", "0.5"], "--mean parameter requires --layout to be set"),
        (["--layout", "NHWC:NCHW", "--color_format", "XYZ:RGB"], "XYZ is not one of RGB, BGR"),
        (["--layout", "NHWC:NCHW", "--precision", "fp32"], "expected A:B"),
        (["--layout", "NHWC:NCHW", "--scale", "[1,0,1]"], "a scale of 0 divides by zero"),
        (["--layout", "NHWC:NCHW", "--mean", "[1,x]"], "Wrong format of float value"),
    ],
)
def test_bad_preprocessing_flags_exit_64_with_one_line(flags: list[str], fragment: str) -> None:
    result = run_cli(["--model_name", "m", "--model_path", "/x", "--port", "9", *flags])
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 64 and len(lines) == 1 and fragment in lines[0], result.stderr


# --- configuration management --------------------------------------------------------------------------


def test_config_management_edits_config_json_as_ovms_does(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    save(add_scaled(), repo / "a")
    save(channels_model(), repo / "group" / "b")
    (repo / "llm").mkdir()
    (repo / "llm" / "graph.pbtxt").write_text("")
    (repo / "empty").mkdir()
    config = tmp_path / "config.json"

    listed = run_cli(["--list_models", "--model_repository_path", str(repo)])
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[2:] == ["a", "group/b", "llm"]

    added = run_cli(["--add_to_config", "--config_path", str(config), "--model_name", "a",
                     "--model_repository_path", str(repo), "--nireq", "2", "--port", "9000"])  # fmt: skip
    assert (added.returncode, added.stdout.strip()) == (0, f"Config updated: {config}")
    again = run_cli(
        ["--add_to_config", "--config_path", str(config), "--model_name", "a", "--model_path", "x"]
    )
    assert again.returncode == 1
    assert again.stdout.strip() == f"{config} error on config update : Given model name is already occupied"
    second = [
        "--add_to_config",
        "--config_path",
        str(config),
        "--model_name",
        "b",
        "--model_path",
        "repo/group/b",
    ]
    second += [
        "--layout",
        "NHWC:NCHW",
        "--mean",
        "[1,2,3]",
        "--scale",
        "[2,4,8]",
        "--color_format",
        "BGR:RGB",
    ]
    second += ["--precision", "uint8:fp32", "--plugin_config", json.dumps(F32)]
    assert run_cli(second).returncode == 0
    assert json.loads(config.read_text()) == {
        "model_config_list": [
            {"config": {"name": "a", "base_path": str(repo / "a"), "nireq": 2}},
            {
                "config": {
                    "name": "b",
                    "base_path": "repo/group/b",
                    "layout": "NHWC:NCHW",
                    "mean": "[1,2,3]",
                    "scale": "[2,4,8]",
                    "color_format": "BGR:RGB",
                    "precision": "uint8:fp32",
                    "plugin_config": F32,
                }
            },
        ]
    }
    assert config.read_text().startswith('{\n    "model_config_list": [\n')  # rapidjson's pretty print

    server = ServerProcess(["--config_path", str(config)], tmp_path / "log.txt").start()
    try:
        rgb = np.random.default_rng(1).integers(0, 256, (1, 4, 5, 3)).astype(np.uint8)
        expected = preprocessed_reference(repo / "group" / "b" / "1" / "model.xml", rgb, MEAN, SCALE)
        got = ovmsclient.make_grpc_client(server.grpc_address).predict({"x": rgb}, "b")
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        assert status(server, "a")[0]["state"] == "AVAILABLE"
    finally:
        server.stop()

    removed = run_cli(["--remove_from_config", "--config_path", str(config), "--model_name", "a"])
    assert (removed.returncode, removed.stdout.strip()) == (0, f"Config updated: {config}")
    assert [e["config"]["name"] for e in json.loads(config.read_text())["model_config_list"]] == ["b"]
    missing = run_cli(["--remove_from_config", "--config_path", str(config), "--model_name", "a"])
    assert missing.returncode == 1 and "Model with requested name is not found" in missing.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--list_models"], "Use --list_models with --model_repository_path"),
        (["--add_to_config", "--model_name", "m", "--model_path", "m"], "Set config_path with add_to_config"),
        (["--add_to_config", "--config_path", "c.json", "--model_name", "m"], "either with model_path or"),
        (["--remove_from_config", "--config_path", "c.json"], "Set model_name with add_to_config"),
        (["--remove_from_config", "--config_path", "c.json", "--model_name", "m", "--nireq", "1"], "only model_name"),
        (["--add_to_config", "--config_path", "c", "--model_name", "m", "--model_path", "m", "--stateful"], "stateful"),
        (["--add_to_config", "--config_path", "c", "--model_name", "m", "--model_path", "m", "--shape", "(x)"], "shape"),
        (["--list_models", "--add_to_config", "--model_repository_path", "r"], "cannot be used with --add_to_config"),
    ],
)  # fmt: skip
def test_bad_config_management_command_lines_exit_64(args: list[str], fragment: str, tmp_path: Path) -> None:
    result = run_cli(args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 64 and len(lines) == 1 and fragment in lines[0], result.stderr
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "c").exists()
