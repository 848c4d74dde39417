"""Every status API tells the same story at every step of a version's life.

One model is walked through LOADING (its loader held on a gate), AVAILABLE, UNLOADING
(a request holds it), END, a failed load and a good load again; at each step TF Serving
status (REST and gRPC), /v1/config, KServe readiness and metadata (REST and gRPC) and the
repository index (REST and gRPC) are read and must agree.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from ovserve._generated.kserve import grpc_predict_v2_pb2 as pb
from ovserve._generated.tensorflow_serving.apis import get_model_status_pb2
from ovserve.api import config_rest
from ovserve.api.context import ServerState, ServingContext
from ovserve.api.http import RestApp, Router
from ovserve.api.kserve import rest as kserve_rest
from ovserve.api.kserve.grpc import KServeServicer
from ovserve.api.tfs import rest as tfs_rest
from ovserve.api.tfs.grpc import ModelServicer
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
from ovserve.core.servable import Servable
from ovserve.core.states import State
from ovserve.errors import LoadError, ServingError

from .fakes import FakeControl, Reply, echo


class GatedLoader:
    """Loads only once ``gate`` is set; fails with ``fail`` when that is set."""

    def __init__(self, servable: Servable) -> None:
        self.servable = servable
        self.gate = threading.Event()
        self.fail: str | None = None

    def load(self) -> Servable:
        if not self.gate.wait(10):
            raise TimeoutError("the test never opened the gate")
        if self.fail is not None:
            raise LoadError(self.fail)
        return self.servable


@dataclass(frozen=True)
class Snapshot:
    tfs_rest: tuple[str, str, str]  # state, error_code, error_message
    tfs_grpc: tuple[str, str, str]
    config: tuple[str, str, str]
    kserve_rest_ready: int
    kserve_grpc_ready: bool
    kserve_rest_versions: list[str] | None  # None: metadata answered an error
    kserve_grpc_versions: list[str] | None
    index_rest: tuple[str, str]  # state, reason
    index_grpc: tuple[str, str]


async def rest(app: RestApp, method: str, path: str, body: bytes = b"") -> Reply:
    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return Reply(sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:]))


async def snapshot(ctx: ServingContext, app: RestApp) -> Snapshot:
    kserve = KServeServicer(ctx)
    tfs = ModelServicer(ctx)

    status = (await rest(app, "GET", "/v1/models/m")).json()["model_version_status"][0]
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "m"
    proto = (await tfs.GetModelStatus(request, None)).model_version_status[0]
    config = (await rest(app, "GET", "/v1/config")).json()["m"]["model_version_status"][0]

    metadata = await rest(app, "GET", "/v2/models/m")
    try:
        grpc_versions: list[str] | None = list(
            (await kserve.ModelMetadata(pb.ModelMetadataRequest(name="m"), None)).versions
        )
    except ServingError:
        grpc_versions = None
    index_rest = (await rest(app, "POST", "/v2/repository/index")).json()[0]
    index_grpc = (await kserve.RepositoryIndex(pb.RepositoryIndexRequest(), None)).models[0]
    return Snapshot(
        tfs_rest=(status["state"], status["status"]["error_code"], status["status"]["error_message"]),
        tfs_grpc=(
            State(proto.state).name,
            {0: "OK", 2: "UNKNOWN"}[proto.status.error_code],
            proto.status.error_message,
        ),
        config=(config["state"], config["status"]["error_code"], config["status"]["error_message"]),
        kserve_rest_ready=(await rest(app, "GET", "/v2/models/m/ready")).status,
        kserve_grpc_ready=(await kserve.ModelReady(pb.ModelReadyRequest(name="m"), None)).ready,
        kserve_rest_versions=metadata.json()["versions"] if metadata.status == 200 else None,
        kserve_grpc_versions=grpc_versions,
        index_rest=(index_rest["state"], index_rest["reason"]),
        index_grpc=(index_grpc.state, index_grpc.reason),
    )


def expected(state: str, error: str = "", triton: tuple[str, str] | None = None) -> Snapshot:
    status = (state, "UNKNOWN", error) if error else (state, "OK", "OK")
    ready = state == "AVAILABLE"
    index = (
        triton
        or {
            "LOADING": ("LOADING", ""),
            "AVAILABLE": ("READY", ""),
            "UNLOADING": ("UNLOADING", ""),
            "END": ("UNAVAILABLE", "unloaded"),
        }[state]
    )
    return Snapshot(
        tfs_rest=status,
        tfs_grpc=status,
        config=status,
        kserve_rest_ready=200 if ready else 404,
        kserve_grpc_ready=ready,
        kserve_rest_versions=["1"] if ready else None,
        kserve_grpc_versions=["1"] if ready else None,
        index_rest=index,
        index_grpc=index,
    )


async def settle(ctx: ServingContext, state: State) -> None:
    for _ in range(1000):
        statuses = ctx.manager.status("m") if "m" in ctx.manager.names() else []
        if statuses and statuses[0].state == state:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"m never reached {state.name}")


def test_every_api_agrees_through_the_whole_lifecycle() -> None:
    async def go() -> None:
        manager = ServableManager()
        loader = GatedLoader(echo("FP32", 1, 3, name="m"))
        control = FakeControl(manager, {"m": AspiredStream((AspiredVersion(1, loader),))})
        control.unloaded.add("m")
        ctx = ServingContext(manager, state=ServerState(ready=True))
        ctx.control = control
        router = Router()
        kserve_rest.add_routes(router, ctx)
        tfs_rest.add_routes(router, ctx)
        config_rest.add_routes(router, ctx)
        app = RestApp(router, max_body=1 << 20)
        seen: list[Snapshot] = []

        async def check(want: Snapshot) -> None:
            got = await snapshot(ctx, app)
            assert got == want
            seen.append(got)

        load = asyncio.create_task(control.load_model("m"))
        await settle(ctx, State.LOADING)
        await check(expected("LOADING"))
        loader.gate.set()
        await load
        await check(expected("AVAILABLE"))

        with manager.acquire("m"):  # a request in flight keeps the version in UNLOADING
            unload = asyncio.create_task(control.unload_model("m"))
            await settle(ctx, State.UNLOADING)
            await check(expected("UNLOADING"))
        await unload
        await check(expected("END"))

        loader.fail = "File not found or cannot open: model.xml"
        await control.load_model("m")
        await check(expected("LOADING", loader.fail, ("UNAVAILABLE", loader.fail)))
        loader.fail = None
        await control.load_model("m")
        await check(expected("AVAILABLE"))
        assert [s.tfs_rest[0] for s in seen] == [
            "LOADING",
            "AVAILABLE",
            "UNLOADING",
            "END",
            "LOADING",
            "AVAILABLE",
        ]

    asyncio.run(go())
