"""OVMS 2025-2026 config.json, served from the CLI: graph entries and invalid entries beside
models, preprocessing and single-file keys, a reload with an invalid entry, monitoring on
reload, and every metrics_list name OVMS takes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import openvino as ov
import ovmsclient
import pytest
import tritonclient.http as httpclient
from models import F32, add_scaled, channels_model, preprocessed_reference, reference, save
from serverproc import HOST, ServerProcess, http_json

GRAPH = "Failed to initialize mediapipe graph"


def entry(name: str, base: Path | str, **extra: object) -> dict[str, object]:
    return {"config": {"name": name, "base_path": str(base), "plugin_config": F32, **extra}}


def infer(server: ServerProcess, name: str, x: np.ndarray) -> np.ndarray:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return client.infer(name, [inp]).as_numpy("y")  # type: ignore[no-any-return]


def test_graph_and_invalid_entries_do_not_stop_the_models(tmp_path: Path) -> None:
    good = save(add_scaled(), tmp_path / "good")
    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "graph.pbtxt").write_text('input_stream: "HTTP_REQUEST_PAYLOAD:input"\n')
    (tmp_path / "hub").mkdir()
    single = tmp_path / "hub" / "single.xml"
    ov.save_model(add_scaled(scale=7.0), str(single), compress_to_fp16=False)
    doc = {
        "model_config_list": [
            entry("good", good),
            entry("llm", "llm"),  # base path holds graph.pbtxt (OVMS 2025+)
            {"config": {"name": "pbtxt", "base_path": "llm", "graph_path": "graph.pbtxt"}},
            entry("bad_shape", good, shape="(1,x)"),
            entry("single", "hub/single.xml"),
            entry("notes", "hub/notes.txt"),
        ],
        "mediapipe_config_list": [{"name": "pipe", "base_path": "llm", "subconfig": "subconfig.json"}],
    }
    (tmp_path / "hub" / "notes.txt").write_text("not a model")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(doc))
    server = ServerProcess(["--config_path", str(config)], tmp_path / "log.txt").start()
    try:
        x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
        np.testing.assert_array_equal(
            infer(server, "good", x), reference(good / "1" / "model.xml", {"x": x})["y"]
        )
        np.testing.assert_array_equal(infer(server, "single", x), reference(single, {"x": x})["y"])
        client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        index = {m["name"]: m for m in client.get_model_repository_index()}
        for name in ("llm", "pbtxt", "pipe"):  # graphs ovserve cannot serve: the status says why
            assert index[name]["state"] != "READY"
            assert index[name]["reason"].startswith(GRAPH) and "no output_stream" in index[name]["reason"]
        code, _ = http_json(f"{server.rest_url}/v2/models/llm/ready")
        assert code != 200
        assert "not a model file" in index["notes"]["reason"]
        assert index["bad_shape"]["state"] == "UNAVAILABLE"
        assert "shape is in wrong format" in index["bad_shape"]["reason"]
        with pytest.raises(Exception, match="shape is in wrong format"):
            infer(server, "bad_shape", x)
    finally:
        server.stop()


def test_reload_applies_the_valid_entries_and_reports_the_invalid_one(tmp_path: Path) -> None:
    a, b, c = (save(add_scaled(scale=s), tmp_path / n) for n, s in (("a", 2.0), ("b", 3.0), ("c", 4.0)))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [entry("a", a), entry("b", b)]}))
    args = ["--config_path", str(config), "--file_system_poll_wait_seconds", "0"]
    server = ServerProcess(args, tmp_path / "log.txt").start()
    try:
        x = np.ones((1, 4), np.float32)
        config.write_text(
            json.dumps({"model_config_list": [entry("a", a), entry("b", b, layout="NQ"), entry("c", c)]})
        )
        code, body = http_json(f"{server.rest_url}/v1/config/reload", method="POST")
        assert code == 412 and "model_config_list[1].config.layout" in str(body["error"]), body
        assert "the others were applied" in str(body["error"])
        np.testing.assert_array_equal(infer(server, "c", x), reference(c / "1" / "model.xml", {"x": x})["y"])
        np.testing.assert_array_equal(infer(server, "a", x), reference(a / "1" / "model.xml", {"x": x})["y"])
        _, status = http_json(f"{server.rest_url}/v1/models/b")
        assert status["model_version_status"][0]["state"] == "END"  # type: ignore[index]  # unloaded, as OVMS
        code, _ = http_json(f"{server.rest_url}/v1/config/reload", method="POST")
        assert code == 200  # nothing changed since
    finally:
        server.stop()


def test_preprocessing_keys_in_config_json(tmp_path: Path) -> None:
    base = save(channels_model(), tmp_path / "m")
    keys = {"layout": "NHWC:NCHW", "mean": "0.5", "scale": "[2,4,8]", "color_format": "BGR:RGB"}
    keys["precision"] = "UINT8:FP32"
    doc = {
        "model_config_list": [
            entry("m", base, **keys),
            entry("wrong", base, layout="NHWC:NCHW", mean="[1,2]"),
        ]
    }
    config = tmp_path / "config.json"
    config.write_text(json.dumps(doc))
    server = ServerProcess(["--config_path", str(config)], tmp_path / "log.txt").start()
    try:
        rgb = np.random.default_rng(3).integers(0, 256, (1, 4, 5, 3)).astype(np.uint8)
        expected = preprocessed_reference(base / "1" / "model.xml", rgb, 0.5, [2, 4, 8])
        got = ovmsclient.make_http_client(f"{HOST}:{server.rest_port}").predict({"x": rgb}, "m")
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        _, body = http_json(f"{server.rest_url}/v1/models/wrong")
        message = body["model_version_status"][0]["status"]["error_message"]  # type: ignore[index]
        assert message.startswith("Failed to configure input preprocessing configuration"), message
    finally:
        server.stop()


def test_monitoring_change_on_reload_is_refused(tmp_path: Path) -> None:
    base = save(add_scaled(), tmp_path / "m")
    monitoring = {"metrics": {"enable": True, "metrics_list": ["ovms_requests_success"]}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [entry("m", base)], "monitoring": monitoring}))
    args = ["--config_path", str(config), "--file_system_poll_wait_seconds", "0"]
    server = ServerProcess(args, tmp_path / "log.txt").start()
    try:
        monitoring["metrics"]["metrics_list"] = ["ovms_requests_fail"]  # type: ignore[index]
        config.write_text(json.dumps({"model_config_list": [entry("m", base)], "monitoring": monitoring}))
        code, body = http_json(f"{server.rest_url}/v1/config/reload", method="POST")
        assert code == 412 and "monitoring: metrics settings cannot change while serving" in str(
            body["error"]
        )
        with urllib.request.urlopen(f"{server.rest_url}/metrics") as answer:
            text = answer.read().decode()
        assert "ovms_requests_success" in text and "ovms_requests_fail" not in text  # the old list still
    finally:
        server.stop()


def test_metrics_list_takes_every_name_ovms_takes(tmp_path: Path) -> None:
    names = [
        "ovms_current_requests", "ovms_requests_success", "ovms_requests_fail", "ovms_request_time_us",
        "ovms_streams", "ovms_inference_time_us", "ovms_wait_for_infer_req_time_us", "ovms_current_graphs",
        "ovms_requests_accepted", "ovms_requests_rejected", "ovms_graph_error", "ovms_graph_processing_time_us",
        "ovms_responses", "ovms_infer_req_queue_size", "ovms_infer_req_active", "ovms_graph_request_latency_us",
    ]  # fmt: skip  # OVMS 2026.3 src/metrics/metric_config.hpp and docs/metrics.md
    base = save(add_scaled(), tmp_path / "m")
    args = [
        "--model_name",
        "m",
        "--model_path",
        str(base),
        "--metrics_enable",
        "--metrics_list",
        ",".join(names),
    ]
    server = ServerProcess(args, tmp_path / "log.txt").start()
    try:
        infer(server, "m", np.ones((1, 4), np.float32))
        with urllib.request.urlopen(f"{server.rest_url}/metrics") as answer:
            text = answer.read().decode()
        assert (
            'ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="m",version="1"} 1'
            in text
        )
        assert "ovms_infer_req_queue_size" in text
    finally:
        server.stop()
