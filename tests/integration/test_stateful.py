"""Stateful models served as OVMS served them (until 2026.2), through clients nobody here wrote.

The models (``stateful_models``) answer from the state their earlier requests left, so
every served answer is compared with an in-process OpenVINO infer request fed the same
sequence. Covered: TF Serving REST (raw HTTP and ovmsclient) and gRPC (ovmsclient, and
raw ``uint64_val`` protos as OVMS's docs build them), KServe through tritonclient (HTTP
and gRPC), 50 sequences at once over REST and gRPC, every sequence error with OVMS's text
and status, idle cleanup, reload and unload, and the single-model flags.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import ovmsclient
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from models import F32
from ovmsclient.tfs_compat.grpc.tensors import make_ndarray
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from serverproc import ServerProcess, run_cli
from stateful_models import ReferenceSequence, recurrent_cell, running_sum, save, tensor_iterator_cell

START, NONE, END = 1, 0, 2
#: model -> (builder, extra config.json keys)
MODELS: dict[str, tuple[Any, dict[str, object]]] = {
    "sum": (running_sum, {"max_sequence_number": 200, "idle_sequence_cleanup": False}),
    "rnn": (recurrent_cell, {"idle_sequence_cleanup": False}),
    "small": (running_sum, {"max_sequence_number": 2, "idle_sequence_cleanup": False}),
    "cleaned": (running_sum, {}),
    "ti": (tensor_iterator_cell, {"low_latency_transformation": True, "idle_sequence_cleanup": False}),
    "reloaded": (running_sum, {"idle_sequence_cleanup": False}),
}


def config_doc(paths: dict[str, Path], overrides: dict[str, dict[str, object]] | None = None) -> str:
    """config.json serving every model of MODELS; ``overrides[name]`` changes keys (None drops one)."""
    entries = []
    for name, (_, extra) in MODELS.items():
        cfg = {
            "name": name,
            "base_path": str(paths[name]),
            "plugin_config": dict(F32),
            "stateful": True,
            "nireq": 2,
        }
        cfg.update(extra)
        cfg.update((overrides or {}).get(name, {}))
        entries.append({"config": {key: value for key, value in cfg.items() if value is not None}})
    return json.dumps({"model_config_list": entries})


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stateful")
    return {name: save(builder(), root / name) for name, (builder, _) in MODELS.items()}


@pytest.fixture(scope="module")
def config_path(paths: dict[str, Path]) -> Path:
    path = next(iter(paths.values())).parent / "config.json"
    path.write_text(config_doc(paths))
    return path


@pytest.fixture(scope="module")
def server(config_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    args = ["--config_path", str(config_path), "--file_system_poll_wait_seconds", "0"]
    args += ["--sequence_cleaner_poll_wait_seconds", "1"]
    proc = ServerProcess(args, tmp_path_factory.mktemp("log") / "ovserve.log").start()
    yield proc
    proc.stop()


def model_file(paths: dict[str, Path], name: str) -> Path:
    return paths[name] / "1" / "model.xml"


def inputs_of(rng: np.random.Generator, name: str, steps: int) -> list[np.ndarray]:
    shape = {
        "sum": (1, 4),
        "small": (1, 4),
        "cleaned": (1, 4),
        "reloaded": (1, 4),
        "rnn": (1, 3),
        "ti": (1, 2, 3),
    }
    return [rng.normal(size=shape[name]).astype(np.float32) for _ in range(steps)]


def control_of(index: int, steps: int) -> int:
    return START if index == 0 else END if index == steps - 1 else NONE


def assert_matches(answer: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    for name, value in expected.items():
        np.testing.assert_allclose(np.asarray(answer[name], np.float32), value, rtol=1e-5, atol=1e-6)


# -- the protocols -----------------------------------------------------------------------
def rest(server: ServerProcess, path: str, body: object) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(server.rest_url + path, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
            return answer.status, json.loads(body) if body else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def tfs_rest_step(
    server: ServerProcess, model: str, x: np.ndarray, sequence_id: int | None, control: int | None
) -> dict[str, Any]:
    inputs: dict[str, Any] = {"x": x.tolist()}
    if sequence_id is not None:
        inputs["sequence_id"] = [sequence_id]
    if control is not None:
        inputs["sequence_control_input"] = [control]
    status, answer = rest(server, f"/v1/models/{model}:predict", {"inputs": inputs})
    assert status == 200, answer
    return {name: np.asarray(value) for name, value in answer["outputs"].items()}


def special_protos(sequence_id: int | None, control: int | None) -> dict[str, Any]:
    """The special inputs as OVMS's docs build them: one value in ``uint64_val`` / ``uint32_val``."""
    protos = {}
    if sequence_id is not None:
        proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT64, uint64_val=[sequence_id])
        proto.tensor_shape.dim.add().size = 1
        protos["sequence_id"] = proto
    if control is not None:
        proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT32, uint32_val=[control])
        proto.tensor_shape.dim.add().size = 1
        protos["sequence_control_input"] = proto
    return protos


def tfs_grpc_request(model: str, x: np.ndarray, protos: dict[str, Any]) -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(ovmsclient.make_tensor_proto(x))
    for name, proto in protos.items():
        request.inputs[name].CopyFrom(proto)
    return request


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[Any]:
    with grpc.insecure_channel(server.grpc_address) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def tfs_grpc_step(
    stub: Any, model: str, x: np.ndarray, sequence_id: int | None, control: int | None
) -> dict[str, Any]:
    reply = stub.Predict(tfs_grpc_request(model, x, special_protos(sequence_id, control)), timeout=30)
    seq = reply.outputs["sequence_id"]
    assert seq.dtype == types_pb2.DT_UINT64 and len(seq.uint64_val) == 1  # as OVMS writes it
    answer = {name: make_ndarray(proto) for name, proto in reply.outputs.items()}
    return answer


# -- one sequence, each client ---------------------------------------------------------------
@pytest.mark.parametrize("model", ["sum", "rnn", "ti"])
def test_tfs_rest_raw_http_sequences_match_in_process_openvino(
    server: ServerProcess, paths: dict[str, Path], model: str
) -> None:
    xs = inputs_of(np.random.default_rng(1), model, 5)
    reference = ReferenceSequence(model_file(paths, model), low_latency=model == "ti")
    for index, x in enumerate(xs):
        answer = tfs_rest_step(server, model, x, 1001, control_of(index, len(xs)))
        assert answer["sequence_id"].tolist() == [1001]
        assert_matches(answer, reference.step({"x": x}))


def test_tfs_grpc_uint64_val_protos_and_server_given_id(stub: Any, paths: dict[str, Path]) -> None:
    xs = inputs_of(np.random.default_rng(2), "rnn", 4)
    reference = ReferenceSequence(model_file(paths, "rnn"))
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
    reference = ReferenceSequence(model_file(paths, "sum"))
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
    reference = ReferenceSequence(model_file(paths, "rnn"))
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


def triton_inputs(module: Any, x: np.ndarray, sequence_id: int, control: int) -> list[Any]:
    values = {
        "x": (x, "FP32"),
        "sequence_id": (np.array([sequence_id], np.uint64), "UINT64"),
        "sequence_control_input": (np.array([control], np.uint32), "UINT32"),
    }
    made = []
    for name, (array, datatype) in values.items():
        item = module.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array)
        made.append(item)
    return made


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_tritonclient_kserve_sequences(server: ServerProcess, paths: dict[str, Path], transport: str) -> None:
    module: Any = triton_http if transport == "http" else triton_grpc
    url = server.rest_url.removeprefix("http://") if transport == "http" else server.grpc_address
    client = module.InferenceServerClient(url)
    xs = inputs_of(np.random.default_rng(4), "rnn", 5)
    reference = ReferenceSequence(model_file(paths, "rnn"))
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
        reference = ReferenceSequence(model_file(paths, models[i]))
        for x, answer in zip(sequences[i], answers, strict=True):
            assert int(np.asarray(answer["sequence_id"]).ravel()[0]) == 2000 + i
            assert_matches(answer, reference.step({"x": x}))
    assert tfs_rest_step(server, "sum", sequences[1][0], 2001, START)["sequence_id"].tolist() == [
        2001
    ]  # ended


# -- errors --------------------------------------------------------------------------------------
def tfs_rest_error(server: ServerProcess, model: str, inputs: dict[str, Any], status: int, text: str) -> None:
    got, answer = rest(server, f"/v1/models/{model}:predict", {"inputs": {"x": [[0.0] * 4], **inputs}})
    assert got == status, answer
    assert answer["error"].startswith(text), answer


def tfs_grpc_error(stub: Any, model: str, protos: dict[str, Any], code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(tfs_grpc_request(model, np.zeros((1, 4), np.float32), protos), timeout=30)
    assert raised.value.code() == code
    assert raised.value.details().startswith(text), raised.value.details()


def kserve_rest_error(
    server: ServerProcess, model: str, sequence_id: int | None, control: int | None, status: int, text: str
) -> None:
    inputs: list[dict[str, Any]] = [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]
    if sequence_id is not None:
        inputs.append({"name": "sequence_id", "shape": [1], "datatype": "UINT64", "data": [sequence_id]})
    if control is not None:
        inputs.append(
            {"name": "sequence_control_input", "shape": [1], "datatype": "UINT32", "data": [control]}
        )
    got, answer = rest(server, f"/v2/models/{model}/infer", {"inputs": inputs})
    assert got == status, answer
    assert answer["error"].startswith(text), answer


UNKNOWN = "Sequence with provided ID does not exist"
EXISTS = "Sequence with provided ID already exists"
NO_ID = "Sequence ID has not been provided in request inputs"
BAD_CONTROL = "Unexpected value of sequence control input"
FULL = "Max sequence number has been reached. Could not create new sequence."


def test_sequence_errors_on_every_api(server: ServerProcess, stub: Any) -> None:
    tfs_rest_error(server, "sum", {"sequence_id": [123456]}, 404, UNKNOWN)
    tfs_grpc_error(stub, "sum", special_protos(123456, END), grpc.StatusCode.NOT_FOUND, UNKNOWN)
    kserve_rest_error(server, "sum", 123456, None, 404, UNKNOWN)
    tfs_rest_error(server, "sum", {}, 400, NO_ID)
    tfs_grpc_error(stub, "sum", special_protos(None, END), grpc.StatusCode.INVALID_ARGUMENT, NO_ID)
    kserve_rest_error(server, "sum", 0, 0, 400, NO_ID)
    tfs_rest_error(server, "sum", {"sequence_id": [1], "sequence_control_input": [7]}, 400, BAD_CONTROL)
    tfs_grpc_error(stub, "sum", special_protos(1, 7), grpc.StatusCode.INVALID_ARGUMENT, BAD_CONTROL)
    tfs_rest_step(server, "sum", np.zeros((1, 4), np.float32), 31, START)
    tfs_rest_error(server, "sum", {"sequence_id": [31], "sequence_control_input": [1]}, 409, EXISTS)
    tfs_grpc_error(stub, "sum", special_protos(31, START), grpc.StatusCode.ALREADY_EXISTS, EXISTS)
    kserve_rest_error(server, "sum", 31, START, 409, EXISTS)
    tfs_rest_step(server, "sum", np.zeros((1, 4), np.float32), 31, END)
    assert server.alive()


def test_max_sequence_number_on_every_api(server: ServerProcess, stub: Any) -> None:
    x = np.zeros((1, 4), np.float32)
    tfs_rest_step(server, "small", x, 1, START)
    tfs_rest_step(server, "small", x, 2, START)
    tfs_rest_error(server, "small", {"sequence_control_input": [1]}, 503, FULL)
    tfs_grpc_error(stub, "small", special_protos(None, START), grpc.StatusCode.UNAVAILABLE, FULL)
    kserve_rest_error(server, "small", 3, START, 503, FULL)
    tfs_rest_step(server, "small", x, 2, END)
    assert tfs_rest_step(server, "small", x, 3, START)["sequence_id"].tolist() == [3]
    for sequence_id in (1, 3):
        tfs_rest_step(server, "small", x, sequence_id, END)


def test_special_input_encodings_checked_as_ovms(server: ServerProcess, stub: Any) -> None:
    int64_id = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64, int64_val=[5])
    int64_id.tensor_shape.dim.add().size = 1
    tfs_grpc_error(
        stub, "sum", {"sequence_id": int64_id}, grpc.StatusCode.INVALID_ARGUMENT,
        "Could not find sequence id in expected tensor proto field uint64_val",
    )  # fmt: skip
    int32_control = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, int_val=[1])
    int32_control.tensor_shape.dim.add().size = 1
    tfs_grpc_error(
        stub, "sum", {"sequence_control_input": int32_control}, grpc.StatusCode.INVALID_ARGUMENT,
        "Could not find sequence control input in expected tensor proto field uint32_val",
    )  # fmt: skip
    no_shape = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT64, uint64_val=[5])
    tfs_grpc_error(
        stub, "sum", {"sequence_id": no_shape}, grpc.StatusCode.INVALID_ARGUMENT,
        "Special input proto does not contain tensor shape information",
    )  # fmt: skip
    tfs_rest_error(
        server,
        "sum",
        {"sequence_id": [1, 2]},
        400,
        "Invalid input shape - Required shape for sequence_id is: (1)",
    )
    tfs_rest_error(
        server, "sum", {"sequence_id": [-3]}, 400, "Could not parse input content - input sequence_id"
    )
    kserve_rest_error(server, "sum", None, None, 400, NO_ID)
    got, answer = rest(
        server,
        "/v2/models/sum/infer",
        {"inputs": [
            {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]},
            {"name": "sequence_id", "shape": [1], "datatype": "INT64", "data": [4]},
        ]},
    )  # fmt: skip
    assert got == 400 and answer["error"].startswith("Could not find sequence id"), answer


def test_metadata_does_not_list_the_special_inputs(server: ServerProcess) -> None:
    with urllib.request.urlopen(f"{server.rest_url}/v2/models/sum", timeout=30) as answer:
        kserve = json.loads(answer.read())
    assert [t["name"] for t in kserve["inputs"]] == ["x"] and [t["name"] for t in kserve["outputs"]] == ["y"]
    with urllib.request.urlopen(f"{server.rest_url}/v1/models/sum/metadata", timeout=30) as answer:
        tfs = json.loads(answer.read())
    signature = tfs["metadata"]["signature_def"]["signatureDef"]["serving_default"]
    assert list(signature["inputs"]) == ["x"] and list(signature["outputs"]) == ["y"]


# -- lifecycle: cleaner, reload, unload ----------------------------------------------------------------
def wait_until(check: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


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

    wait_until(gone)
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
        reference = ReferenceSequence(model_file(paths, "ti"), low_latency=True)
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
    result = run_cli(["--model_name", "m", "--model_path", str(paths["sum"]), "--max_sequence_number", "3"])
    assert result.returncode == 64
    assert "require setting stateful flag" in result.stderr
