"""The gRPC servicer called in-process: typed and raw contents for every datatype, errors, streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import pytest

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve.api.kserve.codec import deserialize_bytes, to_raw
from ovserve.api.kserve.codec_grpc import CONTENTS_FIELD
from ovserve.api.kserve.grpc import KServeServicer
from ovserve.core.servable import Servable
from ovserve.errors import Code, ServingError
from ovserve.tensors import KSERVE_TO_NUMPY

from .fakes import DATATYPES, EchoServable, echo, make_context, multi, sample, spec

T = TypeVar("T")


def call(servables: Sequence[Servable], method: str, request: Any, **context: Any) -> Any:
    async def go() -> Any:
        servicer = KServeServicer(await make_context(*servables, **context))
        return await getattr(servicer, method)(request, None)

    return asyncio.run(go())


def fails(servables: Sequence[Servable], method: str, request: Any, code: Code, *fragments: str) -> None:
    with pytest.raises(ServingError) as caught:
        call(servables, method, request)
    assert caught.value.code == code, caught.value.message
    for fragment in fragments:
        assert fragment in caught.value.message


def tensor(name: str, datatype: str, shape: Sequence[int], **contents: Any) -> Any:
    return pb.ModelInferRequest.InferInputTensor(
        name=name, datatype=datatype, shape=list(shape), contents=pb.InferTensorContents(**contents)
    )


def typed(datatype: str, values: np.ndarray, name: str = "in") -> Any:
    field = CONTENTS_FIELD[datatype]
    assert field is not None
    return tensor(name, datatype, values.shape, **{field: values.ravel().tolist()})


def output_array(response: Any, index: int) -> np.ndarray:
    out = response.outputs[index]
    raw = response.raw_output_contents[index]
    if out.datatype == "BYTES":
        return deserialize_bytes(raw, int(np.prod(out.shape)), out.name).reshape(tuple(out.shape))
    return np.frombuffer(raw, KSERVE_TO_NUMPY[out.datatype]).reshape(tuple(out.shape))


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d not in ("FP16", "BF16")])
def test_typed_contents_round_trip(datatype: str) -> None:
    values = sample(datatype)
    request = pb.ModelInferRequest(
        model_name=f"echo_{datatype.lower()}", id="r1", inputs=[typed(datatype, values)]
    )
    response = call([echo(datatype, 2, 3)], "ModelInfer", request)
    assert (response.model_name, response.model_version, response.id) == (
        f"echo_{datatype.lower()}",
        "1",
        "r1",
    )
    assert (response.outputs[0].name, response.outputs[0].datatype, list(response.outputs[0].shape)) == (
        "out",
        datatype,
        [2, 3],
    )
    assert not response.outputs[0].contents.ListFields()
    np.testing.assert_array_equal(output_array(response, 0), values)


@pytest.mark.parametrize("datatype", DATATYPES)
def test_raw_contents_round_trip(datatype: str) -> None:
    values = sample(datatype)
    request = pb.ModelInferRequest(
        model_name=f"echo_{datatype.lower()}",
        inputs=[pb.ModelInferRequest.InferInputTensor(name="in", datatype=datatype, shape=[2, 3])],
        raw_input_contents=[to_raw(values)],
    )
    response = call([echo(datatype, 2, 3)], "ModelInfer", request)
    assert response.raw_output_contents[0] == to_raw(values)
    np.testing.assert_array_equal(output_array(response, 0), values)


def test_output_selection() -> None:
    request = pb.ModelInferRequest(
        model_name="multi",
        inputs=[
            tensor("a", "FP32", [1, 3], fp32_contents=[1, 2, 3]),
            tensor("b", "INT32", [1, 3], int_contents=[4, 5, 6]),
        ],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="b_out")],
    )
    response = call([multi()], "ModelInfer", request)
    assert [o.name for o in response.outputs] == ["b_out"]
    assert output_array(response, 0).tolist() == [[4, 5, 6]]


def test_versions() -> None:
    servables = [EchoServable("v", [spec("x", "FP32", 1)], version=n) for n in (1, 3)]
    request = pb.ModelInferRequest(model_name="v", inputs=[tensor("x", "FP32", [1], fp32_contents=[1])])
    assert call(servables, "ModelInfer", request).model_version == "3"
    request.model_version = "1"
    servables = [EchoServable("v", [spec("x", "FP32", 1)], version=n) for n in (1, 3)]
    assert call(servables, "ModelInfer", request).model_version == "1"


def _fp32_request(**fields: Any) -> Any:
    request = pb.ModelInferRequest(
        model_name="echo_fp32", inputs=[tensor("in", "FP32", [2, 3], fp32_contents=range(6))]
    )
    for key, value in fields.items():
        if key == "inputs":
            del request.inputs[:]
            request.inputs.extend(value)
        elif key == "raw_input_contents":
            request.raw_input_contents.extend(value)
        elif key == "outputs":
            request.outputs.extend(value)
        else:
            setattr(request, key, value)
    return request


def _fails(request: Any, code: Code, *fragments: str, servable: Servable | None = None) -> None:
    fails([servable or echo("FP32", 2, 3)], "ModelInfer", request, code, *fragments)


BAD = Code.INVALID_ARGUMENT


def test_good_request() -> None:
    assert call([echo("FP32", 2, 3)], "ModelInfer", _fp32_request()).outputs[0].name == "out"


def test_bad_version() -> None:
    _fails(_fp32_request(model_version="abc"), BAD, "invalid model version format in request")


def test_unknown_datatype() -> None:
    _fails(
        _fp32_request(inputs=[tensor("in", "FLOAT", [2, 3], fp32_contents=range(6))]),
        BAD,
        "Invalid datatype 'FLOAT'",
    )


def test_datatype_mismatch() -> None:
    _fails(
        _fp32_request(inputs=[tensor("in", "INT32", [2, 3], int_contents=range(6))]),
        BAD,
        "Invalid input precision - Expected: FP32; Actual: I32",
    )


def test_count_mismatch() -> None:
    _fails(
        _fp32_request(inputs=[tensor("in", "FP32", [2, 3], fp32_contents=range(5))]),
        BAD,
        "Invalid number of values in tensor proto container - Expected: 6",
        "Actual: 5",
    )


def test_negative_dims() -> None:
    _fails(_fp32_request(inputs=[tensor("in", "FP32", [-1, 3], fp32_contents=range(3))]), BAD, "Negative")


def test_wrong_contents_field() -> None:
    _fails(
        _fp32_request(inputs=[tensor("in", "FP32", [2, 3], int_contents=range(6))]),
        BAD,
        "datatype FP32 is carried in fp32_contents; Actual: int_contents",
    )


def test_fp16_typed() -> None:
    request = pb.ModelInferRequest(
        model_name="echo_fp16", inputs=[tensor("in", "FP16", [2], fp32_contents=[1, 2])]
    )
    _fails(
        request, BAD, "Could not parse input content - FP16", "raw_input_contents", servable=echo("FP16", 2)
    )


def test_typed_out_of_range() -> None:
    request = pb.ModelInferRequest(
        model_name="echo_int8", inputs=[tensor("in", "INT8", [2], int_contents=[1, 300])]
    )
    _fails(request, BAD, "out of range for INT8", servable=echo("INT8", 2))


def test_typed_and_raw() -> None:
    _fails(
        _fp32_request(raw_input_contents=[b"\0" * 24]),
        BAD,
        "Passing buffers both in InferInputTensor contents and in ModelInferRequest raw_input_contents",
    )


def test_raw_size_mismatch() -> None:
    request = _fp32_request(inputs=[tensor("in", "FP32", [2, 3])], raw_input_contents=[b"\0" * 20])
    _fails(request, BAD, "Invalid content size of tensor proto - Expected: 24 bytes; Actual: 20 bytes")


def test_raw_count_mismatch() -> None:
    request = _fp32_request(inputs=[tensor("in", "FP32", [2, 3])], raw_input_contents=[b"\0" * 24, b""])
    _fails(request, BAD, "Invalid number of raw_input_contents - Expected: 1", "Actual: 2")


def test_unknown_output() -> None:
    _fails(
        _fp32_request(outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="zz")]),
        BAD,
        "Invalid output name - zz",
    )


def test_unknown_model() -> None:
    _fails(  # OVMS (MediaPipe builds) answers its graph lookup for an unknown name on KServe infer
        _fp32_request(model_name="nope"),
        Code.NOT_FOUND,
        "Mediapipe graph definition with requested name is not found - nope",
    )


def test_health_and_metadata() -> None:
    assert call([], "ServerLive", pb.ServerLiveRequest()).live
    assert call([], "ServerReady", pb.ServerReadyRequest()).ready
    assert not call([], "ServerReady", pb.ServerReadyRequest(), ready=False).ready
    meta = call([], "ServerMetadata", pb.ServerMetadataRequest())
    assert (meta.name, meta.version, list(meta.extensions)) == (
        "ovserve",
        "test",
        ["binary_tensor_data", "model_configuration", "statistics"],
    )
    servables = [
        EchoServable("v", [spec("x", "FP32", -1, 4)], [spec("y", "INT64", 2)], version=n) for n in (1, 2)
    ]
    meta = call(servables, "ModelMetadata", pb.ModelMetadataRequest(name="v"))
    assert (meta.name, list(meta.versions), meta.platform) == ("v", ["1", "2"], "OpenVINO")
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("x", "FP32", [-1, 4])]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.outputs] == [("y", "INT64", [2])]


def test_model_ready() -> None:
    assert call([echo("FP32", 1)], "ModelReady", pb.ModelReadyRequest(name="echo_fp32")).ready
    assert call([echo("FP32", 1)], "ModelReady", pb.ModelReadyRequest(name="echo_fp32", version="1")).ready
    assert not call([], "ModelReady", pb.ModelReadyRequest(name="broken"), failing=["broken"]).ready
    fails([], "ModelReady", pb.ModelReadyRequest(name="nope"), Code.NOT_FOUND, "nope")
    fails(
        [echo("FP32", 1)],
        "ModelReady",
        pb.ModelReadyRequest(name="echo_fp32", version="4"),
        Code.NOT_FOUND,
        "version 4",
    )


def test_metadata_of_failed_model() -> None:
    with pytest.raises(ServingError) as caught:
        call([], "ModelMetadata", pb.ModelMetadataRequest(name="broken"), failing=["broken"])
    assert caught.value.code == Code.UNAVAILABLE
    assert "the model file is broken" in caught.value.message


@pytest.mark.parametrize(
    ("method", "request_type"),
    [
        ("RepositoryModelLoad", pb.RepositoryModelLoadRequest),
        ("RepositoryModelUnload", pb.RepositoryModelUnloadRequest),
    ],
)
def test_repository_control_unavailable_without_model_control(method: str, request_type: Any) -> None:
    fails([], method, request_type(model_name="m"), Code.UNIMPLEMENTED, "model repository extension")


async def _aiter(items: Sequence[T]) -> AsyncIterator[T]:
    for item in items:
        await asyncio.sleep(0)
        yield item


def _stream(servables: Sequence[Servable], requests: Sequence[Any]) -> list[Any]:
    async def go() -> list[Any]:
        servicer = KServeServicer(await make_context(*servables))
        return [reply async for reply in servicer.ModelStreamInfer(_aiter(requests), None)]

    return asyncio.run(go())


def test_stream_answers_in_order_and_survives_errors() -> None:
    good = [
        _fp32_request(id=f"r{i}", inputs=[tensor("in", "FP32", [2, 3], fp32_contents=[i] * 6)])
        for i in range(40)
    ]
    bad = _fp32_request(id="bad", model_version="x")
    replies = _stream([echo("FP32", 2, 3)], [*good[:20], bad, *good[20:]])
    assert len(replies) == 41
    assert replies[20].error_message.startswith("invalid model version format in request")
    assert replies[20].infer_response.id == "bad"
    rest = replies[:20] + replies[21:]
    assert [r.infer_response.id for r in rest] == [f"r{i}" for i in range(40)]
    assert all(r.error_message == "" for r in rest)
    assert [output_array(r.infer_response, 0)[0, 0] for r in rest] == list(range(40))


class _Slow(EchoServable):
    def __init__(self, gate: Callable[[], Awaitable[None]]) -> None:
        super().__init__("slow", [spec("in", "FP32", 1)])
        self.gate = gate

    async def run(self, inputs: Any) -> dict[str, np.ndarray]:
        await self.gate()
        return await super().run(inputs)


def test_stream_runs_requests_concurrently() -> None:
    running = 0
    peak = 0

    async def gate() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    requests = [
        pb.ModelInferRequest(model_name="slow", inputs=[tensor("in", "FP32", [1], fp32_contents=[i])])
        for i in range(8)
    ]
    replies = _stream([_Slow(gate)], requests)
    assert [output_array(r.infer_response, 0)[0] for r in replies] == list(range(8))
    assert peak > 1
