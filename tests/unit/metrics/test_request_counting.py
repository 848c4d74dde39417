"""The request path counts every front end's calls once: infer, pinned and counted."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from fakes import EchoServable, FakeLoader

from ovserve.api import request_path
from ovserve.api.context import ServingContext
from ovserve.config.types import MetricsConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
from ovserve.core.servable import Servable
from ovserve.errors import InvalidInput, ModelNotFound, VersionNotFound
from ovserve.metrics import MetricsRegistry
from ovserve.metrics.calls import (
    KSERVE_GRPC_READY,
    KSERVE_REST_INFER,
    KSERVE_REST_METADATA,
    TFS_GRPC_PREDICT,
    TFS_REST_STATUS,
)
from ovserve.tensors import InferRequest, InferResponse

X = np.ones((1, 4), np.float32)


class SlowLoader:
    def __init__(self, sid: ServableId) -> None:
        self.sid = sid

    def load(self) -> Servable:
        return EchoServable(self.sid, delay=0.01)


async def context(metrics: bool = True, slow: bool = False) -> ServingContext:
    manager = ServableManager()
    registry = MetricsRegistry.from_config(MetricsConfig(enable=True)) if metrics else None
    if registry is not None:
        registry.attach(manager)
    loader = SlowLoader if slow else FakeLoader
    aspired = AspiredStream(tuple(AspiredVersion(v, loader(ServableId("m", v))) for v in (1, 2)))
    await manager.apply({"m": aspired})
    return ServingContext(manager, metrics=registry)


def decode_ok(servable: Servable) -> InferRequest:
    return InferRequest({"x": X})


def decode_bad(servable: Servable) -> InferRequest:
    raise InvalidInput("bad body")


def encode(servable: Servable, request: InferRequest, response: InferResponse) -> np.ndarray:
    return response.outputs["y"]


def test_infer_counts_success_failure_and_time() -> None:
    async def go() -> ServingContext:
        ctx = await context()
        for _ in range(3):
            out = await request_path.infer(ctx, KSERVE_REST_INFER, "m", None, decode_ok, encode)
            np.testing.assert_array_equal(out, X)
        await request_path.infer(ctx, TFS_GRPC_PREDICT, "m", 1, decode_ok, encode)
        with pytest.raises(InvalidInput):
            await request_path.infer(ctx, TFS_GRPC_PREDICT, "m", 1, decode_bad, encode)
        with pytest.raises(VersionNotFound):  # no such version: not counted
            await request_path.infer(ctx, TFS_GRPC_PREDICT, "m", 9, decode_ok, encode)
        with pytest.raises(ModelNotFound):  # no such model: not counted
            await request_path.infer(ctx, TFS_GRPC_PREDICT, "nope", None, decode_ok, encode)
        return ctx

    ctx = asyncio.run(go())
    assert ctx.metrics is not None
    v1, v2 = ctx.metrics.version(ServableId("m", 1)), ctx.metrics.version(ServableId("m", 2))
    assert v2.success[KSERVE_REST_INFER.index] == 3  # the newest version answered
    assert v1.success[TFS_GRPC_PREDICT.index] == 1
    assert v1.fail[TFS_GRPC_PREDICT.index] == 1
    assert sum(v1.success) + sum(v2.success) == 4
    assert sum(v1.fail) + sum(v2.fail) == 1
    # request time on success only, by interface
    assert v2.request_time[KSERVE_REST_INFER.interface_index].count == 3
    assert v1.request_time[TFS_GRPC_PREDICT.interface_index].count == 1
    assert v1.request_time[KSERVE_REST_INFER.interface_index].count == 0
    assert v1.current == v2.current == 0
    assert [s.id for s in ctx.metrics.versions()] == [("m", 1), ("m", 2)]


def test_current_requests_while_running() -> None:
    async def go() -> None:
        ctx = await context(slow=True)
        assert ctx.metrics is not None
        seen: list[int] = []

        def decode(servable: Servable) -> InferRequest:
            assert ctx.metrics is not None
            seen.append(ctx.metrics.version(servable.id).current)
            return InferRequest({"x": X})

        await asyncio.gather(
            *(request_path.infer(ctx, KSERVE_REST_INFER, "m", 2, decode, encode) for _ in range(3))
        )
        assert seen == [1, 2, 3]  # each call is counted while the earlier ones still run
        assert ctx.metrics.version(ServableId("m", 2)).current == 0

    asyncio.run(go())


def test_pinned_and_counted() -> None:
    async def go() -> ServingContext:
        ctx = await context()
        with request_path.pinned(ctx, KSERVE_REST_METADATA, "m", None) as servable:
            assert servable.version == 2
        with pytest.raises(RuntimeError), request_path.pinned(ctx, KSERVE_REST_METADATA, "m", 1):
            raise RuntimeError("encoding failed")
        with pytest.raises(VersionNotFound), request_path.pinned(ctx, KSERVE_REST_METADATA, "m", 5):
            pass
        with request_path.counted(ctx, TFS_REST_STATUS, "m"):
            pass
        with pytest.raises(ModelNotFound), request_path.counted(ctx, TFS_REST_STATUS, "nope"):
            raise ModelNotFound("nope")
        with pytest.raises(VersionNotFound), request_path.pinned(ctx, KSERVE_GRPC_READY, "m", 5):
            pass
        return ctx

    ctx = asyncio.run(go())
    assert ctx.metrics is not None
    v1, v2 = ctx.metrics.version(ServableId("m", 1)), ctx.metrics.version(ServableId("m", 2))
    assert v2.success[KSERVE_REST_METADATA.index] == 1
    assert v1.fail[KSERVE_REST_METADATA.index] == 1
    assert sum(v1.success) + sum(v2.success) == 1
    named = ctx.metrics.names()[0]
    assert named.success[TFS_REST_STATUS.index] == 1
    assert named.fail[KSERVE_GRPC_READY.index] == 1  # unversioned: counted on the name
    assert sum(named.fail) == 1


def test_nothing_counted_without_metrics() -> None:
    async def go() -> None:
        ctx = await context(metrics=False)
        out = await request_path.infer(ctx, KSERVE_REST_INFER, "m", None, decode_ok, encode)
        np.testing.assert_array_equal(out, X)
        with request_path.pinned(ctx, KSERVE_REST_METADATA, "m", 1) as servable:
            assert servable.version == 1
        with request_path.counted(ctx, TFS_REST_STATUS, "m"):
            pass

    asyncio.run(go())
