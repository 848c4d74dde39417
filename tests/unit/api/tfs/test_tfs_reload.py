"""TF Serving's HandleReloadConfigRequest: ModelServerConfig conversion and the servicer method."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from ovserve._generated.tensorflow_serving.apis import model_management_pb2
from ovserve._generated.tensorflow_serving.config import model_server_config_pb2
from ovserve.api.context import ServingContext
from ovserve.api.tfs.grpc import ModelServicer
from ovserve.api.tfs.metadata import status_json
from ovserve.api.tfs.reload import model_configs
from ovserve.config.types import VersionPolicy
from ovserve.core.manager import ServableManager
from ovserve.core.states import State
from ovserve.errors import Code, ServingError

from .fakes import ReplacingControl

T = TypeVar("T")


def server_config(*models: dict[str, Any]) -> Any:
    """A ModelServerConfig with ``model_config_list`` holding ``models`` (ModelConfig fields)."""
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.SetInParent()
    for fields in models:
        entry = config.model_config_list.config.add()
        for key, value in fields.items():
            if key == "policy":
                kind, body = value
                getattr(entry.model_version_policy, kind).SetInParent()
                for name, item in body.items():
                    target = getattr(getattr(entry.model_version_policy, kind), name)
                    if isinstance(item, list):
                        target.extend(item)
                    else:
                        setattr(getattr(entry.model_version_policy, kind), name, item)
            elif key == "labels":
                entry.version_labels.update(value)
            else:
                setattr(entry, key, value)
    return config


def error_of(config: Any) -> ServingError:
    with pytest.raises(ServingError) as caught:
        model_configs(config, "/srv")
    return caught.value


# -- conversion ------------------------------------------------------------------------
def test_names_base_paths_and_policies() -> None:
    models = model_configs(
        server_config(
            {"name": "a", "base_path": "/models/a"},
            {"name": "b", "base_path": "rel/b", "model_platform": "tensorflow", "policy": ("latest", {})},
            {"name": "c", "base_path": "s3://bucket/c", "policy": ("latest", {"num_versions": 2})},
            {"name": "d", "base_path": "/d", "model_platform": "OpenVINO", "policy": ("all", {})},
            {
                "name": "e",
                "base_path": "/e",
                "policy": ("specific", {"versions": [3, 1]}),
                "labels": {"x": 1},
            },
        ),
        "/srv",
    )
    assert [(m.name, m.base_path, m.version_policy) for m in models] == [
        ("a", "/models/a", VersionPolicy()),
        ("b", "/srv/rel/b", VersionPolicy("latest", 1)),  # 0 versions means 1, as in TF Serving
        ("c", "s3://bucket/c", VersionPolicy("latest", 2)),
        ("d", "/d", VersionPolicy("all")),
        ("e", "/e", VersionPolicy("specific", versions=(1, 3))),
    ]
    assert models[0].plugin_config == {} and models[0].target_device == "CPU"


def test_an_empty_list_serves_nothing() -> None:
    assert model_configs(server_config(), "/srv") == ()


@pytest.mark.parametrize(
    ("fields", "fragments"),
    [
        ({"name": "", "base_path": "/a"}, ["model_config_list[0].config.name", "must not be empty"]),
        ({"name": "a", "base_path": ""}, ["model_config_list[0].config.base_path", "base path is invalid"]),
        ({"name": "a", "base_path": "../a"}, ["base_path", ".."]),
        ({"name": "a", "base_path": "/a", "model_platform": "pytorch"}, ["model_platform", "'pytorch'"]),
        ({"name": "a", "base_path": "/a", "policy": ("specific", {})}, ["specific.versions", "no versions"]),
        ({"name": "a", "base_path": "/a", "policy": ("specific", {"versions": [0]})}, ["versions", ">= 1"]),
    ],
)
def test_invalid_entries(fields: dict[str, Any], fragments: list[str]) -> None:
    error = error_of(server_config(fields))
    assert error.code == Code.INVALID_ARGUMENT
    for fragment in fragments:
        assert fragment in error.message


def test_duplicate_names_are_refused() -> None:
    error = error_of(server_config({"name": "a", "base_path": "/a"}, {"name": "a", "base_path": "/b"}))
    assert error.code == Code.INVALID_ARGUMENT
    assert "model_config_list[0]" in error.message and "model_config_list[1]" in error.message


def test_custom_model_config_is_unimplemented() -> None:
    config = model_server_config_pb2.ModelServerConfig()
    config.custom_model_config.type_url = "type.googleapis.com/my.Config"
    error = error_of(config)
    assert error.code == Code.UNIMPLEMENTED and "custom_model_config" in error.message
    assert "my.Config" in error.message


def test_a_config_without_a_list_is_invalid() -> None:
    error = error_of(model_server_config_pb2.ModelServerConfig())
    assert error.code == Code.INVALID_ARGUMENT and "model_config_list" in error.message


# -- the servicer ----------------------------------------------------------------------
Body = Callable[[ModelServicer, ReplacingControl, ServingContext], Awaitable[T]]


def with_servicer(body: Body[T]) -> T:
    async def go() -> T:
        manager = ServableManager()
        control = ReplacingControl(manager)
        ctx = ServingContext(manager)
        ctx.control = control
        return await body(ModelServicer(ctx), control, ctx)

    return asyncio.run(go())


def reload_request(config: Any | None) -> Any:
    request = model_management_pb2.ReloadConfigRequest()
    if config is not None:
        request.config.CopyFrom(config)
    return request


def states(ctx: ServingContext, name: str) -> dict[str, str]:
    return {s["version"]: s["state"] for s in status_json(ctx.manager.status(name))["model_version_status"]}


def test_reload_adds_changes_policy_and_removes_models() -> None:
    async def body(servicer: ModelServicer, control: ReplacingControl, ctx: ServingContext) -> None:
        response = await servicer.HandleReloadConfigRequest(
            reload_request(server_config({"name": "a", "base_path": "/a"})), None
        )
        assert (response.status.error_code, response.status.error_message) == (0, "")
        assert states(ctx, "a") == {"3": "AVAILABLE"}
        two = server_config(
            {"name": "a", "base_path": "/a", "policy": ("specific", {"versions": [1, 2]})},
            {"name": "b", "base_path": "/b"},
        )
        await servicer.HandleReloadConfigRequest(reload_request(two), None)
        assert states(ctx, "a") == {"3": "END", "2": "AVAILABLE", "1": "AVAILABLE"}
        assert states(ctx, "b") == {"3": "AVAILABLE"}
        await servicer.HandleReloadConfigRequest(
            reload_request(server_config({"name": "b", "base_path": "/b"})), None
        )
        assert states(ctx, "a") == {"3": "END", "2": "END", "1": "END"}
        assert states(ctx, "b") == {"3": "AVAILABLE"}
        assert [len(models) for models in control.replaced] == [1, 2, 1]

    with_servicer(body)


def test_a_request_without_config_is_a_no_op() -> None:
    async def body(servicer: ModelServicer, control: ReplacingControl, ctx: ServingContext) -> None:
        response = await servicer.HandleReloadConfigRequest(reload_request(None), None)
        assert response.status.error_code == 0
        assert control.replaced == []

    with_servicer(body)


def test_an_invalid_request_changes_nothing() -> None:
    async def body(servicer: ModelServicer, control: ReplacingControl, ctx: ServingContext) -> None:
        await servicer.HandleReloadConfigRequest(
            reload_request(server_config({"name": "a", "base_path": "/a"})), None
        )
        bad = server_config({"name": "b", "base_path": "/b"}, {"name": "c", "base_path": ""})
        with pytest.raises(ServingError) as caught:
            await servicer.HandleReloadConfigRequest(reload_request(bad), None)
        assert caught.value.code == Code.INVALID_ARGUMENT and "model_config_list[1]" in caught.value.message
        assert len(control.replaced) == 1 and ctx.manager.names() == ["a"]
        assert ctx.manager.is_available("a")

    with_servicer(body)


def test_models_that_do_not_become_available_fail_the_call_but_the_config_is_applied() -> None:
    async def body(servicer: ModelServicer, control: ReplacingControl, ctx: ServingContext) -> None:
        config = server_config(
            {"name": "good", "base_path": "/good"},
            {"name": "bad", "base_path": "/x/broken"},
            {"name": "gone", "base_path": "/x/missing"},
        )
        with pytest.raises(ServingError) as caught:
            await servicer.HandleReloadConfigRequest(reload_request(config), None)
        message = caught.value.message
        assert caught.value.code == Code.UNKNOWN
        assert "bad (version 3: File not found or cannot open)" in message
        assert "gone (The provided base path is invalid" in message and "good" not in message.split(":", 1)[1]
        assert ctx.manager.is_available("good")
        status = ctx.manager.status("bad")[0]
        assert (status.state, status.error_code) == (State.LOADING, Code.UNKNOWN)

    with_servicer(body)


def test_without_model_control_it_is_unimplemented() -> None:
    async def go() -> None:
        servicer = ModelServicer(ServingContext(ServableManager()))
        with pytest.raises(ServingError) as caught:
            await servicer.HandleReloadConfigRequest(reload_request(server_config()), None)
        assert caught.value.code == Code.UNIMPLEMENTED

    asyncio.run(go())
