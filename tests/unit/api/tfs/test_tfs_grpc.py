"""The TF Serving gRPC servicers, called in-process with ovserve's own generated messages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import numpy as np
import pytest

from ovserve._generated.tensorflow.core.framework import types_pb2
from ovserve._generated.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    predict_pb2,
)
from ovserve.api.tfs.codec_proto import decode_tensor, encode_tensor
from ovserve.api.tfs.grpc import ModelServicer, PredictionServicer, add_services
from ovserve.core.servable import Servable
from ovserve.errors import Code, ServingError

from .fakes import EchoServable, serving_context, spec

Call = Callable[[PredictionServicer, ModelServicer], Awaitable[Any]]


def run(servables: Sequence[Servable], call: Call, failed: Sequence[tuple[str, int, str]] = ()) -> Any:
    async def go() -> Any:
        ctx = await serving_context(servables, failed)
        return await call(PredictionServicer(ctx), ModelServicer(ctx))

    return asyncio.run(go())


def error_of(servables: Sequence[Servable], call: Call) -> ServingError:
    with pytest.raises(ServingError) as caught:
        run(servables, call)
    return caught.value


def model(version: int = 1) -> EchoServable:
    return EchoServable("m", [spec("x", np.float32, -1, 2), spec("ids", np.int64, -1)], version)


def predict_request(name: str = "m", version: int | None = None, **inputs: np.ndarray) -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    for key, value in inputs.items():
        encode_tensor(key, value, request.inputs[key])
    return request


GOOD = {"x": np.array([[1, 2], [3, 4]], np.float32), "ids": np.array([7, 8], np.int64)}


# -- Predict ---------------------------------------------------------------------------
def test_predict_returns_every_output_and_the_version() -> None:
    reply = run([model(1), model(2)], lambda p, _m: p.Predict(predict_request(**GOOD), None))
    assert reply.model_spec.name == "m" and reply.model_spec.version.value == 2
    assert set(reply.outputs) == {"x", "ids"}
    for name, value in GOOD.items():
        out = reply.outputs[name]
        assert out.tensor_content  # numbers always travel as tensor_content
        np.testing.assert_array_equal(decode_tensor(name, out), value)


def test_predict_pins_the_requested_version() -> None:
    v1, v2 = model(1), model(2)
    reply = run([v1, v2], lambda p, _m: p.Predict(predict_request(version=1, **GOOD), None))
    assert reply.model_spec.version.value == 1 and len(v1.calls) == 1 and not v2.calls


def test_predict_typed_fields_from_a_tf_client() -> None:
    request = predict_request(ids=GOOD["ids"])
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    for size in (1, 2):
        request.inputs["x"].tensor_shape.dim.add().size = size
    request.inputs["x"].float_val.extend([0.5, 1.5])
    request.inputs["ids"].tensor_shape.dim[0].size = 1
    request.inputs["ids"].ClearField("tensor_content")
    request.inputs["ids"].int64_val.append(9)
    reply = run([model()], lambda p, _m: p.Predict(request, None))
    np.testing.assert_array_equal(decode_tensor("x", reply.outputs["x"]), [[0.5, 1.5]])
    np.testing.assert_array_equal(decode_tensor("ids", reply.outputs["ids"]), [9])


def test_predict_errors() -> None:
    error = error_of([model()], lambda p, _m: p.Predict(predict_request("other", **GOOD), None))
    assert error.code == Code.NOT_FOUND and "requested name is not found" in error.message
    error = error_of([model()], lambda p, _m: p.Predict(predict_request(version=5, **GOOD), None))
    assert error.code == Code.NOT_FOUND and "requested version is not found" in error.message
    wrong = dict(GOOD, x=GOOD["x"].astype(np.int32))
    error = error_of([model()], lambda p, _m: p.Predict(predict_request(**wrong), None))
    assert error.code == Code.INVALID_ARGUMENT
    assert error.message.startswith("Invalid input precision - Expected: FP32; Actual: I32; input name: x")
    error = error_of([model()], lambda p, _m: p.Predict(predict_request(x=GOOD["x"]), None))
    assert error.message.startswith("Invalid number of inputs - Expected: 2; Actual: 1")
    bad = predict_request(**GOOD)
    bad.inputs["x"].tensor_content = bad.inputs["x"].tensor_content[:-4]
    error = error_of([model()], lambda p, _m: p.Predict(bad, None))
    assert error.message.startswith(
        "Invalid content size of tensor proto - Expected: 16 bytes; Actual: 12 bytes"
    )
    shaped = dict(GOOD, x=np.zeros((2, 3), np.float32))
    error = error_of([model()], lambda p, _m: p.Predict(predict_request(**shaped), None))
    assert error.message.startswith("Invalid input shape - Expected: (-1,2); Actual: (2,3)")


# -- GetModelMetadata ------------------------------------------------------------------
def metadata_request(
    name: str = "m", version: int | None = None, fields: Sequence[str] = ("signature_def",)
) -> Any:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    request.metadata_field.extend(fields)
    return request


def test_metadata_packs_a_signature_def_map() -> None:
    reply = run([model(1), model(2)], lambda p, _m: p.GetModelMetadata(metadata_request(), None))
    assert reply.model_spec.name == "m" and reply.model_spec.version.value == 2
    packed = reply.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    x = signature.inputs["x"]
    assert (x.name, x.dtype, [d.size for d in x.tensor_shape.dim]) == ("x", types_pb2.DT_FLOAT, [-1, 2])
    ids = signature.outputs["ids"]
    assert (ids.name, ids.dtype, [d.size for d in ids.tensor_shape.dim]) == ("ids", types_pb2.DT_INT64, [-1])
    reply = run([model(1), model(2)], lambda p, _m: p.GetModelMetadata(metadata_request(version=1), None))
    assert reply.model_spec.version.value == 1


def test_metadata_request_checks() -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    error = error_of([model()], lambda p, _m: p.GetModelMetadata(request, None))
    assert (error.code, error.message) == (Code.INVALID_ARGUMENT, "model_spec missing in request")
    for fields in ((), ("inputs",), ("signature_def", "signature_def")):
        error = error_of(
            [model()], lambda p, _m, f=fields: p.GetModelMetadata(metadata_request(fields=f), None)
        )
        assert error.code == Code.INVALID_ARGUMENT and error.message.startswith("Invalid signature name")
    error = error_of([model()], lambda p, _m: p.GetModelMetadata(metadata_request("nope"), None))
    assert error.code == Code.NOT_FOUND


# -- GetModelStatus --------------------------------------------------------------------
def status_request(name: str = "m", version: int | None = None) -> Any:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    return request


def test_status_states_and_errors() -> None:
    state = get_model_status_pb2.ModelVersionStatus
    reply = run(
        [model(1)], lambda _p, m: m.GetModelStatus(status_request(), None), failed=[("m", 2, "no weights")]
    )
    got = [
        (s.version, s.state, s.status.error_code, s.status.error_message) for s in reply.model_version_status
    ]
    assert got == [(2, state.LOADING, Code.UNKNOWN.value, "no weights"), (1, state.AVAILABLE, 0, "OK")]
    reply = run([model(1)], lambda _p, m: m.GetModelStatus(status_request(version=1), None))
    assert [(s.version, s.state) for s in reply.model_version_status] == [(1, state.AVAILABLE)]
    error = error_of([model()], lambda _p, m: m.GetModelStatus(status_request(version=4), None))
    assert error.code == Code.NOT_FOUND
    error = error_of([model()], lambda _p, m: m.GetModelStatus(status_request("nope"), None))
    assert error.code == Code.NOT_FOUND
    error = error_of(
        [model()], lambda _p, m: m.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(), None)
    )
    assert error.message == "model_spec missing in request"


# -- not implemented -------------------------------------------------------------------
def test_unimplemented_methods() -> None:
    calls: list[Call] = [
        lambda p, _m: p.Classify(None, None),
        lambda p, _m: p.Regress(None, None),
        lambda p, _m: p.MultiInference(None, None),
        lambda _p, m: m.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(), None),
    ]
    for call in calls:
        error = error_of([model()], call)
        assert error.code == Code.UNIMPLEMENTED and "not" in error.message


def test_add_services_registers_both_services() -> None:
    async def go() -> None:
        server = grpc.aio.server()
        ctx = await serving_context([model()])
        add_services(server, ctx)  # registration only: the server is never started

    asyncio.run(go())
