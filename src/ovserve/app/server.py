"""The composition root's server: wires everything (servable sources and wrappers: :mod:`.sources`)
and owns start and stop.

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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import uvicorn

from ovserve import __version__
from ovserve.api import backend_timing, config_rest, grpc_probes, openapi
from ovserve.api import openai as openai_rest
from ovserve.api.context import GatedControl, ModelControl, ServingContext
from ovserve.api.grpc_server import create_server
from ovserve.api.http import HttpRequest, HttpResponse, RestApp, Router
from ovserve.api.http_guard import guarded_protocol
from ovserve.api.kserve import grpc as kserve_grpc
from ovserve.api.kserve import rest as kserve_rest
from ovserve.api.request_ids import CallContextInterceptor
from ovserve.api.security import ServerSecurity
from ovserve.api.tfs import grpc as tfs_grpc
from ovserve.api.tfs import rest as tfs_rest
from ovserve.app.sources import model_source, pipeline_source
from ovserve.backends.openvino import OpenVINOEngine
from ovserve.cluster import PeerLink, WorkerSeat
from ovserve.cluster.control import ClusterControl, handlers
from ovserve.config.types import ModelConfig, ServerConfig
from ovserve.core.manager import Loader, ReloadOutcome, ServableManager
from ovserve.errors import StartupError
from ovserve.lifecycle import Lifecycle
from ovserve.logs import request_id_maker
from ovserve.metrics import CONTENT_TYPE, MetricsRegistry, render
from ovserve.metrics.merge import merge_expositions
from ovserve.pipelines.mediapipe.python import python_node
from ovserve.pipelines.mediapipe.source import GraphSource
from ovserve.scheduling.gates import ENV as TEST_GATES_ENV
from ovserve.scheduling.gates import with_test_gates
from ovserve.scheduling.sequences import SequenceCleaner
from ovserve.sockets import bind_rest_socket, url_host
from ovserve.threads import started_pool

if TYPE_CHECKING:  # OpenTelemetry is imported only when tracing is on
    from ovserve.api.tracing import RequestTracer

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


@dataclass
class _FrontEnds:
    """The bound servers: gRPC (None with --port 0), REST (None with --rest_port 0) and its task."""

    grpc: grpc.aio.Server | None
    rest: _UvicornServer | None
    rest_task: asyncio.Task[None] | None


class Server:
    """One ovserve process: gRPC and REST front ends over one manager and one OpenVINO core.

    With a ``seat`` it is one worker of a multi-process server (:mod:`ovserve.cluster`):
    it accepts REST connections on the supervisor's socket, shares the gRPC port, and
    passes model control calls and metrics scrapes to its peers.

    The constructor wires everything that costs nothing (manager, metrics, model source,
    lifecycle, the front ends' :class:`ServingContext`, built whole); :meth:`run` then goes
    through the start-up steps in OVMS's order: bind the ports, build the models (the
    OpenVINO core, then the initial load), serve until a signal, drain.
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
        self._engine: OpenVINOEngine | None = None  # built by run(), after the ports are bound
        self.cleaner = SequenceCleaner()
        gates = os.environ.get(TEST_GATES_ENV)  # test-only; off unless set
        load = with_test_gates(self._load, gates)
        self.source = GraphSource(
            model_source(load, self.cleaner, config, metrics, single_process=seat is None, test_gates=gates),
            self.manager.acquire,
            python_node,
            metrics,
        )
        self.lifecycle = Lifecycle(
            self.manager,
            self.source,
            config.models,
            config.config_path,
            config.monitoring,
            pipelines=pipeline_source(self.manager) if config.config_path else None,
        )
        self._built = asyncio.Event()  # set once the OpenVINO core exists: model control may run
        control = GatedControl(*self._model_control(), self._built)
        self._tracing, tracer = self._start_tracing()
        self.ctx = ServingContext(
            self.manager,
            "ovserve",
            __version__,
            reload=control.reload,
            control=control,
            metrics=metrics,
            tracer=tracer,
        )
        self._stop = asyncio.Event()
        self._signals = 0

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # asyncio's default size, every thread started now: the thread count stays flat (docs/reliability.md)
        loop.set_default_executor(started_pool(min(32, (os.cpu_count() or 1) + 4), "ovserve-worker"))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        await self._join_peers()
        front_ends = await self._bind()
        await self._build_models()
        await self._serve()
        await self._drain(front_ends)
        return 0

    def _model_control(self) -> tuple[ModelControl, Callable[[], Awaitable[ReloadOutcome]]]:
        """Model control and config reload: this process's lifecycle, or with peers, all of theirs."""
        lifecycle = self.lifecycle
        if self.link is None:
            return lifecycle, lambda: lifecycle.reload_config(force=False)
        control = ClusterControl(lifecycle, self.link)
        return control, control.reload

    async def _join_peers(self) -> None:
        """A worker answers its peers' metrics scrapes and stops when the supervisor goes."""
        link = self.link
        if link is None:
            return
        registry = self.ctx.metrics
        if registry is not None:
            link.handlers["metrics"] = lambda _: _render_text(registry)
        await link.start(on_lost=lambda: self._on_signal(signal.SIGTERM))

    async def _bind(self) -> _FrontEnds:
        """Bind and start both front ends (a port that cannot be bound stops start-up)."""
        config = self.config
        security = ServerSecurity(config.security)
        make_request_id = request_id_maker() if config.log_format == "json" else None  # ids for JSON logs
        trace = self.ctx.tracer is not None
        grpc_server = (  # --port 0: no gRPC server
            self._grpc_server(security, make_request_id, trace) if config.port else None
        )
        rest = self._rest_server(security, make_request_id, trace) if config.rest_port else None
        rest_task: asyncio.Task[None] | None = None
        if rest is not None:
            inherited = self.seat.rest_socket() if self.seat is not None else None
            sock = inherited or bind_rest_socket(config.rest_bind_address, config.rest_port)
            rest_task = asyncio.create_task(rest.serve(sockets=[sock]))
        if grpc_server is not None:
            await grpc_server.start()
            log.info(
                "gRPC listening on %s:%d%s",
                config.grpc_bind_address,
                config.port,
                " (TLS)" if security.tls is not None else "",
            )
        if rest is not None:
            log.info(
                "REST listening on %s://%s:%d", security.scheme, config.rest_bind_address, config.rest_port
            )
        return _FrontEnds(grpc_server, rest, rest_task)

    async def _build_models(self) -> None:
        """The OpenVINO core (CPU extension, cache directory, thread settings); models load in _serve."""
        config = self.config
        self._engine = await asyncio.to_thread(
            OpenVINOEngine,
            config.cache_dir,
            config.cpu_extension,
            config.inline_inference_us,
            shared_cores=self.seat is not None,
        )
        if self.link is not None:  # peers' model control calls run here from now on
            self.link.handlers.update(handlers(self.lifecycle))
        self._built.set()

    def _load(self, config: ModelConfig, version: int, path: Path) -> Loader:
        """The loader of one model version, on the OpenVINO core that _build_models made."""
        if self._engine is None:
            raise RuntimeError("a model version is loaded before the OpenVINO core is built")
        return self._engine.loader(config, version, Path(path))

    async def _serve(self) -> None:
        """The initial load, then ready: poll the repositories and clean idle sequences until stopped.

        A stop during the initial load cancels it."""
        config = self.config
        load = asyncio.create_task(self.lifecycle.start())
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({load, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not load.done():
            load.cancel()
            return
        load.result()
        self.ctx.state.ready = True
        log.info("server ready: %s", ", ".join(self.manager.names()) or "no models")
        if self.link is not None:
            self.link.ready()
        background: list[asyncio.Task[None]] = []
        if config.file_system_poll_wait_seconds > 0:
            background.append(
                asyncio.create_task(self.lifecycle.poll_forever(config.file_system_poll_wait_seconds))
            )
        cleaning = _start_sequence_cleaner(self.cleaner, config)
        if cleaning is not None:
            background.append(cleaning)
        await stop
        for task in background:
            task.cancel()

    async def _drain(self, front_ends: _FrontEnds) -> None:
        """No new calls; calls in flight get --shutdown_grace_seconds; then unload and close."""
        grace = self.config.shutdown_grace_seconds
        log.info("shutting down: no new calls; calls in flight get %ds", grace)
        self.ctx.state.drain()
        if front_ends.rest is not None:
            front_ends.rest.should_exit = True
        await asyncio.gather(
            *([front_ends.grpc.stop(grace)] if front_ends.grpc is not None else []),
            *([front_ends.rest_task] if front_ends.rest_task is not None else []),
        )
        await self.manager.close()
        await asyncio.to_thread(self.source.close)
        if self._tracing is not None:
            await asyncio.to_thread(self._tracing.shutdown)  # flushes the spans not exported yet
        if self.link is not None:
            await self.link.close()
        log.info("stopped")

    def _start_tracing(self) -> tuple[Any, RequestTracer | None]:
        """With --tracing_enable: the OpenTelemetry provider (imported only then) and the request
        tracer; (None, None) when tracing is off."""
        if not self.config.tracing.enable:
            return None, None
        from ovserve import telemetry
        from ovserve.api import tracing

        provider = telemetry.tracer_provider(self.config.tracing, self.seat.index if self.seat else None)
        return provider, tracing.RequestTracer(provider.get_tracer("ovserve"))

    def _rest_server(
        self, security: ServerSecurity, make_request_id: Callable[[], str] | None, trace: bool
    ) -> _UvicornServer:
        """The REST server (uvicorn over ovserve's router), not yet serving."""
        config = self.config
        app = security.rest_app(
            RestApp(build_router(self.ctx, self.link), config.max_request_bytes, make_request_id, trace)
        )
        return _UvicornServer(
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


async def _render_text(registry: MetricsRegistry) -> str:
    return render(registry).decode()


def run(config: ServerConfig, seat: WorkerSeat | None = None) -> int:
    """Run the server (or one worker of it) until SIGTERM/SIGINT; returns the exit code."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(Server(config, seat).run())
    return uvloop.run(Server(config, seat).run())


__all__ = ["Server", "StartupError", "build_router", "run"]
