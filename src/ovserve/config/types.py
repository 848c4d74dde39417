"""Frozen configuration objects: what the command line and config.json mean once parsed.

Parsing and validation live beside this module (``ovserve.config.parse`` for
config.json and the shared value syntaxes, ``ovserve.cli`` for argv); everything else
receives these objects and never reads argv, env or files for settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ovserve.tensors import Dim

#: A shape as configured: one :class:`Dim` per dimension.
ShapeSpec = tuple[Dim, ...]


@dataclass(frozen=True)
class LayoutSpec:
    """``NHWC:NCHW`` (clients send ``target``, the model has ``source``) or a bare ``NCHW``."""

    target: str
    source: str | None = None


@dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions found on storage are served."""

    kind: Literal["latest", "all", "specific"] = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: Iterable[int]) -> list[int]:
        """The versions to serve, newest first."""
        found = sorted(set(available), reverse=True)
        if self.kind == "all":
            return found
        if self.kind == "specific":
            return [v for v in found if v in self.versions]
        return found[: self.num_versions]


@dataclass(frozen=True)
class BatchingConfig:
    """Server-side dynamic batching of one model (config.json ``dynamic_batching``, an ovserve extension).

    Requests queue and run together, concatenated on dimension 0, in batches of at most
    ``max_batch_size`` rows. A batch leaves the queue when it is full, when it reaches
    one of ``preferred_batch_sizes``, or when its oldest request has waited
    ``max_queue_delay_microseconds``. ``max_queue_size`` bounds the requests waiting (0:
    no bound); ``timeout_microseconds`` is how long a request may wait before it runs
    (0: no limit).
    """

    max_batch_size: int
    max_queue_delay_microseconds: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = 0
    timeout_microseconds: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """One served model (a stream of versions), with OVMS's keys.

    ``shape`` and ``layout`` are either one spec for a single-input model (the
    anonymous form) or a mapping from tensor name to spec. ``batch_size`` of
    ``"auto"`` (deprecated in OVMS) is served as a dynamic batch dimension.
    """

    name: str
    base_path: str
    batch_size: Dim | Literal["auto"] | None = None
    shape: ShapeSpec | Literal["auto"] | Mapping[str, ShapeSpec | Literal["auto"]] | None = None
    layout: LayoutSpec | Mapping[str, LayoutSpec] | None = None
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    nireq: int = 0
    target_device: str = "CPU"
    plugin_config: Mapping[str, str] = field(default_factory=dict)
    allow_cache: bool = False
    #: ovserve's extension: server-side dynamic batching (None: off)
    dynamic_batching: BatchingConfig | None = None

    def fingerprint(self) -> tuple[object, ...]:
        """Everything that, changed, means the model's versions must be reloaded."""

        def freeze(value: object) -> object:
            if isinstance(value, Mapping):
                return tuple(sorted((k, freeze(v)) for k, v in value.items()))
            return value

        return (
            self.base_path,
            freeze(self.batch_size),
            freeze(self.shape),
            freeze(self.layout),
            self.nireq,
            self.target_device,
            freeze(self.plugin_config),
            self.allow_cache,
            self.dynamic_batching,
        )


#: Metric families served when metrics are enabled without a list (OVMS's defaults).
DEFAULT_METRIC_FAMILIES: tuple[str, ...] = (
    "ovms_requests_success",
    "ovms_requests_fail",
    "ovms_request_time_us",
    "ovms_streams",
    "ovms_inference_time_us",
    "ovms_wait_for_infer_req_time_us",
    "ovms_current_requests",
    "ovms_current_graphs",
    "ovms_requests_accepted",
    "ovms_requests_rejected",
    "ovms_responses",
)
#: Metric families served only when a metrics list names them.
OPTIONAL_METRIC_FAMILIES: tuple[str, ...] = ("ovms_infer_req_queue_size", "ovms_infer_req_active")
#: ovserve's own families (the dynamic batcher's); served by default, and may be listed too
OVSERVE_METRIC_FAMILIES: tuple[str, ...] = ("ovserve_batch_queue_length", "ovserve_batch_size")


@dataclass(frozen=True)
class MetricsConfig:
    """The ``/metrics`` endpoint: on or off, and which families (empty list = the defaults)."""

    enable: bool = False
    metrics_list: tuple[str, ...] = ()

    def families(self) -> tuple[str, ...]:
        """The families to serve: none when disabled, the list when given, else the defaults."""
        if not self.enable:
            return ()
        return self.metrics_list or DEFAULT_METRIC_FAMILIES


@dataclass(frozen=True)
class ServerConfig:
    """Server-wide settings, with OVMS's flag names and defaults."""

    port: int = 9178
    rest_port: int = 0
    grpc_bind_address: str = "0.0.0.0"
    rest_bind_address: str = "0.0.0.0"
    grpc_workers: int = 1
    rest_workers: int | None = None
    grpc_max_threads: int | None = None
    grpc_memory_quota: int = 2 * 1024**3
    grpc_channel_arguments: Mapping[str, str | int] = field(default_factory=dict)
    log_level: str = "INFO"
    log_path: str | None = None
    file_system_poll_wait_seconds: int = 1
    sequence_cleaner_poll_wait_minutes: int = 5
    #: ovserve's own: how long requests in flight may take to finish after SIGTERM/SIGINT
    shutdown_grace_seconds: int = 30
    custom_node_resources_cleaner_interval_seconds: int = 1
    cache_dir: str | None = None
    cpu_extension: str | None = None
    #: --trace_path: accepted for compatibility (OVMS profiler builds only); unused.
    trace_path: str | None = None
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    #: config.json path (multi-model mode); None in single-model mode.
    config_path: str | None = None
    #: the single model given on the command line, or the models config.json listed at start-up.
    models: tuple[ModelConfig, ...] = ()
    #: ovserve's own: inferences shorter than this (µs) run on the event loop thread; 0 = never
    inline_inference_us: int = 300
    #: largest accepted request body / gRPC message, bytes.
    max_request_bytes: int = 1024**3
    #: seconds a REST request's head and body may take to arrive (plus 1 s per 64 KiB); 0 = no limit
    rest_read_timeout_seconds: int = 30
    #: serving processes (from --grpc_workers and --rest_workers); more than 1 runs a supervisor
    processes: int = 1
