"""ovserve's REST application layer alone: CPU per request without sockets, HTTP parsing or a load generator.

`make bench`'s interleaved phase compares whole servers; this isolates what ovserve's own ASGI
application adds to a KServe v2 REST JSON inference, the part the raw ASGI floor does not pay.
It builds the server's real app (``Server`` from ovserve's own flags, the models loaded as at
start-up, ``RestGuard`` → ``RestApp`` → the router) and the floor's app
(``bench/floors/asgi_app.py``) on the same model file and plugin config, and calls each with
the same request (a prebuilt ASGI scope and body) in turn, several rounds, on one event loop.
Reported: CPU µs per call of each (``time.process_time``, median and best of the rounds) and
their difference, then optionally a cProfile of ovserve's calls. ``--api tfs`` sends ovserve TF
Serving's predict instead (the floor stays on KServe).

    .venv/bin/python bench/app_cpu.py [--calls 20000] [--rounds 5] [--profile] [--api kserve|tfs]

Runs on the tiny model of bench/models.py (built under bench/work/models if missing). Pin it
(`taskset -c 1`) on a shared machine; CPU time, not wall time, is what it compares.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
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

PLUGIN = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def ovserve_app(base: Path, work: Path) -> Asgi:
    """The server's REST app as app.py builds it, with the tiny model loaded."""
    from ovserve.api.http import RestApp
    from ovserve.api.security import ServerSecurity
    from ovserve.app import Server, build_router
    from ovserve.cli import parse_args

    config_path = work / "app_cpu.json"
    entry = {"name": "tiny", "base_path": str(base), "plugin_config": PLUGIN}
    config_path.write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    config = parse_args(["--config_path", str(config_path), "--rest_port", "1", "--port", "0"], os.environ)
    server = Server(config)
    await server._build_models()
    await server.lifecycle.start()
    server.ctx.state.ready = True
    rest = RestApp(build_router(server.ctx), config.max_request_bytes)
    app: Asgi = ServerSecurity(config.security).rest_app(rest)
    return app


def floor_app(base: Path) -> Asgi:
    os.environ["BENCH_PLUGIN_CONFIG"] = json.dumps(PLUGIN)
    import asgi_app  # bench/floors/asgi_app.py
    from ovcall import Call

    app: Asgi = asgi_app.make_app("tiny", Call(str(base / models.TINY.xml)))
    return app


KSERVE_PATH = "/v2/models/tiny/infer"
TFS_PATH = "/v1/models/tiny:predict"


def request(
    body: bytes, path: str = KSERVE_PATH
) -> tuple[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]]]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:9001"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 9001),
    }
    return scope, _Receive({"type": "http.request", "body": body, "more_body": False}).__call__


class _Receive:
    """ASGI ``receive``: the body once, then a disconnect that never comes. (No closure that names
    itself: that is a reference cycle per call, garbage for the cyclic collector that a server's
    real ``receive`` does not make.)"""

    def __init__(self, message: dict[str, Any]) -> None:
        self.message: dict[str, Any] | None = message

    async def __call__(self) -> dict[str, Any]:
        message, self.message = self.message, None
        if message is not None:
            return message
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}


async def run_calls(app: Asgi, body: bytes, calls: int, path: str = KSERVE_PATH) -> float:
    """CPU µs per call of ``calls`` calls to ``path``, one at a time."""
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.process_time()
    for _ in range(calls):
        scope, receive = request(body, path)
        await app(dict(scope), receive, send)
        # one turn of the event loop per request, as under a server: what a request leaves to it
        # (uvloop closes a cancelled timer's handle there) is done, not piled up for the collector
        await asyncio.sleep(0)
    took = time.process_time() - start
    if any(s != 200 for s in statuses):
        raise RuntimeError(f"statuses other than 200: {sorted(set(statuses))}")
    return took / calls * 1e6


async def main_async(args: argparse.Namespace) -> None:
    work = (BENCH / "work").resolve()
    base = models.build(work)["tiny"]
    files = models.write_payloads(models.TINY, models.sample_input(models.TINY), work / "payloads")
    body = files["v2_json"].read_bytes()
    apps = {"ovserve": await ovserve_app(base, work), "floor": floor_app(base)}
    # what ovserve is sent: the KServe v2 JSON request, or TF Serving's predict (the floor: KServe)
    ours = (files["tfs_rest"].read_bytes(), TFS_PATH) if args.api == "tfs" else (body, KSERVE_PATH)
    sent = {"ovserve": ours, "floor": (body, KSERVE_PATH)}
    if args.gc == "freeze":
        gc.freeze()
    elif args.gc == "off":
        gc.disable()
    print(f"gc: {args.gc}; objects tracked: {len(gc.get_objects())}, frozen: {gc.get_freeze_count()}")
    for name, app in apps.items():
        await run_calls(app, sent[name][0], 500, sent[name][1])  # warm-up
    per: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, app in apps.items():
            per[name].append(await run_calls(app, sent[name][0], args.calls, sent[name][1]))
    med = {name: statistics.median(v) for name, v in per.items()}
    for name, values in per.items():
        print(f"{name}: {med[name]:.1f} µs CPU per call (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    print(
        f"ovserve - floor: {med['ovserve'] - med['floor']:.1f} µs; floor ÷ ovserve {med['floor'] / med['ovserve']:.2f}×"
    )
    best = {name: min(v) for name, v in per.items()}
    print(
        f"best round: ovserve {best['ovserve']:.1f} µs, floor {best['floor']:.1f} µs; "
        f"floor ÷ ovserve {best['floor'] / best['ovserve']:.2f}×"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await run_calls(apps["ovserve"], ours[0], args.calls, ours[1])
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--api", choices=("kserve", "tfs"), default="kserve", help="what ovserve is sent (the floor: KServe)"
    )
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--gc", choices=("on", "freeze", "off"), default="on", help="the collector's state")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
