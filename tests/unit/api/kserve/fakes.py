"""Small fakes for the KServe front-end unit tests: echo servables, a context, an in-process ASGI call."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
from fakes import StaticLoader, spec

from ovserve.api.context import ServerState, ServingContext
from ovserve.api.http import RestApp, Router
from ovserve.api.kserve.rest import add_routes
from ovserve.core.ids import ServableId
from ovserve.core.manager import AspiredStream, AspiredVersion, ServableManager
from ovserve.core.servable import Servable
from ovserve.errors import LoadError, ModelNotFound
from ovserve.tensors import BF16_DTYPE, KSERVE_TO_NUMPY, TensorSpec, bf16_from_float

DATATYPES = tuple(KSERVE_TO_NUMPY)


class EchoServable(Servable):
    """Returns the i-th input as the i-th output (default outputs: ``<input>_out``)."""

    def __init__(
        self,
        name: str,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec] | None = None,
        version: int = 1,
    ) -> None:
        if outputs is None:
            outputs = [TensorSpec(f"{s.name}_out", s.dtype, s.dims) for s in inputs]
        super().__init__(ServableId(name, version), inputs, outputs)
        self.calls = 0

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        return {out: inputs[inp] for inp, out in zip(self.inputs, self.outputs, strict=True)}


def FixedLoader(servable: Servable) -> StaticLoader:
    return StaticLoader(servable)


def FailingLoader() -> StaticLoader:
    """A loader with a bug: the manager reports ``RuntimeError: the model file is broken``."""
    return StaticLoader(None, RuntimeError("the model file is broken"))


def echo(datatype: str, *dims: int, name: str | None = None) -> EchoServable:
    """An echo model ``echo_<datatype>`` with one input ``in`` and one output ``out``."""
    return EchoServable(
        name or f"echo_{datatype.lower()}", [spec("in", datatype, *dims)], [spec("out", datatype, *dims)]
    )


def multi() -> EchoServable:
    """Two inputs (``a`` FP32 [1,3], ``b`` INT32 [1,3]) echoed as ``a_out`` and ``b_out``."""
    return EchoServable("multi", [spec("a", "FP32", 1, 3), spec("b", "INT32", 1, 3)])


async def make_context(
    *servables: Servable, failing: Sequence[str] = (), ready: bool = True
) -> ServingContext:
    """A manager serving ``servables`` (several versions per name allowed) and ``failing`` names."""
    manager = ServableManager()
    streams: dict[str, list[AspiredVersion]] = {}
    for servable in servables:
        streams.setdefault(servable.name, []).append(AspiredVersion(servable.version, FixedLoader(servable)))
    for name in failing:
        streams[name] = [AspiredVersion(1, FailingLoader())]
    await manager.apply({name: AspiredStream(tuple(versions)) for name, versions in streams.items()})
    return ServingContext(
        manager, server_name="ovserve", server_version="test", state=ServerState(ready=ready)
    )


class Reply:
    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        length = self.headers.get(b"inference-header-content-length")
        return orjson.loads(self.body[: int(length)] if length is not None else self.body)

    @property
    def binary(self) -> bytes:
        length = self.headers.get(b"inference-header-content-length")
        return self.body[int(length) :] if length is not None else b""

    @property
    def error(self) -> str:
        message: str = orjson.loads(self.body)["error"]
        return message


async def call_rest(
    ctx: ServingContext, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> Reply:
    """One request through the real router and ASGI app, without a socket."""
    router = Router()
    add_routes(router, ctx)
    app = RestApp(router, max_body=1 << 30)
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "method": method, "path": path, "headers": raw_headers, "query_string": b""}
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return Reply(start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:]))


def binary_body(header: Mapping[str, Any], *buffers: bytes) -> tuple[bytes, dict[str, str]]:
    """A body of the binary extension and its headers."""
    head = orjson.dumps(header)
    return head + b"".join(buffers), {"Inference-Header-Content-Length": str(len(head))}


def length_prefixed(items: Sequence[bytes]) -> bytes:
    return b"".join(len(item).to_bytes(4, "little") + item for item in items)


def sample(datatype: str, shape: Sequence[int] = (2, 3), seed: int = 0) -> np.ndarray:
    """Values of ``datatype`` that exercise the edges (min/max for integers, non-UTF-8 for none)."""
    count = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    if datatype == "BYTES":
        pool = [b"hello", b"", "z\u00fcrich \u2713".encode(), b"a b", b'{"json": 1}', b"x" * 40]
        out = np.empty(count, dtype=object)
        out[:] = [pool[i % len(pool)] for i in range(count)]
        return out.reshape(shape)
    dtype = KSERVE_TO_NUMPY[datatype]
    if dtype == BF16_DTYPE:
        return bf16_from_float(rng.standard_normal(count) * 100).reshape(shape)
    if dtype == np.bool_:
        return (np.arange(count) % 2 == 0).reshape(shape)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=count, dtype=dtype, endpoint=True)
        values[0], values[-1] = info.min, info.max
        return values.reshape(shape)
    return (rng.standard_normal(count) * 100).astype(dtype).reshape(shape)


def rest(
    servables: Sequence[Servable],
    method: str,
    path: str,
    body: Any = b"",
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Reply:
    """Build a context serving ``servables``, make one REST call; ``body`` may be a JSON-able object."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)

    async def go() -> Reply:
        ctx = await make_context(*servables, **context)
        return await call_rest(ctx, method, path, raw, headers)

    return asyncio.run(go())


class FakeControl:
    """``ModelControl`` over a real manager: each configured name has the stream a source would give.

    ``load_model`` / ``unload_model`` apply the configured streams minus the unloaded names,
    as ``ovserve.lifecycle.Lifecycle`` does after rescanning; ``replace_models`` records its call.
    """

    def __init__(self, manager: ServableManager, streams: Mapping[str, AspiredStream]) -> None:
        self.manager = manager
        self.streams = dict(streams)
        self.unloaded: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def model_names(self) -> list[str]:
        return sorted(self.streams)

    async def load_model(self, name: str) -> bool:
        self._known(name)
        self.calls.append(("load", name))
        self.unloaded.discard(name)
        return await self._sync()

    async def unload_model(self, name: str) -> bool:
        self._known(name)
        self.calls.append(("unload", name))
        self.unloaded.add(name)
        return await self._sync()

    async def replace_models(self, models: tuple[Any, ...]) -> bool:
        raise AssertionError("not used by the KServe front end")

    def _known(self, name: str) -> None:
        if name not in self.streams:
            raise ModelNotFound(name)

    async def _sync(self) -> bool:
        self.manager.declare(self.streams)
        wanted = {n: s for n, s in self.streams.items() if n not in self.unloaded}
        return await self.manager.apply(wanted)


async def control_context(
    servables: Sequence[Servable] = (),
    failing: Sequence[str] = (),
    missing: Sequence[str] = (),
    declared: Sequence[str] = (),
) -> tuple[ServingContext, FakeControl]:
    """A context with model control: ``servables`` load, ``failing`` names fail to load,
    ``missing`` names have an unreadable repository, ``declared`` ones are configured but
    not yet known to the manager."""
    streams: dict[str, list[AspiredVersion]] = {}
    for servable in servables:
        streams.setdefault(servable.name, []).append(AspiredVersion(servable.version, FixedLoader(servable)))
    aspired = {name: AspiredStream(tuple(versions)) for name, versions in streams.items()}
    for name in failing:
        aspired[name] = AspiredStream((AspiredVersion(1, FailingLoader()),))
    for name in missing:
        aspired[name] = AspiredStream(
            (), LoadError(f"The provided base path is invalid or doesn't exists: /{name}")
        )
    manager = ServableManager()
    control = FakeControl(manager, aspired)
    await control._sync()
    for name in declared:
        control.streams[name] = AspiredStream(())
    ctx = ServingContext(manager, server_name="ovserve", server_version="test", state=ServerState(ready=True))
    ctx.control = control
    return ctx, control
