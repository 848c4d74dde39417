"""The composition root: the one module that wires everything and owns start and stop.

Start-up order follows OVMS: the gRPC and REST ports are bound first (a port that
cannot be bound stops start-up), then models load; the server reports ready once the
initial load has ended, even when some models failed (their status says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn

from ovserve import __version__
from ovserve.api import config_rest
from ovserve.api.context import ServingContext
from ovserve.api.grpc_server import create_server
from ovserve.api.http import HttpRequest, HttpResponse, RestApp, Router
from ovserve.api.kserve import grpc as kserve_grpc
from ovserve.api.kserve import rest as kserve_rest
from ovserve.api.tfs import grpc as tfs_grpc
from ovserve.api.tfs import rest as tfs_rest
from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.servable import OpenVINOServable
from ovserve.cluster import PeerLink, WorkerSeat
from ovserve.cluster.control import ClusterControl, handlers
from ovserve.config.types import ServerConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import ServableManager
from ovserve.errors import StartupError
from ovserve.lifecycle import Lifecycle
from ovserve.metrics import CONTENT_TYPE, MetricsRegistry, render
from ovserve.metrics.merge import merge_expositions
from ovserve.repository.sources import RepositorySource
from ovserve.repository.storage import StorageSettings
from ovserve.scheduling import BatchingHooks, with_batching
from ovserve.scheduling.gates import ENV as TEST_GATES_ENV
from ovserve.scheduling.gates import GatedServable, with_test_gates
from ovserve.sockets import bind_rest_socket, url_host
from ovserve.threads import started_pool

log = logging.getLogger(__name__)


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling: the composition root owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_router(ctx: ServingContext, link: PeerLink | None = None) -> Router:
    router = Router()
    kserve_rest.add_routes(router, ctx)
    tfs_rest.add_routes(router, ctx)
    config_rest.add_routes(router, ctx)
    if ctx.metrics is not None:  # no route when disabled: /metrics is then an unknown URL (400)
        registry = ctx.metrics

        async def scrape(request: HttpRequest) -> HttpResponse:
            own = render(registry)
            if link is None:
                return HttpResponse(200, own, CONTENT_TYPE)
            peers = [reply.value for reply in await link.broadcast("metrics") if reply.ok]
            merged = merge_expositions([own.decode(), *peers])
            return HttpResponse(200, merged.encode(), CONTENT_TYPE)

        router.add("GET", "/metrics", scrape)
    return router


class Server:
    """One ovserve process: gRPC and REST front ends over one manager and one OpenVINO core.

    With a ``seat`` it is one worker of a multi-process server (:mod:`ovserve.cluster`):
    it accepts REST connections on the supervisor's socket, shares the gRPC port, and
    passes model control calls and metrics scrapes to its peers.
    """

    def __init__(self, config: ServerConfig, seat: WorkerSeat | None = None) -> None:
        self.config = config
        self.seat = seat
        self.link = PeerLink(seat.link_socket(), seat.index) if seat is not None else None
        self.manager = ServableManager()
        metrics = MetricsRegistry.from_config(config.metrics) if config.metrics.enable else None
        if metrics is not None:
            metrics.attach(self.manager)
        self.ctx = ServingContext(self.manager, "ovserve", __version__, metrics=metrics)
        self._stop = asyncio.Event()
        self._signals = 0

    async def run(self) -> int:
        config = self.config
        loop = asyncio.get_running_loop()
        # asyncio's default size, every thread started now: the thread count stays flat (docs/reliability.md)
        loop.set_default_executor(started_pool(min(32, (os.cpu_count() or 1) + 4), "ovserve-worker"))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

        link = self.link
        if link is not None:
            registry = self.ctx.metrics
            if registry is not None:
                link.handlers["metrics"] = lambda _: _render_text(registry)
            await link.start(on_lost=lambda: self._on_signal(signal.SIGTERM))

        grpc_server = create_server(
            config.max_request_bytes, config.grpc_channel_arguments, reuse_port=self.seat is not None
        )
        kserve_grpc.add_services(grpc_server, self.ctx)
        tfs_grpc.add_services(grpc_server, self.ctx)
        grpc_address = f"{url_host(config.grpc_bind_address)}:{config.port}"
        try:
            bound = grpc_server.add_insecure_port(grpc_address)
        except RuntimeError as exc:
            raise StartupError(f"port: cannot bind gRPC to {grpc_address}: {exc}") from exc
        if bound == 0:
            raise StartupError(f"port: cannot bind gRPC to {grpc_address}")

        rest: _UvicornServer | None = None
        rest_task: asyncio.Task[None] | None = None
        if config.rest_port:
            inherited = self.seat.rest_socket() if self.seat is not None else None
            sock = inherited or bind_rest_socket(config.rest_bind_address, config.rest_port)
            app = RestApp(build_router(self.ctx, link), config.max_request_bytes)
            rest = _UvicornServer(
                uvicorn.Config(
                    app,
                    http="httptools",
                    loop="none",
                    lifespan="off",
                    access_log=False,
                    log_level="warning",
                    timeout_keep_alive=60,
                    timeout_graceful_shutdown=config.shutdown_grace_seconds,
                    h11_max_incomplete_event_size=1024 * 1024,
                )
            )
            rest_task = asyncio.create_task(rest.serve(sockets=[sock]))

        await grpc_server.start()
        log.info("gRPC listening on %s", grpc_address)
        if config.rest_port:
            log.info("REST listening on %s:%d", config.rest_bind_address, config.rest_port)

        engine = await asyncio.to_thread(
            OpenVINOEngine,
            config.cache_dir,
            config.cpu_extension,
            config.inline_inference_us,
            shared_cores=self.seat is not None,
        )
        source = RepositorySource(
            with_batching(
                with_test_gates(  # test-only; off unless OVSERVE_TEST_GATES is set
                    lambda model, version, path: engine.loader(model, version, Path(path)),
                    os.environ.get(TEST_GATES_ENV),
                ),
                in_flight=_batches_in_flight,
                hooks=_batching_hooks(self.ctx.metrics),
            ),
            StorageSettings.from_env(os.environ),
        )
        lifecycle = Lifecycle(self.manager, source, config.models, config.config_path)
        if link is not None:
            control = ClusterControl(lifecycle, link)
            link.handlers.update(handlers(lifecycle))
            self.ctx.reload, self.ctx.control = control.reload, control
        else:
            self.ctx.reload = lambda: lifecycle.reload_config(force=False)
            self.ctx.control = lifecycle
        load = asyncio.create_task(lifecycle.start())
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({load, stop}, return_when=asyncio.FIRST_COMPLETED)
        poll: asyncio.Task[None] | None = None
        if load.done():
            load.result()
            self.ctx.state.ready = True
            log.info("server ready: %s", ", ".join(self.manager.names()) or "no models")
            if link is not None:
                link.ready()
            if config.file_system_poll_wait_seconds > 0:
                poll = asyncio.create_task(lifecycle.poll_forever(config.file_system_poll_wait_seconds))
            await stop
        else:
            load.cancel()
        if poll is not None:
            poll.cancel()

        log.info("shutting down: no new calls; calls in flight get %ds", config.shutdown_grace_seconds)
        self.ctx.state.ready = False
        if rest is not None:
            rest.should_exit = True
        await asyncio.gather(
            grpc_server.stop(config.shutdown_grace_seconds),
            *([rest_task] if rest_task is not None else []),
        )
        await self.manager.close()
        await asyncio.to_thread(source.close)
        if link is not None:
            await link.close()
        log.info("stopped")
        return 0

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second %s: exiting at once", sig.name)
            os._exit(1)
        log.info("%s received: draining", sig.name)
        self.ctx.state.ready = False
        self._stop.set()


def _batching_hooks(metrics: MetricsRegistry | None) -> Callable[[ServableId], BatchingHooks] | None:
    """Feed each batcher's queue length and batch sizes into its metrics series."""
    if metrics is None:
        return None

    def hooks(sid: ServableId) -> BatchingHooks:
        series = metrics.batcher(sid)
        return BatchingHooks(on_queue_length=series.set_queue_length, on_batch=series.observe_batch)

    return hooks


def _batches_in_flight(servable: object) -> int:
    """A batched model runs one batch per infer request of its pool at once."""
    if isinstance(servable, OpenVINOServable | GatedServable):
        return servable.nireq
    return 1


async def _render_text(registry: MetricsRegistry) -> str:
    return render(registry).decode()


def run(config: ServerConfig, seat: WorkerSeat | None = None) -> int:
    """Run the server (or one worker of it) until SIGTERM/SIGINT; returns the exit code."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(Server(config, seat).run())
    return uvloop.run(Server(config, seat).run())


__all__ = ["Server", "StartupError", "run"]
