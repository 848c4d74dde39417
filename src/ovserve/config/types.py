"""Frozen configuration objects: what the command line and config.json mean once parsed.

Parsing and validation live beside this module (``ovserve.config.file`` and
``ovserve.config.model_entry`` for config.json, ``ovserve.config.syntax`` for the shared value
syntaxes, ``ovserve.cli`` for argv); everything else receives these objects and never reads
argv, env or files for settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from ovserve.config.genai import GenerativeConfig
from ovserve.config.storage import StorageSettings
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
    ``max_queue_delay_microseconds`` (at most: with ``adaptive_queue_delay``, only while
    another request is expected within it; scheduling/queue_delay.py). ``max_queue_size``
    bounds the requests waiting (0: no bound); ``timeout_microseconds`` is how long a
    request may wait before it runs (0: no limit).
    """

    max_batch_size: int
    max_queue_delay_microseconds: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = 0
    timeout_microseconds: int = 0
    adaptive_queue_delay: bool = True


@dataclass(frozen=True)
class StatefulConfig:
    """A stateful (sequence) model, as OVMS served them until 2026.2 (config.json ``stateful: true``).

    Each sequence of requests keeps its own OpenVINO state (the model's ReadValue/Assign
    variables). ``max_sequence_number`` bounds the sequences open at once;
    ``idle_sequence_cleanup`` lets the server's sequence cleaner drop sequences idle for a
    whole scan interval; ``low_latency_transformation`` applies OpenVINO's LowLatency2 pass
    (TensorIterator/Loop bodies become state variables) when the model loads.
    """

    max_sequence_number: int = 500
    idle_sequence_cleanup: bool = True
    low_latency_transformation: bool = False


@dataclass(frozen=True)
class PreprocessSpec:
    """OVMS 2026's input preprocessing (``mean``, ``scale``, ``color_format``, ``precision``).

    Built into the model with OpenVINO's PrePostProcessor at load time, in OVMS's order:
    color conversion, precision conversion, then ``(x - mean) / scale``. ``mean`` and
    ``scale`` are one value or one per channel. ``color_format`` is (model's, client's)
    and ``precision`` (client's, model's): the order in which OVMS reads each flag's
    ``A:B`` value. Precision names are OVMS's (FP32, UINT8, ...).
    """

    mean: float | tuple[float, ...] | None = None
    scale: float | tuple[float, ...] | None = None
    color_format: tuple[str, str] | None = None
    precision: tuple[str, str] | None = None


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
    #: a stateful (sequence) model (None: stateless)
    stateful: StatefulConfig | None = None
    #: OVMS 2026: mean / scale / color_format / precision built into the model (None: none)
    preprocess: PreprocessSpec | None = None
    #: why this entry is not served yet (a MediaPipe graph entry): its status says so; None: served
    not_served: str | None = None
    #: why this entry's settings are invalid: it is unloaded and the rest of config.json applies
    invalid: str | None = None
    #: a generative model (OVMS's --task): served by OpenVINO GenAI from ``base_path`` itself
    generative: GenerativeConfig | None = None
    #: a MediaPipe graph entry on local storage: its graph file (absolute); ovserve.pipelines.mediapipe
    #: serves it (OVMS's LLM, embeddings and rerank graphs: ovserve.genai)
    graph_path: str | None = None

    def fingerprint(self) -> tuple[object, ...]:
        """Everything that, changed, means the model's versions must be reloaded.

        Derived from the fields, so a new field is covered without being listed; only the
        fields of :data:`NOT_IN_FINGERPRINT` are left out.
        """
        return tuple(
            (f.name, _freeze(getattr(self, f.name))) for f in fields(self) if f.name not in NOT_IN_FINGERPRINT
        )


#: ModelConfig fields whose change does not rebuild loaded versions: the name is the stream's
#: identity, and a new version policy only re-selects versions (the manager compares fingerprints).
NOT_IN_FINGERPRINT = frozenset({"name", "version_policy"})


def _freeze(value: object) -> object:
    """A hashable equal of ``value``: mappings become sorted tuples of pairs."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


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
    "ovms_graph_error",
    "ovms_graph_processing_time_us",
)
#: Metric families served only when a metrics list names them. ``ovms_graph_request_latency_us``
#: is in OVMS 2026.3's metrics docs (its code refuses it in a list; ovserve takes it).
OPTIONAL_METRIC_FAMILIES: tuple[str, ...] = (
    "ovms_infer_req_queue_size",
    "ovms_infer_req_active",
    "ovms_graph_request_latency_us",
)
#: ovserve's own families (the dynamic batcher's); served by default, and may be listed too
OVSERVE_METRIC_FAMILIES: tuple[str, ...] = (
    "ovserve_batch_queue_length",
    "ovserve_batch_size",
    # generative models (metrics/generative.py)
    "ovserve_prompt_tokens",
    "ovserve_generated_tokens",
    "ovserve_time_to_first_token_us",
    "ovserve_time_per_output_token_us",
    "ovserve_kv_cache_usage_percent",
)


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
class TlsConfig:
    """ovserve's TLS flags: PEM files for both ports; ``client_ca_path`` turns on mTLS."""

    cert_path: str
    key_path: str
    #: clients must present a certificate signed by one of these CAs (mTLS); None: no client certificate
    client_ca_path: str | None = None


@dataclass(frozen=True)
class CorsConfig:
    """OVMS's CORS flags, with OVMS's defaults (every origin, method and header; no credentials)."""

    allowed_origins: tuple[str, ...] = ("*",)
    allowed_methods: tuple[str, ...] = ("*",)
    allowed_headers: tuple[str, ...] = ("*",)
    allow_credentials: bool = False


@dataclass(frozen=True)
class SecurityConfig:
    """TLS (ovserve's flags), the API key (--api_key_file / API_KEY) and CORS (OVMS's flags)."""

    tls: TlsConfig | None = None
    #: the key clients send as ``Authorization: Bearer <key>``; None: no key is asked for
    api_key: str | None = field(default=None, repr=False)
    cors: CorsConfig = field(default_factory=CorsConfig)


@dataclass(frozen=True)
class TracingConfig:
    """OpenTelemetry tracing (ovserve's --tracing_* flags); None leaves a setting to the OTEL_* variables."""

    enable: bool = False
    endpoint: str | None = None
    protocol: str | None = None  # "http/protobuf" or "grpc"
    sample_ratio: float | None = None


@dataclass(frozen=True)
class ServerConfig:
    """Server-wide settings, with OVMS's flag names and defaults."""

    #: gRPC port; 0 (OVMS's default since 2025.1) starts no gRPC server
    port: int = 0
    #: REST port; 0 starts no REST server (port and rest_port cannot both be 0)
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
    #: ovserve's own: the sequence cleaner's interval in seconds; overrides the minutes when set
    sequence_cleaner_poll_wait_seconds: int | None = None
    #: ovserve's own: how long requests in flight may take to finish after SIGTERM/SIGINT
    shutdown_grace_seconds: int = 30
    custom_node_resources_cleaner_interval_seconds: int = 1
    cache_dir: str | None = None
    cpu_extension: str | None = None
    #: --trace_path: accepted for compatibility (OVMS profiler builds only); unused.
    trace_path: str | None = None
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    #: config.json's ``monitoring`` section as read at start-up (None: none); reloads may not change it
    monitoring: MetricsConfig | None = None
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
    #: TLS, API key and CORS (docs/security.md)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    #: ovserve's own (docs/observability.md): log line format, "text" or "json"; tracing
    log_format: str = "text"
    tracing: TracingConfig = field(default_factory=TracingConfig)
    #: object-store credentials, endpoints and timeout (from the environment, as OVMS reads them)
    storage: StorageSettings = field(default_factory=StorageSettings)

    @property
    def sequence_cleaner_interval_seconds(self) -> int:
        """Seconds between idle-sequence scans: the seconds flag when given, else the minutes; 0 = off."""
        seconds = self.sequence_cleaner_poll_wait_seconds
        return seconds if seconds is not None else self.sequence_cleaner_poll_wait_minutes * 60
