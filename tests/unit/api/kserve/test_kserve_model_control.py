"""The model repository extension (index, load, unload) over the REST router and the gRPC servicer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import orjson
import pytest

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve.api.context import ServingContext
from ovserve.api.kserve.grpc import KServeServicer
from ovserve.core.states import State
from ovserve.errors import Code, ServingError

from .fakes import FakeControl, Reply, call_rest, control_context, echo, make_context

T = TypeVar("T")

Scenario = Callable[[ServingContext, FakeControl], Awaitable[T]]


def scenario(body: Scenario[T], **context: Any) -> T:
    """Run ``body`` against a context serving ``a`` (good), ``broken`` (fails) and ``gone`` (no repository)."""

    async def go() -> T:
        ctx, control = await control_context(
            [echo("FP32", 1, 3, name="a")], failing=["broken"], missing=["gone"], **context
        )
        return await body(ctx, control)

    return asyncio.run(go())


async def post(ctx: ServingContext, path: str, body: Any = b"") -> Reply:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return await call_rest(ctx, "POST", path, raw)


async def grpc_call(ctx: ServingContext, method: str, request: Any) -> Any:
    return await getattr(KServeServicer(ctx), method)(request, None)


async def grpc_error(ctx: ServingContext, method: str, request: Any) -> ServingError:
    with pytest.raises(ServingError) as caught:
        await grpc_call(ctx, method, request)
    return caught.value


def index_of(response: Any) -> list[dict[str, str]]:
    """A gRPC RepositoryIndexResponse in the REST JSON form (absent fields dropped)."""
    out = []
    for model in response.models:
        entry = {"name": model.name}
        if model.version:
            entry["version"] = model.version
        if model.state:
            entry.update(state=model.state, reason=model.reason)
        out.append(entry)
    return out


EXPECTED_INDEX = [
    {"name": "a", "version": "1", "state": "READY", "reason": ""},
    {
        "name": "broken",
        "version": "1",
        "state": "UNAVAILABLE",
        "reason": "RuntimeError: the model file is broken",
    },
    {
        "name": "gone",
        "state": "UNAVAILABLE",
        "reason": "The provided base path is invalid or doesn't exists: /gone",
    },
    {"name": "later"},
]


# -- index -----------------------------------------------------------------------------
def test_index_over_rest_and_grpc_lists_every_model_with_triton_states() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        for payload in (b"", {}, {"ready": False}):
            reply = await post(ctx, "/v2/repository/index", payload)
            assert reply.status == 200, reply.body
            assert reply.json() == EXPECTED_INDEX
        assert (
            index_of(await grpc_call(ctx, "RepositoryIndex", pb.RepositoryIndexRequest())) == EXPECTED_INDEX
        )

    scenario(body, declared=["later"])


def test_index_ready_only() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        reply = await post(ctx, "/v2/repository/index", {"ready": True})
        assert reply.json() == [{"name": "a", "version": "1", "state": "READY", "reason": ""}]
        response = await grpc_call(ctx, "RepositoryIndex", pb.RepositoryIndexRequest(ready=True))
        assert index_of(response) == reply.json()

    scenario(body)


def test_index_bad_bodies() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        reply = await post(ctx, "/v2/repository/index", {"ready": "yes"})
        assert reply.status == 400 and "ready" in reply.error
        reply = await post(ctx, "/v2/repository/index", [1])
        assert (reply.status, reply.error) == (400, "Request body should be JSON object")
        reply = await post(ctx, "/v2/repository/index", b"{nope")
        assert reply.status == 412 and reply.error.startswith("The file is not valid json")
        reply = await call_rest(ctx, "GET", "/v2/repository/index")
        assert reply.status == 406

    scenario(body)


def test_index_names_a_repository_is_unimplemented() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        error = await grpc_error(ctx, "RepositoryIndex", pb.RepositoryIndexRequest(repository_name="other"))
        assert error.code == Code.UNIMPLEMENTED and "'other'" in error.message

    scenario(body)


def test_index_without_model_control_lists_what_the_manager_serves() -> None:
    async def go() -> None:
        ctx = await make_context(echo("FP32", 1, 3, name="a"))
        reply = await post(ctx, "/v2/repository/index")
        assert reply.json() == [{"name": "a", "version": "1", "state": "READY", "reason": ""}]
        reply = await post(ctx, "/v2/repository/models/a/unload")
        assert reply.status == 501 and "model repository extension" in reply.error

    asyncio.run(go())


# -- load / unload over REST -----------------------------------------------------------
def test_rest_unload_then_load_round_trip() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        reply = await post(ctx, "/v2/repository/models/a/unload", {"parameters": {"unload_dependents": True}})
        assert (reply.status, reply.body) == (200, b"")
        assert [s.state for s in ctx.manager.status("a")] == [State.END]
        reply = await call_rest(ctx, "GET", "/v2/models/a/ready")
        assert reply.status == 404 and "retired" in reply.error
        infer = {"inputs": [{"name": "in", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
        reply = await call_rest(ctx, "POST", "/v2/models/a/infer", orjson.dumps(infer))
        assert reply.status == 404 and "a version 1" in reply.error
        index = (await post(ctx, "/v2/repository/index")).json()
        assert index[0] == {"name": "a", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"}

        reply = await post(ctx, "/v2/repository/models/a/load")
        assert (reply.status, reply.body) == (200, b"")
        assert (await call_rest(ctx, "GET", "/v2/models/a/ready")).status == 200
        reply = await call_rest(ctx, "POST", "/v2/models/a/infer", orjson.dumps(infer))
        assert reply.status == 200 and reply.json()["outputs"][0]["data"] == [1.0, 2.0, 3.0]
        assert control.calls == [("unload", "a"), ("load", "a")]

    scenario(body)


def test_rest_load_of_a_served_model_rescans_and_succeeds() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        reply = await post(ctx, "/v2/repository/models/a/load", {"parameters": {"unrelated": 1}})
        assert (reply.status, reply.body) == (200, b"")

    scenario(body)


def test_rest_load_errors() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        reply = await post(ctx, "/v2/repository/models/nope/load")
        assert (reply.status, reply.error) == (404, "Model with requested name is not found - nope")
        reply = await post(ctx, "/v2/repository/models/nope/unload")
        assert reply.status == 404 and "nope" in reply.error
        reply = await post(ctx, "/v2/repository/models/broken/load")
        assert (reply.status, reply.error) == (
            400,
            "failed to load 'broken': version 1: RuntimeError: the model file is broken",
        )
        reply = await post(ctx, "/v2/repository/models/gone/load")
        assert (
            reply.status == 400 and "failed to load 'gone': The provided base path is invalid" in reply.error
        )
        reply = await post(
            ctx, "/v2/repository/models/a/load", {"parameters": {"config": '{"backend": "x"}'}}
        )
        assert reply.status == 501 and "'config' override" in reply.error
        reply = await post(ctx, "/v2/repository/models/a/load", {"parameters": {"file:1/model.xml": "eA=="}})
        assert reply.status == 501 and "file:1/model.xml" in reply.error
        reply = await post(ctx, "/v2/repository/models/a/load", {"parameters": [1]})
        assert reply.status == 400 and "parameters" in reply.error
        assert control.calls == [("load", "broken"), ("load", "gone")]  # refused requests touch nothing

    scenario(body)


def test_url_encoded_model_name() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        reply = await post(ctx, "/v2/repository/models/a%20b/load")
        assert reply.status == 404 and "a b" in reply.error

    scenario(body)


# -- load / unload over gRPC -----------------------------------------------------------
def test_grpc_unload_then_load_round_trip() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        unload = pb.RepositoryModelUnloadRequest(model_name="a")
        unload.parameters["unload_dependents"].bool_param = False
        assert isinstance(
            await grpc_call(ctx, "RepositoryModelUnload", unload), pb.RepositoryModelUnloadResponse
        )
        ready = await grpc_call(ctx, "ModelReady", pb.ModelReadyRequest(name="a"))
        assert not ready.ready
        response = await grpc_call(ctx, "RepositoryModelLoad", pb.RepositoryModelLoadRequest(model_name="a"))
        assert isinstance(response, pb.RepositoryModelLoadResponse)
        assert (await grpc_call(ctx, "ModelReady", pb.ModelReadyRequest(name="a"))).ready

    scenario(body)


def test_grpc_load_errors() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        error = await grpc_error(ctx, "RepositoryModelLoad", pb.RepositoryModelLoadRequest(model_name="nope"))
        assert error.code == Code.NOT_FOUND and "nope" in error.message
        error = await grpc_error(
            ctx, "RepositoryModelUnload", pb.RepositoryModelUnloadRequest(model_name="nope")
        )
        assert error.code == Code.NOT_FOUND
        error = await grpc_error(
            ctx, "RepositoryModelLoad", pb.RepositoryModelLoadRequest(model_name="broken")
        )
        assert error.code == Code.INVALID_ARGUMENT and error.message.startswith("failed to load 'broken'")
        request = pb.RepositoryModelLoadRequest(model_name="a")
        request.parameters["config"].string_param = "{}"
        error = await grpc_error(ctx, "RepositoryModelLoad", request)
        assert error.code == Code.UNIMPLEMENTED and "config" in error.message
        request = pb.RepositoryModelLoadRequest(model_name="a")
        request.parameters["file:1/model.onnx"].bytes_param = b"\0"
        error = await grpc_error(ctx, "RepositoryModelLoad", request)
        assert error.code == Code.UNIMPLEMENTED
        request = pb.RepositoryModelLoadRequest(model_name="a", repository_name="r")
        error = await grpc_error(ctx, "RepositoryModelLoad", request)
        assert error.code == Code.UNIMPLEMENTED
        assert control.calls == [("load", "broken")]

    scenario(body)


# -- readiness and server metadata -------------------------------------------------------
def test_grpc_model_ready_of_a_known_model_without_versions_is_false_not_an_error() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        await control.load_model("later")  # declared to the manager, nothing found yet
        assert not (await grpc_call(ctx, "ModelReady", pb.ModelReadyRequest(name="later"))).ready
        assert not (await grpc_call(ctx, "ModelReady", pb.ModelReadyRequest(name="gone"))).ready
        error = await grpc_error(ctx, "ModelReady", pb.ModelReadyRequest(name="a", version="7"))
        assert error.code == Code.NOT_FOUND
        error = await grpc_error(ctx, "ModelReady", pb.ModelReadyRequest(name="nope"))
        assert error.code == Code.NOT_FOUND

    scenario(body, declared=["later"])


def test_server_metadata_lists_the_extension_when_model_control_is_wired() -> None:
    async def body(ctx: ServingContext, control: FakeControl) -> None:
        reply = await call_rest(ctx, "GET", "/v2")
        assert reply.json()["extensions"] == [
            "binary_tensor_data",
            "model_configuration",
            "statistics",
            "model_repository",
        ]
        response = await grpc_call(ctx, "ServerMetadata", pb.ServerMetadataRequest())
        assert list(response.extensions) == [
            "binary_tensor_data",
            "model_configuration",
            "statistics",
            "model_repository",
        ]

    scenario(body)


def test_unload_waits_for_requests_in_flight() -> None:
    """Unload answers only once the request holding the version let go."""

    async def body(ctx: ServingContext, control: FakeControl) -> None:
        handle = ctx.manager.acquire("a")
        unload = asyncio.create_task(post(ctx, "/v2/repository/models/a/unload"))
        for _ in range(500):  # the unload first rescans the repository in a worker thread
            if ctx.manager.status("a")[0].state == State.UNLOADING:
                break
            await asyncio.sleep(0.01)
        assert not unload.done()
        assert [s.state for s in ctx.manager.status("a")] == [State.UNLOADING]
        index = (await post(ctx, "/v2/repository/index")).json()
        assert index[0] == {"name": "a", "version": "1", "state": "UNLOADING", "reason": ""}
        with handle as servable:
            out = await servable.infer({"in": np.ones((1, 3), np.float32)})
        assert out["out"].tolist() == [[1.0, 1.0, 1.0]]
        assert (await unload).status == 200
        assert [s.state for s in ctx.manager.status("a")] == [State.END]

    scenario(body)
