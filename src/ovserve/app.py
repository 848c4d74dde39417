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
from typing import Any

import grpc
import uvicorn

from ovserve import __version__
from ovserve.api import backend_timing, config_rest, grpc_probes, openapi
from ovserve.api import openai as openai_rest
from ovserve.api.context import ServingContext
from ovserve.api.grpc_server import create_server
from ovserve.api.http import HttpRequest, HttpResponse, RestApp, Router
from ovserve.api.http_guard import guarded_protocol
from ovserve.api.kserve import grpc as kserve_grpc
from ovserve.api.kserve import rest as kserve_rest
from ovserve.api.request_ids import CallContextInterceptor
from ovserve.api.security import ServerSecurity
from ovserve.api.tfs import grpc as tfs_grpc
from ovserve.api.tfs import rest as tfs_rest
from ovserve.backends.genai import generative_loader
from ovserve.backends.openvino import OpenVINOEngine
from ovserve.backends.openvino.servable import OpenVINOServable
from ovserve.cluster import PeerLink, WorkerSeat
from ovserve.cluster.control import ClusterControl, handlers
from ovserve.config.types import ServerConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import ServableManager
from ovserve.errors import StartupError
from ovserve.genai.source import GenerativeSource
from ovserve.lifecycle import Lifecycle
from ovserve.logs import request_id_maker
from ovserve.metrics import CONTENT_TYPE, MetricsRegistry, render
from ovserve.metrics.merge import merge_expositions
from ovserve.repository.sources import RepositorySource
from ovserve.scheduling import BatchingHooks, with_batching
from ovserve.scheduling.sequences import SequenceCleaner
from ovserve.scheduling.stateful import with_stateful
from ovserve.sockets import bind_rest_socket, url_host

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
    openai_rest.add_routes(router, ctx, tfs_status=tfs_rest.TfsRestApi(ctx).status)
    config_rest.add_routes(router, ctx)
    openapi.add_routes(router, ctx.server_version)
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
        backend_timing.attach(self.manager)  # after the metrics registry: its backend hook is kept
        self.ctx = ServingContext(self.manager, "ovserve", __version__, metrics=metrics)
        self._stop = asyncio.Event()
        self._signals = 0

    async def run(self) -> int:
        config = self.config
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

        link = self.link
        if link is not None:
            registry = self.ctx.metrics
            if registry is not None:
                link.handlers["metrics"] = lambda _: _render_text(registry)
            await link.start(on_lost=lambda: self._on_signal(signal.SIGTERM))

        security = ServerSecurity(config.security)
        make_request_id = request_id_maker() if config.log_format == "json" else None  # ids for JSON logs
        provider = self._start_tracing()
        trace = provider is not None
        grpc_server = (  # --port 0: no gRPC server
            self._grpc_server(security, make_request_id, trace) if config.port else None
        )

        rest: _UvicornServer | None = None
        rest_task: asyncio.Task[None] | None = None
        if config.rest_port:
            inherited = self.seat.rest_socket() if self.seat is not None else None
            sock = inherited or bind_rest_socket(config.rest_bind_address, config.rest_port)
            app = security.rest_app(
                RestApp(build_router(self.ctx, link), config.max_request_bytes, make_request_id, trace)
            )
            rest = _UvicornServer(
                uvicorn.Config(
                    app,
                    http=guarded_protocol(config.rest_read_timeout_seconds),
                    loop="none",
                    lifespan="off",
                    access_log=False,
                    log_level="warning",
                    timeout_keep_alive=60,
                    timeout_graceful_shutdown=config.shutdown_grace_seconds,
                    h11_max_incomplete_event_size=1024 * 1024,
                    ssl_context_factory=security.rest_ssl_factory(),
                )
            )
            rest_task = asyncio.create_task(rest.serve(sockets=[sock]))

        if grpc_server is not None:
            await grpc_server.start()
            log.info(
                "gRPC listening on %s:%d%s",
                config.grpc_bind_address,
                config.port,
                " (TLS)" if security.tls is not None else "",
            )
        if config.rest_port:
            log.info(
                "REST listening on %s://%s:%d", security.scheme, config.rest_bind_address, config.rest_port
            )

        engine = await asyncio.to_thread(
            OpenVINOEngine,
            config.cache_dir,
            config.cpu_extension,
            config.inline_inference_us,
            shared_cores=self.seat is not None,
        )
        cleaner = SequenceCleaner()
        source = GenerativeSource(
            RepositorySource(
                with_stateful(
                    with_batching(
                        lambda model, version, path: engine.loader(model, version, Path(path)),
                        in_flight=_batches_in_flight,
                        hooks=_batching_hooks(self.ctx.metrics),
                    ),
                    cleaner,
                    single_process=self.seat is None,
                ),
                config.storage,
            ),
            generative_loader,
        )
        lifecycle = Lifecycle(self.manager, source, config.models, config.config_path, config.monitoring)
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
            cleaning = _start_sequence_cleaner(cleaner, config)
            await stop
            if cleaning is not None:
                cleaning.cancel()
        else:
            load.cancel()
        if poll is not None:
            poll.cancel()

        log.info("shutting down: no new calls; calls in flight get %ds", config.shutdown_grace_seconds)
        self.ctx.state.drain()
        if rest is not None:
            rest.should_exit = True
        await asyncio.gather(
            *([grpc_server.stop(config.shutdown_grace_seconds)] if grpc_server is not None else []),
            *([rest_task] if rest_task is not None else []),
        )
        await self.manager.close()
        await asyncio.to_thread(source.close)
        if provider is not None:
            await asyncio.to_thread(provider.shutdown)  # flushes the spans not exported yet
        if link is not None:
            await link.close()
        log.info("stopped")
        return 0

    def _start_tracing(self) -> Any:
        """With --tracing_enable: the OpenTelemetry provider (imported only then), spans on in ctx."""
        if not self.config.tracing.enable:
            return None
        from ovserve import telemetry
        from ovserve.api import tracing

        provider = telemetry.tracer_provider(self.config.tracing, self.seat.index if self.seat else None)
        self.ctx.tracer = tracing.RequestTracer(provider.get_tracer("ovserve"))
        return provider

    def _grpc_server(
        self, security: ServerSecurity, make_request_id: Callable[[], str] | None, trace: bool
    ) -> grpc.aio.Server:
        """The gRPC server with both protocols' services, health and reflection, bound to --port
        (not started)."""
        config = self.config
        server = create_server(
            config.max_request_bytes,
            config.grpc_channel_arguments,
            reuse_port=self.seat is not None,
            first_interceptors=security.grpc_interceptors(),
            interceptors=[CallContextInterceptor(make_request_id, trace)] if make_request_id or trace else [],
        )
        kserve_grpc.add_services(server, self.ctx)
        tfs_grpc.add_services(server, self.ctx)
        grpc_probes.add_services(server, self.ctx)  # grpc.health.v1 and reflection
        address = f"{url_host(config.grpc_bind_address)}:{config.port}"
        try:
            bound = security.add_grpc_port(server, address)
        except RuntimeError as exc:
            raise StartupError(f"port: cannot bind gRPC to {address}: {exc}") from exc
        if bound == 0:
            raise StartupError(f"port: cannot bind gRPC to {address}")
        return server

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second %s: exiting at once", sig.name)
            os._exit(1)
        log.info("%s received: draining", sig.name)
        self.ctx.state.drain()
        self._stop.set()


def _start_sequence_cleaner(cleaner: SequenceCleaner, config: ServerConfig) -> asyncio.Task[None] | None:
    """The idle-sequence scans of stateful models, every --sequence_cleaner_poll_wait_minutes (or
    --sequence_cleaner_poll_wait_seconds); None when the interval is 0 (off)."""
    interval = config.sequence_cleaner_interval_seconds
    return asyncio.create_task(cleaner.run_forever(interval)) if interval > 0 else None


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
    return servable.nireq if isinstance(servable, OpenVINOServable) else 1


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
