"""grpc.health.v1 statuses from the manager and the server state, and Watch's wake-ups."""

from __future__ import annotations

import asyncio

from grpc_health.v1 import health_pb2

from ovserve.api.health import NOT_SERVING, SERVICE_UNKNOWN, SERVING, HealthServicer

from .kserve.fakes import EchoServable, make_context, spec

SERVICE = "inference.GRPCInferenceService"


def _echo(name: str) -> EchoServable:
    return EchoServable(name, [spec("x", "FP32", 1)])


def test_statuses_follow_readiness_models_and_drain() -> None:
    async def scenario() -> list[tuple[int, ...]]:
        ctx = await make_context(_echo("m"), failing=["broken"], ready=False)
        health = HealthServicer(ctx, [SERVICE])
        names = ("", SERVICE, "m", "broken", "nope")
        seen = [tuple(health.status(n) for n in names)]
        ctx.state.ready = True
        seen.append(tuple(health.status(n) for n in names))
        ctx.state.drain()
        seen.append(tuple(health.status(n) for n in names))
        return seen

    before, ready, draining = asyncio.run(scenario())
    assert before == (NOT_SERVING, NOT_SERVING, SERVING, NOT_SERVING, SERVICE_UNKNOWN)
    assert ready == (SERVING, SERVING, SERVING, NOT_SERVING, SERVICE_UNKNOWN)
    assert draining == (NOT_SERVING, NOT_SERVING, NOT_SERVING, NOT_SERVING, SERVICE_UNKNOWN)


def test_watch_sends_changes_and_ends_on_drain() -> None:
    async def scenario() -> list[int]:
        ctx = await make_context(ready=False)
        health = HealthServicer(ctx, [SERVICE])
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), None)
        seen = [(await watch.__anext__()).status]
        ctx.state.ready = True
        seen.append((await watch.__anext__()).status)
        ctx.state.drain()
        seen.append((await watch.__anext__()).status)
        seen += [reply.status async for reply in watch]  # nothing more: the stream ends
        return seen

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == [NOT_SERVING, SERVING, NOT_SERVING]
