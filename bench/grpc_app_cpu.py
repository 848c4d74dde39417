"""ovserve's gRPC application layer alone: CPU per ModelInfer without sockets or grpc's core.

What grpc.aio's server does per unary call in Python around the application, done here the same
way for both servers: find the method handler through the interceptors (``intercept_service``
of each, then the generic handlers' ``service``), deserialize the request bytes with the
handler's deserializer, await its behaviour, serialize the reply. For ovserve that is the
server's real gRPC server (``create_server`` with the interceptors app.py installs, the
KServe, TF Serving, health and reflection services added), the tiny model loaded as at
start-up; for the floor, ``bench/floors/grpc_handler.py``'s generic handler. Each is called with
the same request bytes in turn, several rounds, on one event loop. Reported: CPU µs per call of
each (``time.process_time``, the best and the median of the rounds) and their difference, then optionally a
cProfile of ovserve's calls.

    .venv/bin/python bench/grpc_app_cpu.py [--calls 3000] [--rounds 15] [--profile] [--thrash MiB]

``--thrash 4`` touches 4 MiB of other data between two calls, so that each call finds the caches
as cold as in a server (where grpc's threads, the kernel and other processes run between two
requests); the thrash's own CPU, measured alone, is subtracted.

Pin it (`taskset -c 1`) on a shared machine; CPU time, not wall time, is what it compares.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "floors"))

import models  # noqa: E402
import numpy as np  # noqa: E402

PLUGIN = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
METHOD = "/inference.GRPCInferenceService/ModelInfer"
#: one call: request bytes -> reply bytes
Call = Callable[[bytes], Awaitable[bytes]]


class Details:
    """grpc.HandlerCallDetails as grpc.aio makes it."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata: tuple[tuple[str, str], ...] = (("user-agent", "h2load"),)


class Context:
    """The few ServicerContext methods a successful call may use."""

    async def send_initial_metadata(self, metadata: Any) -> None:
        return None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("user-agent", "h2load"),)

    async def abort(self, code: Any, details: str = "") -> None:
        raise RuntimeError(f"aborted: {code} {details}")


class Recorder:
    """Stands for grpc.aio.Server where the services are added: keeps their generic handlers."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []
        self.registered: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.handlers.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        self.registered.update({f"/{service}/{method}": handler for method, handler in handlers.items()})


def caller(
    handlers: list[Any], interceptors: tuple[Any, ...], registered: dict[str, Any] | None = None
) -> Call:
    """What grpc.aio's server does in Python for one unary call, around the application: the
    registered handlers first, then the generic ones."""
    registered = registered or {}

    def query(details: Details) -> Any:
        found = registered.get(details.method)
        if found is not None:
            return found
        for generic in handlers:
            found = generic.service(details)
            if found is not None:
                return found
        return None

    async def run(chain: Any, details: Details) -> Any:
        interceptor = next(chain, None)
        if interceptor is None:
            return query(details)
        return await interceptor.intercept_service(lambda d: run(chain, d), details)

    async def call(raw: bytes) -> bytes:
        handler = await run(iter(interceptors), Details(METHOD))
        parse = handler.request_deserializer
        request = parse(raw) if parse is not None else raw
        reply = await handler.unary_unary(request, Context())
        serialize = handler.response_serializer
        return serialize(reply) if serialize is not None else reply

    return call


async def ovserve_call(base: Path, work: Path) -> Call:
    """The server's gRPC server as app.py builds it, with the tiny model loaded."""
    from ovserve.app import Server
    from ovserve.cli import parse_args

    config_path = work / "grpc_app_cpu.json"
    entry = {"name": "tiny", "base_path": str(base), "plugin_config": PLUGIN}
    config_path.write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    config = parse_args(["--config_path", str(config_path), "--port", "1"], os.environ)
    server = Server(config)
    await server._build_models()
    await server.lifecycle.start()
    server.ctx.state.ready = True
    from ovserve.api import grpc_probes, grpc_server
    from ovserve.api.kserve import grpc as kserve_grpc
    from ovserve.api.security import ServerSecurity
    from ovserve.api.tfs import grpc as tfs_grpc

    recorder = Recorder()
    interceptors = ServerSecurity(config.security).grpc_interceptors()
    if hasattr(grpc_server, "guard_registrations"):  # this tree: methods guarded when added
        grpc_server.guard_registrations(recorder)
    else:  # before: an interceptor per call
        interceptors.append(grpc_server.ErrorInterceptor())
    for add in (kserve_grpc.add_services, tfs_grpc.add_services, grpc_probes.add_services):
        add(recorder, server.ctx)
    return caller(recorder.handlers, tuple(interceptors), recorder.registered)


def floor_call(base: Path) -> Call:
    os.environ["BENCH_PLUGIN_CONFIG"] = json.dumps(PLUGIN)
    import grpc_handler  # bench/floors/grpc_handler.py
    from ovcall import Call as OvCall

    return caller([grpc_handler.make_handler("tiny", OvCall(str(base / models.TINY.xml)))], ())


class Thrash:
    """Between two calls, touches ``mb`` MiB of other data (a numpy buffer and a list of small
    dicts): the caches are as cold for the next call as in a server, where grpc's threads, the
    kernel and other processes run between two requests. Its own CPU is measured alone and
    subtracted."""

    def __init__(self, mb: int) -> None:
        self.buffer = np.zeros(mb * 1024 * 1024 // 8)
        self.objects = [{"a": i, "b": str(i)} for i in range(mb * 5000)]

    def __call__(self) -> None:
        np.add(self.buffer, 1.0, out=self.buffer)
        for item in self.objects[::7]:
            item["a"] += 1


async def run_calls(call: Call | None, raw: bytes, calls: int, thrash: Thrash | None = None) -> float:
    """CPU µs per call of ``calls`` calls, one at a time (None: the thrash alone)."""
    reply = b"-" * 40
    start = time.process_time()
    for _ in range(calls):
        if thrash is not None:
            thrash()
        if call is not None:
            reply = await call(raw)
    took = time.process_time() - start
    if len(reply) < 40:
        raise RuntimeError(f"a short reply: {reply!r}")
    return took / calls * 1e6


async def main_async(args: argparse.Namespace) -> None:
    work = (BENCH / "work").resolve()
    base = models.build(work)["tiny"]
    files = models.write_payloads(models.TINY, models.sample_input(models.TINY), work / "payloads")
    raw = files["v2_grpc"].read_bytes()[5:]  # the gRPC frame's 5-byte prefix off
    calls = {"ovserve": await ovserve_call(base, work), "floor": floor_call(base)}
    thrash = Thrash(args.thrash) if args.thrash else None
    for call in calls.values():
        await run_calls(call, raw, 500)  # warm-up
    per: dict[str, list[float]] = {name: [] for name in calls}
    alone: list[float] = []
    for _ in range(args.rounds):
        if thrash is not None:
            alone.append(await run_calls(None, raw, args.calls, thrash))
        for name, call in calls.items():
            per[name].append(await run_calls(call, raw, args.calls, thrash))
    if alone:
        print(f"the thrash alone ({args.thrash} MiB): best {min(alone):.1f} µs per call, subtracted below")
        per = {name: [v - min(alone) for v in values] for name, values in per.items()}
    best = {name: min(v) for name, v in per.items()}
    for name, values in per.items():
        print(
            f"{name}: best {best[name]:.1f}, median {statistics.median(values):.1f} µs CPU per call "
            f"(rounds: {', '.join(f'{v:.1f}' for v in values)})"
        )
    print(
        f"ovserve - floor (best of the rounds): {best['ovserve'] - best['floor']:.1f} µs; "
        f"floor ÷ ovserve {best['floor'] / best['ovserve']:.2f}×"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await run_calls(calls["ovserve"], raw, args.calls)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--thrash", type=int, default=0, help="MiB of other data touched between calls")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
