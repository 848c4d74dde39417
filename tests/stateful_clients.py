"""Talking to stateful models in the integration tests: the served models, and one step per API.

Requests carry the special inputs as OVMS's clients sent them: TF Serving REST JSON, TF
Serving gRPC ``TensorProto`` s with the value in ``uint64_val`` / ``uint32_val`` (built from
ovmsclient's bundled protos), KServe v2 through tritonclient or raw JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import ovmsclient
import pytest
from models import F32
from ovmsclient.tfs_compat.grpc.tensors import make_ndarray
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2
from serverproc import ServerProcess, http_json
from stateful_models import recurrent_cell, running_sum, tensor_iterator_cell

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
    """POST ``body`` (JSON, or bytes as they are) to ``path``."""
    return http_json(server.rest_url + path, body if isinstance(body, bytes) else json.dumps(body).encode())


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


def tfs_grpc_step(
    stub: Any, model: str, x: np.ndarray, sequence_id: int | None, control: int | None
) -> dict[str, Any]:
    reply = stub.Predict(tfs_grpc_request(model, x, special_protos(sequence_id, control)), timeout=30)
    seq = reply.outputs["sequence_id"]
    assert seq.dtype == types_pb2.DT_UINT64 and len(seq.uint64_val) == 1  # as OVMS writes it
    answer = {name: make_ndarray(proto) for name, proto in reply.outputs.items()}
    return answer


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
