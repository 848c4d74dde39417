"""Stateful models served as OVMS served them (until 2026.2), through clients nobody here wrote.

The models (``stateful_models``) answer from the state their earlier requests left, so
every served answer is compared with an in-process OpenVINO infer request fed the same
sequence. Covered: TF Serving REST (raw HTTP and ovmsclient) and gRPC (ovmsclient, and
raw ``uint64_val`` protos as OVMS's docs build them), KServe through tritonclient (HTTP
and gRPC), 50 sequences at once over REST and gRPC, idle cleanup, reload and unload, and the
single-model flags. The errors are in ``test_stateful_errors.py``.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from models import F32, model_file
from serverproc import ServerProcess, run_cli, wait_for
from stateful_clients import (
    END,
    EXISTS,
    FULL,
    NONE,
    START,
    UNKNOWN,
    assert_matches,
    config_doc,
    control_of,
    inputs_of,
    rest,
    tfs_grpc_step,
    tfs_rest_error,
    tfs_rest_step,
    triton_inputs,
)
from stateful_models import ReferenceSequence
from tritonclient.utils import InferenceServerException


# -- one sequence, each client ---------------------------------------------------------------
@pytest.mark.parametrize("model", ["sum", "rnn", "ti"])
def test_tfs_rest_raw_http_sequences_match_in_process_openvino(
    server: ServerProcess, paths: dict[str, Path], model: str
) -> None:
    xs = inputs_of(np.random.default_rng(1), model, 5)
    reference = ReferenceSequence(model_file(paths[model]), low_latency=model == "ti")
    for index, x in enumerate(xs):
        answer = tfs_rest_step(server, model, x, 1001, control_of(index, len(xs)))
        assert answer["sequence_id"].tolist() == [1001]
        assert_matches(answer, reference.step({"x": x}))


def test_tfs_grpc_uint64_val_protos_and_server_given_id(stub: Any, paths: dict[str, Path]) -> None:
    xs = inputs_of(np.random.default_rng(2), "rnn", 4)
    reference = ReferenceSequence(model_file(paths["rnn"]))
    first = tfs_grpc_step(stub, "rnn", xs[0], None, START)  # no id: the server picks one
    sequence_id = int(first["sequence_id"][0])
    assert sequence_id > 0
    assert_matches(first, reference.step({"x": xs[0]}))
    for index, x in enumerate(xs[1:], 1):
        answer = tfs_grpc_step(stub, "rnn", x, sequence_id, NONE if index < 3 else END)
        assert int(answer["sequence_id"][0]) == sequence_id
        assert_matches(answer, reference.step({"x": x}))


def test_ovmsclient_grpc_and_rest_with_uint64_sequence_id(
    server: ServerProcess, paths: dict[str, Path]
) -> None:
    grpc_client = ovmsclient.make_grpc_client(server.grpc_address)
    rest_client = ovmsclient.make_http_client(server.rest_url.removeprefix("http://"))
    xs = inputs_of(np.random.default_rng(3), "sum", 6)
    reference = ReferenceSequence(model_file(paths["sum"]))
    for index, x in enumerate(xs):
        client = grpc_client if index % 2 == 0 else rest_client  # one sequence, both transports
        inputs = {
            "x": x,
            "sequence_id": np.array([77], np.uint64),
            "sequence_control_input": np.array([control_of(index, len(xs))], np.uint32),
        }
        answer = client.predict(inputs, "sum")
        assert np.asarray(answer["sequence_id"]).tolist() == [77]
        assert_matches(answer, reference.step({"x": x}))


def test_ovmsclient_sequence_with_a_server_given_id(server: ServerProcess, paths: dict[str, Path]) -> None:
    client = ovmsclient.make_grpc_client(server.grpc_address)
    xs = inputs_of(np.random.default_rng(13), "rnn", 3)
    reference = ReferenceSequence(model_file(paths["rnn"]))
    start = client.predict({"x": xs[0], "sequence_control_input": np.array([START], np.uint32)}, "rnn")
    sequence_id = np.asarray(start["sequence_id"], np.uint64)
    assert sequence_id.shape == (1,) and sequence_id[0] > 0
    assert_matches(start, reference.step({"x": xs[0]}))
    middle = client.predict({"x": xs[1], "sequence_id": sequence_id}, "rnn")
    assert_matches(middle, reference.step({"x": xs[1]}))
    end = client.predict(
        {"x": xs[2], "sequence_id": sequence_id, "sequence_control_input": np.array([END], np.uint32)}, "rnn"
    )
    assert_matches(end, reference.step({"x": xs[2]}))
    assert np.asarray(end["sequence_id"]).tolist() == sequence_id.tolist()


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_tritonclient_kserve_sequences(server: ServerProcess, paths: dict[str, Path], transport: str) -> None:
    module: Any = triton_http if transport == "http" else triton_grpc
    url = server.rest_url.removeprefix("http://") if transport == "http" else server.grpc_address
    client = module.InferenceServerClient(url)
    xs = inputs_of(np.random.default_rng(4), "rnn", 5)
    reference = ReferenceSequence(model_file(paths["rnn"]))
    sequence_id = 500 + len(transport)
    for index, x in enumerate(xs):
        result = client.infer("rnn", triton_inputs(module, x, sequence_id, control_of(index, len(xs))))
        assert result.as_numpy("sequence_id").tolist() == [sequence_id]
        assert result.as_numpy("sequence_id").dtype == np.uint64
        assert_matches({n: result.as_numpy(n) for n in ("h", "score")}, reference.step({"x": x}))
    # asking for one output still brings the sequence id
    outputs = [module.InferRequestedOutput("score")]
    result = client.infer("rnn", triton_inputs(module, xs[0], sequence_id, START), outputs=outputs)
    assert result.as_numpy("sequence_id").tolist() == [sequence_id] and result.as_numpy("h") is None
    client.infer("rnn", triton_inputs(module, xs[0], sequence_id, END))


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_tritonclient_sequence_parameters(
    server: ServerProcess, paths: dict[str, Path], transport: str
) -> None:
    """tritonclient's own sequence API (request parameters) drives the same sequences."""
    module: Any = triton_http if transport == "http" else triton_grpc
    url = server.rest_url.removeprefix("http://") if transport == "http" else server.grpc_address
    client = module.InferenceServerClient(url)
    xs = inputs_of(np.random.default_rng(14), "rnn", 4)
    reference = ReferenceSequence(model_file(paths["rnn"]))
    sequence_id = 600 + len(transport)
    for index, x in enumerate(xs):
        item = module.InferInput("x", list(x.shape), "FP32")
        item.set_data_from_numpy(x)
        result = client.infer(
            "rnn",
            [item],
            sequence_id=sequence_id,
            sequence_start=index == 0,
            sequence_end=index == len(xs) - 1,
        )
        assert result.as_numpy("sequence_id").tolist() == [sequence_id]
        assert_matches({n: result.as_numpy(n) for n in ("h", "score")}, reference.step({"x": x}))
    with pytest.raises(InferenceServerException, match="Sequence with provided ID does not exist"):
        client.infer("rnn", [item], sequence_id=sequence_id)
    with pytest.raises(InferenceServerException, match="string sequence ids are not supported"):
        client.infer("rnn", [item], sequence_id="abc", sequence_start=True)
    with pytest.raises(InferenceServerException, match="one-request sequence"):
        client.infer("rnn", [item], sequence_id=sequence_id, sequence_start=True, sequence_end=True)


# -- many sequences at once ---------------------------------------------------------------------
def test_fifty_interleaved_sequences_over_rest_and_grpc_at_once(
    server: ServerProcess, stub: Any, paths: dict[str, Path]
) -> None:
    count, steps = 50, 6
    rng = np.random.default_rng(6)
    models = ["sum" if i % 2 else "rnn" for i in range(count)]
    sequences = [inputs_of(rng, models[i], steps) for i in range(count)]
    barrier = threading.Barrier(count, timeout=60)

    def run(i: int) -> list[dict[str, Any]]:
        barrier.wait()
        answers = []
        for index, x in enumerate(sequences[i]):
            control = control_of(index, steps)
            if (i + index) % 2:  # each sequence alternates REST and gRPC
                answers.append(tfs_rest_step(server, models[i], x, 2000 + i, control))
            else:
                answers.append(tfs_grpc_step(stub, models[i], x, 2000 + i, control))
        return answers

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(run, range(count)))
    for i, answers in enumerate(results):
        reference = ReferenceSequence(model_file(paths[models[i]]))
        for x, answer in zip(sequences[i], answers, strict=True):
            assert int(np.asarray(answer["sequence_id"]).ravel()[0]) == 2000 + i
            assert_matches(answer, reference.step({"x": x}))
    assert tfs_rest_step(server, "sum", sequences[1][0], 2001, START)["sequence_id"].tolist() == [
        2001
    ]  # ended


# -- lifecycle: cleaner, reload, unload ----------------------------------------------------------------
def test_idle_sequences_are_cleaned_only_where_asked(server: ServerProcess) -> None:
    x = np.ones((1, 4), np.float32)
    tfs_rest_step(server, "cleaned", x, 41, START)
    tfs_rest_step(server, "sum", x, 41, START)

    def gone() -> bool:
        status, _ = rest(
            server, "/v1/models/cleaned:predict", {"inputs": {"x": x.tolist(), "sequence_id": [99]}}
        )
        assert status == 404
        probe_status, answer = rest(
            server,
            "/v1/models/cleaned:predict",
            {"inputs": {"x": x.tolist(), "sequence_control_input": [1], "sequence_id": [41]}},
        )
        if probe_status == 200:  # the old one was cleaned: this start made a new one
            return True
        assert probe_status == 409 and answer["error"].startswith(EXISTS)
        return False

    wait_for(gone, "the idle sequence cleaned")
    assert tfs_rest_step(server, "sum", x, 41, END)["y"].tolist() == [[2.0] * 4]  # not cleaned


def test_reload_ends_sequences_and_type_change_is_refused(
    server: ServerProcess, config_path: Path, paths: dict[str, Path]
) -> None:
    x = np.ones((1, 4), np.float32)
    tfs_rest_step(server, "reloaded", x, 51, START)
    tfs_rest_step(server, "sum", x, 51, START)
    stateless_sum = {"stateful": False, "max_sequence_number": None, "idle_sequence_cleanup": None}
    config_path.write_text(config_doc(paths, {"reloaded": {"max_sequence_number": 9}, "sum": stateless_sum}))
    status, _ = rest(server, "/v1/config/reload", b"")
    assert status in (200, 201)
    tfs_rest_error(server, "reloaded", {"sequence_id": [51]}, 404, UNKNOWN)
    assert tfs_rest_step(server, "reloaded", x, 51, START)["y"].tolist() == [[1.0] * 4]
    assert tfs_rest_step(server, "sum", x, 51, END)["y"].tolist() == [[2.0] * 4]  # still stateful
    config_path.write_text(config_doc(paths))
    rest(server, "/v1/config/reload", b"")


def test_unload_ends_sequences(server: ServerProcess) -> None:
    x = np.ones((1, 4), np.float32)
    tfs_rest_step(server, "reloaded", x, 61, START)
    status, _ = rest(server, "/v2/repository/models/reloaded/unload", b"")
    assert status == 200
    got, answer = rest(
        server, "/v1/models/reloaded:predict", {"inputs": {"x": x.tolist(), "sequence_id": [61]}}
    )
    assert got == 404 and "reloaded" in answer["error"], answer
    status, _ = rest(server, "/v2/repository/models/reloaded/load", b"")
    assert status == 200
    tfs_rest_error(server, "reloaded", {"sequence_id": [61]}, 404, UNKNOWN)
    assert server.alive()


# -- single-model mode -----------------------------------------------------------------------------
def test_single_model_flags(paths: dict[str, Path], tmp_path: Path) -> None:
    args = [
        "--model_name",
        "ti",
        "--model_path",
        str(paths["ti"]),
        "--stateful",
        "--low_latency_transformation",
    ]
    args += [
        "--max_sequence_number",
        "1",
        "--idle_sequence_cleanup=false",
        "--plugin_config",
        json.dumps(F32),
        "--metrics_enable",
    ]
    proc = ServerProcess(args, tmp_path / "single.log").start()
    try:
        xs = inputs_of(np.random.default_rng(8), "ti", 3)
        reference = ReferenceSequence(model_file(paths["ti"]), low_latency=True)
        for index, x in enumerate(xs):
            assert_matches(
                tfs_rest_step(proc, "ti", x, 8, NONE if index else START), reference.step({"x": x})
            )
        got, answer = rest(
            proc, "/v1/models/ti:predict", {"inputs": {"x": xs[0].tolist(), "sequence_control_input": [1]}}
        )
        assert got == 503 and answer["error"].startswith(FULL)
        with urllib.request.urlopen(f"{proc.rest_url}/metrics", timeout=30) as scrape:
            metrics = scrape.read().decode()
        # three steps ran on OpenVINO (the refused start did not)
        assert 'ovms_inference_time_us_count{name="ti",version="1"} 3' in metrics, metrics
    finally:
        proc.stop()


def test_stateful_flags_need_stateful(paths: dict[str, Path]) -> None:
    result = run_cli(
        [
            "--port",
            "9000",
            "--model_name",
            "m",
            "--model_path",
            str(paths["sum"]),
            "--max_sequence_number",
            "3",
        ]
    )
    assert result.returncode == 64
    assert "require setting stateful flag" in result.stderr


def test_stateful_models_refused_with_several_serving_processes(
    paths: dict[str, Path], tmp_path: Path
) -> None:
    """A sequence lives in one process: with --rest_workers 2 the stateful model does not load, and says why."""
    config = tmp_path / "config.json"
    entry = {"name": "sum", "base_path": str(paths["sum"]), "stateful": True}
    config.write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    proc = ServerProcess(
        ["--config_path", str(config), "--rest_workers", "2"], tmp_path / "workers.log"
    ).start()
    try:
        wait_for(lambda: "all 2 workers ready" in proc.log(), "both workers ready")
        with urllib.request.urlopen(f"{proc.rest_url}/v1/models/sum", timeout=30) as answer:
            status = json.loads(answer.read())["model_version_status"][0]
        assert status["state"] != "AVAILABLE"
        assert "single process" in status["status"]["error_message"], status
    finally:
        proc.stop()
