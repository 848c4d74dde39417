"""A closed HTTP connection takes its request out of the batching queue (RestApp → BatchingServable)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from ovserve.api.http import HttpRequest, HttpResponse, RestApp, Router
from ovserve.config.types import BatchingConfig
from ovserve.scheduling import BatchingServable

from .test_batching import RecordingServable, rows, until


class Connection:
    """An ASGI connection whose client sends a body, then may hang up."""

    def __init__(self) -> None:
        self.hang_up = asyncio.Event()
        self.sent: list[dict[str, Any]] = []
        self._body_sent = False

    async def receive(self) -> dict[str, Any]:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        await self.hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])


def scope(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""}


def app_over(batcher: BatchingServable, marks: list[str]) -> RestApp:
    async def infer(request: HttpRequest) -> HttpResponse:
        try:
            out = await batcher.infer(rows(float(request.params["v"])))
        except asyncio.CancelledError:
            marks.append("cancelled")
            raise
        return HttpResponse(200, out["y"].tobytes())

    async def reload(request: HttpRequest) -> HttpResponse:  # must not be cut short
        await batcher.infer(rows(float(request.params["v"])))
        marks.append("reload done")
        return HttpResponse(201)

    router = Router()
    router.add("POST", "/infer/{v}", infer, cancel_on_disconnect=True)
    router.add("POST", "/reload/{v}", reload)
    return RestApp(router, 1 << 20)


def test_closed_connection_removes_the_queued_request() -> None:
    async def go() -> None:
        inner = RecordingServable()
        batcher = BatchingServable(inner, BatchingConfig(4))
        marks: list[str] = []
        app = app_over(batcher, marks)
        inner.gate.clear()
        busy = Connection()
        busy_call = asyncio.create_task(app(scope("/infer/1000"), busy.receive, busy.send))
        await until(lambda: inner.started.is_set())
        leaving = Connection()
        leaving_call = asyncio.create_task(app(scope("/infer/7"), leaving.receive, leaving.send))
        await until(lambda: batcher.queue_length == 1)
        leaving.hang_up.set()
        await leaving_call  # the app returns normally
        assert marks == ["cancelled"]
        assert batcher.queue_length == 0
        assert leaving.status == 499
        inner.gate.set()
        await busy_call
        assert busy.status == 200
        assert np.frombuffer(busy.sent[1]["body"], np.float32)[0] == 2000
        assert inner.batches == [1]  # the departed request never ran

    asyncio.run(asyncio.wait_for(go(), 30))


def test_routes_without_the_flag_run_to_the_end() -> None:
    async def go() -> None:
        inner = RecordingServable()
        batcher = BatchingServable(inner, BatchingConfig(4))
        marks: list[str] = []
        app = app_over(batcher, marks)
        inner.gate.clear()
        conn = Connection()
        call = asyncio.create_task(app(scope("/reload/1"), conn.receive, conn.send))
        await until(lambda: inner.started.is_set())
        conn.hang_up.set()
        await asyncio.sleep(0.01)
        inner.gate.set()
        await call
        assert marks == ["reload done"] and conn.status == 201

    asyncio.run(asyncio.wait_for(go(), 30))


def test_answer_is_sent_when_the_client_stays() -> None:
    async def go() -> None:
        batcher = BatchingServable(RecordingServable(), BatchingConfig(4))
        app = app_over(batcher, [])
        conn = Connection()
        await app(scope("/infer/3"), conn.receive, conn.send)
        assert conn.status == 200
        np.testing.assert_array_equal(
            np.frombuffer(conn.sent[1]["body"], np.float32), rows(3)["x"].ravel() * 2
        )

    asyncio.run(asyncio.wait_for(go(), 30))
