"""MediaPipe graphs served as OVMS serves them, through tritonclient (KServe REST and gRPC).

One server: a model ``add`` (OpenVINO's opset API); a graph of two inference nodes over it
(``chain``, from a model_config_list entry whose base path holds graph.pbtxt) and the same
graph from ``mediapipe_config_list`` with a ``graph_path``; a Python node before an inference
node (``pyinfer``); a generative Python node streaming through an inference node
(``stream``); a generative Python node that answers for ever until its stream is cancelled
(``endless``); a graph that uses a calculator ovserve does not have (``unsupported``).
Results are compared with the model run in-process.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from mediapipe_graphs import (
    CHAIN,
    CUSTOM,
    ECHO_HANDLER,
    ENDLESS,
    ENDLESS_HANDLER,
    MAKE_HANDLER,
    PASS_HANDLER,
    PY_INFER,
    RAW,
    STREAM,
    UNSUPPORTED,
    inference,
    session,
    write_scale_handler,
)
from models import F32, add_scaled, model_file, reference, save
from prometheus_client.parser import text_string_to_metric_families
from serverproc import HOST, ServerProcess
from tritonclient.utils import InferenceServerException

X = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("graphs")
    save(add_scaled(), root / "add")
    (root / "chain").mkdir()
    (root / "chain" / "graph.pbtxt").write_text(CHAIN)
    (root / "other").mkdir()
    (root / "other" / "chain_graph.pbtxt").write_text(CHAIN)
    for name, text, count in (("pyinfer", PY_INFER, 1), ("stream", STREAM, 3)):
        (root / name).mkdir()
        (root / name / "graph.pbtxt").write_text(text)
        write_scale_handler(root / name, count=count)
    (root / "raw").mkdir()
    (root / "raw" / "graph.pbtxt").write_text(RAW)
    (root / "raw" / "echo.py").write_text(ECHO_HANDLER)
    (root / "custom").mkdir()
    (root / "custom" / "graph.pbtxt").write_text(CUSTOM)
    (root / "custom" / "make.py").write_text(MAKE_HANDLER)
    (root / "custom" / "pass.py").write_text(PASS_HANDLER)
    (root / "endless").mkdir()
    (root / "endless" / "graph.pbtxt").write_text(ENDLESS)
    (root / "endless" / "endless.py").write_text(
        ENDLESS_HANDLER.format(mark=str(root / "endless" / "closed"))
    )
    (root / "unsupported").mkdir()
    (root / "unsupported" / "graph.pbtxt").write_text(UNSUPPORTED)
    doc = {
        "model_config_list": [
            {"config": {"name": "add", "base_path": "add", "plugin_config": F32}},
            {"config": {"name": "chain", "base_path": "chain"}},
            {"config": {"name": "unsupported"}},
            {"config": {"name": "pyinfer"}},
            {"config": {"name": "stream"}},
            {"config": {"name": "raw"}},
            {"config": {"name": "custom"}},
            {"config": {"name": "endless"}},
        ],
        "mediapipe_config_list": [
            {"name": "listed", "base_path": "other", "graph_path": "chain_graph.pbtxt"}
        ],
    }
    (root / "config.json").write_text(json.dumps(doc))
    return root


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        ["--config_path", str(repository / "config.json"), "--metrics_enable"], repository / "log.txt"
    ).start()
    yield proc
    proc.stop()


def expected(repository: Path, x: np.ndarray) -> np.ndarray:
    model = model_file(repository / "add")
    return reference(model, {"x": reference(model, {"x": x})["y"]})["y"]


@pytest.mark.parametrize("graph", ["chain", "listed"])
def test_a_graph_of_inference_nodes_answers_on_kserve_rest_and_grpc(
    server: ServerProcess, repository: Path, graph: str
) -> None:
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    inp = httpclient.InferInput("in", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    np.testing.assert_allclose(rest.infer(graph, [inp]).as_numpy("out"), expected(repository, X), rtol=1e-6)
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    ginp = grpcclient.InferInput("in", list(X.shape), "FP32")
    ginp.set_data_from_numpy(X)
    result = grpc.infer(graph, [ginp])
    np.testing.assert_allclose(result.as_numpy("out"), expected(repository, X), rtol=1e-6)
    assert result.get_response().model_version == "1"


def test_graph_status_metadata_and_readiness(server: ServerProcess) -> None:
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    assert rest.is_model_ready("chain")
    metadata = rest.get_model_metadata("chain")
    assert metadata["inputs"] == [{"name": "in", "datatype": "INVALID", "shape": []}]
    assert metadata["outputs"] == [{"name": "out", "datatype": "INVALID", "shape": []}]
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    assert grpc.is_model_ready("listed")
    assert [i.name for i in grpc.get_model_metadata("listed").inputs] == ["in"]
    index = {entry["name"]: entry for entry in rest.get_model_repository_index()}
    assert index["chain"]["state"] == "READY" and index["listed"]["state"] == "READY"
    config = grpc.get_model_config("chain").config  # Triton's extension: names, no datatype, no shape
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [("in", 0, [])]  # TYPE_INVALID
    assert rest.get_model_config("chain")["output"][0]["name"] == "out"
    # one answer per request (one output stream, no generative node): not decoupled
    assert not config.model_transaction_policy.decoupled
    assert rest.get_model_config("chain")["model_transaction_policy"] == {"decoupled": False}


def test_a_graph_that_answers_several_times_is_decoupled_in_its_triton_config(server: ServerProcess) -> None:
    # a generative Python node answers one streamed request several times: clients must read a stream
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    assert grpc.get_model_config("stream").config.model_transaction_policy.decoupled
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    assert rest.get_model_config("stream")["model_transaction_policy"] == {"decoupled": True}
    # two output streams: a packet of each is an answer of its own
    assert rest.get_model_config("custom")["model_transaction_policy"] == {"decoupled": True}
    assert not grpc.get_model_config("add").config.model_transaction_policy.decoupled  # a model


def test_a_graph_with_a_calculator_ovserve_lacks_says_so(server: ServerProcess) -> None:
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    assert not rest.is_model_ready("unsupported")
    index = {entry["name"]: entry for entry in rest.get_model_repository_index()}
    assert (
        "calculator ImageTransformationCalculator is not provided by ovserve"
        in index["unsupported"]["reason"]
    )
    inp = httpclient.InferInput("in", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    # OVMS's texts for a graph that did not load; its HTTP table has no entry for them: 500
    with pytest.raises(InferenceServerException, match="ImageTransformationCalculator") as err:
        rest.infer("unsupported", [inp])
    assert err.value.status() == "500"
    assert "Mediapipe is not loaded yet - unsupported" in str(err.value)
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    ginp = grpcclient.InferInput("in", list(X.shape), "FP32")
    ginp.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException, match="Mediapipe is not loaded yet - unsupported") as gerr:
        grpc.infer("unsupported", [ginp], model_version="3")  # the version is ignored
    assert gerr.value.status() == "StatusCode.UNAVAILABLE"
    # TensorFlow Serving has no graphs (OVMS): not found there, loaded or not
    tfs = requests.post(
        f"http://{HOST}:{server.rest_port}/v1/models/unsupported:predict",
        json={"inputs": {"in": [[1.0]]}},
        timeout=30,
    )
    assert tfs.status_code == 404
    assert tfs.json()["error"].startswith("Model with requested name is not found"), tfs.text


def test_bad_requests_to_a_graph_are_refused_and_the_graph_keeps_serving(
    server: ServerProcess, repository: Path
) -> None:
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    wrong = grpcclient.InferInput("nope", [1, 4], "FP32")
    wrong.set_data_from_numpy(X[:1])
    with pytest.raises(InferenceServerException, match="Unexpected input - nope is unexpected") as err:
        grpc.infer("chain", [wrong])
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    ints = grpcclient.InferInput("in", [2, 4], "INT32")
    ints.set_data_from_numpy(X.astype(np.int32))
    with pytest.raises(InferenceServerException, match="node first: Invalid input precision") as err:
        grpc.infer("chain", [ints])
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    good = grpcclient.InferInput("in", list(X.shape), "FP32")
    good.set_data_from_numpy(X)
    np.testing.assert_allclose(
        grpc.infer("chain", [good]).as_numpy("out"), expected(repository, X), rtol=1e-6
    )


def test_an_unknown_name_answers_as_ovms_with_graphs(server: ServerProcess) -> None:
    # OVMS looks a KServe inference name up as a model, a DAG, then a MediaPipe graph: the last answers
    graph_text = "Mediapipe graph definition with requested name is not found - nobody"
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    inp = httpclient.InferInput("in", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException) as caught:
        rest.infer("nobody", [inp])
    assert caught.value.status() == "404" and graph_text in caught.value.message()
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    ginp = grpcclient.InferInput("in", list(X.shape), "FP32")
    ginp.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException) as caught:
        grpc.infer("nobody", [ginp])
    assert caught.value.status() == "StatusCode.NOT_FOUND" and graph_text in caught.value.message()
    results: queue.Queue[object] = queue.Queue()
    grpc.start_stream(callback=lambda result, error: results.put(error or result))
    try:
        grpc.async_stream_infer("nobody", [ginp], request_id="lost")
        error = results.get(timeout=30)
        assert isinstance(error, InferenceServerException) and graph_text in str(error), error
        grpc.async_stream_infer("chain", [ginp], request_id="found")  # the stream goes on
        assert isinstance(results.get(timeout=30), grpcclient.InferResult)
    finally:
        grpc.stop_stream()
    # metadata and readiness answer the model lookup's text, as OVMS
    with pytest.raises(InferenceServerException, match="Model with requested name is not found - nobody"):
        grpc.get_model_metadata("nobody")
    with pytest.raises(InferenceServerException, match="Model with requested name is not found - nobody"):
        rest.get_model_metadata("nobody")


def test_tensorflow_serving_does_not_know_graphs(server: ServerProcess) -> None:
    answer = requests.get(f"{server.rest_url}/v1/models/chain", timeout=10)
    assert answer.status_code == 404 and "Model with requested name is not found" in answer.text
    answer = requests.post(
        f"{server.rest_url}/v1/models/chain:predict", json={"instances": [[1.0] * 4]}, timeout=10
    )
    assert answer.status_code == 404


def test_a_unary_graph_answers_once_on_a_grpc_stream(server: ServerProcess, repository: Path) -> None:
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    results: queue.Queue[object] = queue.Queue()
    grpc.start_stream(callback=lambda result, error: results.put(error or result))
    try:
        for i in range(3):
            inp = grpcclient.InferInput("in", list(X.shape), "FP32")
            inp.set_data_from_numpy(X + i)
            grpc.async_stream_infer("chain", [inp], request_id=str(i))
        for i in range(3):
            result = results.get(timeout=30)
            assert isinstance(result, grpcclient.InferResult), result
            assert result.get_response().id == str(i)
            np.testing.assert_allclose(result.as_numpy("out"), expected(repository, X + i), rtol=1e-6)
    finally:
        grpc.stop_stream()


def test_a_python_node_and_an_inference_node(server: ServerProcess, repository: Path) -> None:
    model = model_file(repository / "add")
    want = reference(model, {"x": X * np.float32(3)})["y"]
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    inp = httpclient.InferInput("in", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    np.testing.assert_allclose(rest.infer("pyinfer", [inp]).as_numpy("out"), want, rtol=1e-6)
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    ginp = grpcclient.InferInput("in", list(X.shape), "FP32")
    ginp.set_data_from_numpy(X)
    np.testing.assert_allclose(grpc.infer("pyinfer", [ginp]).as_numpy("out"), want, rtol=1e-6)


def test_a_generative_python_node_streams_over_model_stream_infer(
    server: ServerProcess, repository: Path
) -> None:
    model = model_file(repository / "add")
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    results: queue.Queue[object] = queue.Queue()
    grpc.start_stream(callback=lambda result, error: results.put(error or result))
    try:
        for request in range(2):  # each request answers three times, in order, before the next
            inp = grpcclient.InferInput("in", list(X.shape), "FP32")
            inp.set_data_from_numpy(X + request)
            grpc.async_stream_infer("stream", [inp], request_id=f"r{request}")
        for request in range(2):
            for k in (1, 2, 3):
                result = results.get(timeout=30)
                assert isinstance(result, grpcclient.InferResult), result
                response = result.get_response()
                assert response.id == f"r{request}" and response.model_name == "stream"
                stamp = response.parameters["OVMS_MP_TIMESTAMP"].int64_param
                if k == 1:
                    first = stamp  # the request's time in µs, as OVMS stamps it; then one step per yield
                assert stamp == first + k - 1
                want = reference(model, {"x": (X + request) * np.float32(3 * k)})["y"]
                np.testing.assert_allclose(result.as_numpy("out"), want, rtol=1e-6)
        bad = grpcclient.InferInput("in", [1], "BYTES")  # a bad request on the stream: its error, then on
        bad.set_data_from_numpy(np.array([b"x"], dtype=object))
        grpc.async_stream_infer("chain", [bad], request_id="bad")
        error = results.get(timeout=30)
        assert isinstance(error, InferenceServerException) and "BYTES" in str(error), error
    finally:
        grpc.stop_stream()
    assert results.empty()


def graph_series(server: ServerProcess, graph: str) -> dict[str, float]:
    """``{"family{labels without name}": value}`` of one graph, from /metrics (Prometheus's own parser)."""
    text = requests.get(f"{server.rest_url}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            if labels.pop("name", None) == graph and "le" not in labels:
                key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
                found[f"{sample.name}{{{key}}}"] = sample.value
    return found


def test_graph_metrics_are_counted_as_ovms_counts_graphs(server: ServerProcess) -> None:
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    before = graph_series(server, "listed")
    ok = grpcclient.InferInput("in", list(X.shape), "FP32")
    ok.set_data_from_numpy(X)
    grpc.infer("listed", [ok])
    ints = grpcclient.InferInput("in", [2, 4], "INT32")  # the model refuses it: a graph error
    ints.set_data_from_numpy(X.astype(np.int32))
    with pytest.raises(InferenceServerException):
        grpc.infer("listed", [ints])
    wrong = httpclient.InferInput("nope", [2, 4], "FP32")  # not a graph input: rejected
    wrong.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException):
        rest.infer("listed", [wrong])
    after = graph_series(server, "listed")
    grpc_infer = "api=KServe,interface=gRPC,method=ModelInfer"
    rest_infer = "api=KServe,interface=REST,method=ModelInfer"

    def delta(key: str) -> float:
        return after[key] - before.get(key, 0.0)

    assert delta(f"ovms_requests_accepted_total{{{grpc_infer}}}") == 2
    assert delta(f"ovms_responses_total{{{grpc_infer}}}") == 1
    assert delta(f"ovms_graph_error_total{{{grpc_infer}}}") == 1
    assert delta(f"ovms_requests_rejected_total{{{rest_infer}}}") == 1
    assert delta(f"ovms_requests_accepted_total{{{rest_infer}}}") == 0
    assert delta("ovms_graph_processing_time_us_count{method=ModelInfer}") == 2
    assert after["ovms_current_graphs{}"] == 0
    assert "ovms_requests_accepted_total{api=KServe,interface=gRPC,method=ModelInferStream}" in after


def test_a_client_that_cancels_a_stream_stops_the_graph_and_is_counted_once(
    server: ServerProcess, repository: Path
) -> None:
    before = graph_series(server, "endless")
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    results: queue.Queue[object] = queue.Queue()
    grpc.start_stream(callback=lambda result, error: results.put(error or result))
    inp = grpcclient.InferInput("in", [4], "FP32")
    inp.set_data_from_numpy(X[0])
    grpc.async_stream_infer("endless", [inp], request_id="endless")  # it would answer for ever
    for k in (1, 2, 3):
        result = results.get(timeout=30)
        assert isinstance(result, grpcclient.InferResult), result
        np.testing.assert_array_equal(result.as_numpy("counted"), X[0] + np.float32(k))
    grpc.stop_stream(cancel_requests=True)
    mark = repository / "endless" / "closed"
    deadline = time.monotonic() + 30  # the server closes the generator on the node's thread: wait for it
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.read_text() == "closed\n"  # the node's generator was closed, once
    stream = "api=KServe,interface=gRPC,method=ModelInferStream"
    after = graph_series(server, "endless")
    assert after["ovms_current_graphs{}"] == 0
    assert (
        after[f"ovms_requests_accepted_total{{{stream}}}"]
        - before.get(f"ovms_requests_accepted_total{{{stream}}}", 0.0)
        == 1
    )
    assert after[f"ovms_graph_error_total{{{stream}}}"] == before.get(
        f"ovms_graph_error_total{{{stream}}}", 0.0
    )
    assert after["ovms_graph_processing_time_us_count{method=ModelInferStream}"] == 1
    # the graph serves the next stream
    fresh: queue.Queue[object] = queue.Queue()
    grpc.start_stream(callback=lambda result, error: fresh.put(error or result))
    try:
        grpc.async_stream_infer("endless", [inp], request_id="again")
        again = fresh.get(timeout=30)
        assert isinstance(again, grpcclient.InferResult), again
        np.testing.assert_array_equal(again.as_numpy("counted"), X[0] + np.float32(1))
    finally:
        grpc.stop_stream(cancel_requests=True)


def test_config_reload_rebuilds_a_changed_graph_and_retires_a_removed_one(tmp_path: Path) -> None:
    save(add_scaled(), tmp_path / "add")
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "graph.pbtxt").write_text(CHAIN)
    add = {"config": {"name": "add", "base_path": "add", "plugin_config": F32}}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [add], "mediapipe_config_list": [{"name": "g"}]}))
    server = ServerProcess(
        ["--config_path", str(config), "--file_system_poll_wait_seconds", "0"], tmp_path / "log.txt"
    )
    server.start()
    try:
        rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
        inp = httpclient.InferInput("in", list(X.shape), "FP32")
        inp.set_data_from_numpy(X)
        np.testing.assert_allclose(rest.infer("g", [inp]).as_numpy("out"), expected(tmp_path, X), rtol=1e-6)
        # one inference node instead of two: the graph is rebuilt on reload
        one = (
            'input_stream: "in"\noutput_stream: "out"\n'
            + session("s", "add")
            + inference("i", "s", "in", "out", "x", "y")
        )
        (tmp_path / "g" / "graph.pbtxt").write_text(one)
        assert requests.post(f"{server.rest_url}/v1/config/reload", timeout=60).status_code == 201  # changed
        once = reference(model_file(tmp_path / "add"), {"x": X})["y"]
        np.testing.assert_allclose(rest.infer("g", [inp]).as_numpy("out"), once, rtol=1e-6)
        config.write_text(json.dumps({"model_config_list": [add]}))
        assert requests.post(f"{server.rest_url}/v1/config/reload", timeout=60).status_code == 201  # changed
        assert not rest.is_model_ready("g")
        with pytest.raises(InferenceServerException, match="retired"):
            rest.infer("g", [inp])
    finally:
        server.stop()


def test_a_python_tensor_input_gets_the_raw_bytes_as_sent(server: ServerProcess) -> None:
    """OVMS's documented client: image bytes in raw_input_contents, datatype BYTES, shape [size]; any
    datatype name is allowed with raw contents."""
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    image = bytes(range(256)) * 3  # not OVMS's length-prefixed BYTES format: passed as is
    for datatype, shape in (("BYTES", [len(image)]), ("MY_TYPE", [3, 256])):
        inp = grpcclient.InferInput("data", shape, datatype)
        inp._raw_content = image
        seen = json.loads(grpc.infer("raw", [inp]).as_numpy("echo").tobytes())
        assert seen == {"bytes": image.hex(), "shape": shape, "datatype": datatype}
    wrong = grpcclient.InferInput("data", [2, 4], "FP32")
    wrong._raw_content = b"abc"
    with pytest.raises(InferenceServerException, match="Invalid Python tensor buffer size") as err:
        grpc.infer("raw", [wrong])
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    shared = grpcclient.InferInput("data", [3], "BYTES")  # raw bytes and a shared memory region
    shared._raw_content = b"abc"
    shared._input.parameters["shared_memory_region"].string_param = "region"
    with pytest.raises(InferenceServerException, match="shared memory extension is not supported") as err:
        grpc.infer("raw", [shared])
    assert err.value.status() == "StatusCode.UNIMPLEMENTED"


def test_python_tensors_of_any_datatype_pass_between_nodes_and_to_the_client_as_they_are(
    server: ServerProcess,
) -> None:
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    inp = grpcclient.InferInput("in", [1], "FP32")
    inp.set_data_from_numpy(np.zeros(1, dtype=np.float32))
    response = grpc.infer("custom", [inp]).get_response()
    outputs = {
        o.name: (o.datatype, list(o.shape), raw)
        for o, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }
    assert outputs["custom"] == ("my_string", [3], b"null0terminated0string0")
    assert outputs["text"] == ("BYTES", [13], b"my_string [3]")  # the second node saw the first's tensor
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    rinp = httpclient.InferInput("in", [1], "FP32")
    rinp.set_data_from_numpy(np.zeros(1, dtype=np.float32))
    result = rest.infer("custom", [rinp])
    assert result.get_output("custom")["datatype"] == "my_string"
    assert result.get_output("custom")["parameters"]["binary_data_size"] == len(b"null0terminated0string0")


def test_a_request_timestamp_is_kept_and_a_bad_one_refused(server: ServerProcess, repository: Path) -> None:
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    results: queue.Queue[object] = queue.Queue()
    grpc.start_stream(callback=lambda result, error: results.put(error or result))
    try:
        inp = grpcclient.InferInput("in", list(X.shape), "FP32")
        inp.set_data_from_numpy(X)
        grpc.async_stream_infer("stream", [inp], parameters={"OVMS_MP_TIMESTAMP": 1000})
        got = []
        for _ in range(3):
            result = results.get(timeout=30)
            assert isinstance(result, grpcclient.InferResult), result
            got.append(result.get_response().parameters["OVMS_MP_TIMESTAMP"].int64_param)
        assert got == [1000, 1001, 1002]
    finally:
        grpc.stop_stream()
    rest = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    rinp = httpclient.InferInput("in", list(X.shape), "FP32")
    rinp.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException, match="Invalid timestamp format") as err:
        rest.infer("chain", [rinp], parameters={"OVMS_MP_TIMESTAMP": "soon"})
    assert err.value.status() == "400"
    np.testing.assert_allclose(
        rest.infer("chain", [rinp], parameters={"OVMS_MP_TIMESTAMP": 5}).as_numpy("out"),
        expected(repository, X),
        rtol=1e-6,
    )


def test_a_stream_answers_only_the_outputs_asked_for(server: ServerProcess) -> None:
    grpc = grpcclient.InferenceServerClient(server.grpc_address)
    results: queue.Queue[object] = queue.Queue()
    grpc.start_stream(callback=lambda result, error: results.put(error or result))
    try:
        inp = grpcclient.InferInput("in", [1], "FP32")
        inp.set_data_from_numpy(np.zeros(1, dtype=np.float32))
        grpc.async_stream_infer(
            "custom", [inp], outputs=[grpcclient.InferRequestedOutput("text")], request_id="a"
        )
        grpc.async_stream_infer("custom", [inp], request_id="b")  # all outputs: one response per packet
        first = results.get(timeout=30)
        assert isinstance(first, grpcclient.InferResult), first
        response = first.get_response()
        assert response.id == "a" and [o.name for o in response.outputs] == ["text"]
        names = set()
        for _ in range(2):
            result = results.get(timeout=30)
            assert isinstance(result, grpcclient.InferResult), result
            assert result.get_response().id == "b"
            names.update(o.name for o in result.get_response().outputs)
        assert names == {"custom", "text"}
    finally:
        grpc.stop_stream()
    assert results.empty()
