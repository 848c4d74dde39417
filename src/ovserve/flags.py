"""OVMS's command-line flags as ovserve knows them: name, type, default, help, status.

One table (:data:`FLAGS`) serves parsing (:mod:`ovserve.cli`) and the help text
(:func:`usage`). A flag whose value has a :class:`~ovserve.config.types.ServerConfig`
field of the same name takes its shown default from there (``default=None``); the
stateful, CORS, tracing and generative flags show their config class's default
(``_shown(...)``), so each default is written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from ovserve.config.genai import GenerativeConfig
from ovserve.config.types import CorsConfig, ServerConfig, StatefulConfig, TracingConfig
from ovserve.ovms_flags import FEATURES

Kind = Literal["bool", "uint32", "uint64", "str"]

#: OVMS's help groups, in the order ``ovms --help`` prints them ("server" is its unnamed group).
GROUPS: tuple[str, ...] = (
    "server",
    "multi model",
    "single model",
    "generative task",
    "config management",
)


@dataclass(frozen=True)
class Flag:
    """One command-line flag as OVMS defines it, with ovserve's status for it.

    ``default`` is what usage() shows ("" for none); None means the default of the
    :class:`ServerConfig` field named like the flag.
    OVMS's flags of features ovserve does not serve are not in the table: :mod:`ovserve.ovms_flags`
    names their feature, and giving one stops start-up with one line naming both.
    """

    name: str
    kind: Kind
    default: str | None
    help: str
    group: str = "server"  # one of GROUPS
    effective: bool = True  # False: accepted for compatibility, no effect yet

    def shown_default(self) -> str:
        """The default as usage() prints it."""
        return self.default if self.default is not None else _shown(_SERVER_DEFAULTS[self.name])


def _shown(value: object) -> str:
    """A config default as usage() prints it: true/false, a comma-separated tuple, "" for None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


#: the config classes whose defaults the flags show
_SERVER = ServerConfig()
_SERVER_DEFAULTS = {
    field.name: getattr(_SERVER, field.name)
    for field in dataclasses.fields(ServerConfig)
    if not isinstance(getattr(_SERVER, field.name), (tuple, dict))
}
_STATEFUL = StatefulConfig()
_CORS = CorsConfig()
_TRACING = TracingConfig()
_GENERATIVE = GenerativeConfig(task="text_generation")


FLAGS: tuple[Flag, ...] = (
    Flag(
        "port",
        "uint32",
        None,
        "gRPC port (TensorFlow Serving and KServe services); 0 starts no gRPC server; "
        "port and rest_port cannot both be 0 and must differ",
    ),
    Flag("grpc_bind_address", "str", None, "Address the gRPC server binds to: IPv4, IPv6 or hostname"),
    Flag("rest_port", "uint32", None, "REST port; 0 starts no REST server"),
    Flag("rest_bind_address", "str", None, "Address the REST server binds to: IPv4, IPv6 or hostname"),
    Flag(
        "grpc_workers",
        "uint32",
        None,
        "Serving processes, 1..CPU cores (each holds every model); env GRPC_SERVERS > 0 overrides",
    ),
    Flag("grpc_max_threads", "uint32", "8 x CPU cores", "Maximum gRPC server threads", effective=False),
    Flag(
        "grpc_memory_quota",
        "uint64",
        None,
        "gRPC buffer memory quota in bytes; 0 = unlimited",
        effective=False,
    ),
    Flag(
        "rest_workers",
        "uint32",
        "1 process",
        "Serving processes, 2..10000, at most CPU cores are used (each holds every model); needs rest_port",
    ),
    Flag("log_level", "str", None, "Log level: TRACE, DEBUG, INFO, WARNING or ERROR"),
    Flag("log_path", "str", "stdout", "File to write the log to"),
    Flag("trace_path", "str", "", "Trace file (OVMS profiler builds only)", effective=False),
    Flag(
        "grpc_channel_arguments",
        "str",
        "",
        "Comma-separated gRPC channel arguments k=v, e.g. grpc.max_connection_age_ms=2000",
    ),
    Flag(
        "file_system_poll_wait_seconds",
        "uint32",
        None,
        "Seconds between checks of config.json and model version directories; 0 = no checks",
    ),
    Flag(
        "inline_inference_us",
        "uint32",
        None,
        "ovserve extension: models whose inferences take less than this many µs run on the event "
        "loop's thread (saves a thread hop); 0 = always on OpenVINO's threads",
    ),
    Flag(
        "max_request_bytes",
        "uint64",
        None,
        "ovserve extension: largest request body (REST) or message (gRPC) accepted, in bytes",
    ),
    Flag(
        "rest_read_timeout_seconds",
        "uint32",
        None,
        "ovserve extension: seconds a REST client has to send a request's head and body (plus a "
        "second per 64 KiB of body); slower requests get 408 and are closed; 0 = no limit",
    ),
    Flag(
        "shutdown_grace_seconds",
        "uint32",
        None,
        "ovserve extension: seconds requests in flight may take to finish after SIGTERM/SIGINT",
    ),
    # -- observability (ovserve extensions; docs/observability.md) --
    Flag(
        "log_format",
        "str",
        None,
        "ovserve extension: log lines as text (OVMS's format) or json (one object a line, with the request id)",
    ),
    Flag(
        "tracing_enable",
        "bool",
        _shown(_TRACING.enable),
        "ovserve extension: OpenTelemetry tracing, exported over OTLP",
    ),
    Flag(
        "tracing_endpoint",
        "str",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT or the SDK's",
        "ovserve extension: OTLP receiver URL, e.g. http://collector:4318/v1/traces (grpc: http://collector:4317)",
    ),
    Flag(
        "tracing_protocol",
        "str",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL or http/protobuf",
        "ovserve extension: OTLP protocol: http/protobuf or grpc",
    ),
    Flag(
        "tracing_sample_ratio",
        "str",
        "OTEL_TRACES_SAMPLER(_ARG) or 1.0",
        "ovserve extension: share of new traces sampled, 0..1 (a sampled traceparent is always followed)",
    ),
    Flag(
        "sequence_cleaner_poll_wait_minutes",
        "uint32",
        None,
        "Minutes between idle-sequence scans of stateful models; 0 = off",
    ),
    Flag(
        "sequence_cleaner_poll_wait_seconds",
        "uint32",
        "",
        "ovserve extension: the idle-sequence scan interval in seconds (overrides the minutes); 0 = off",
    ),
    Flag(
        "custom_node_resources_cleaner_interval_seconds",
        "uint32",
        None,
        "Seconds between custom-node resource cleanups; 0 is taken as 1",
        effective=False,
    ),
    Flag("cache_dir", "str", "/opt/cache if it exists", "OpenVINO compiled-model cache directory"),
    Flag(
        "metrics_enable",
        "bool",
        "false",
        "Serve Prometheus metrics at /metrics on rest_port",
    ),
    Flag(
        "metrics_list",
        "str",
        "default families",
        "Comma-separated metric families to serve; needs metrics_enable",
    ),
    Flag("cpu_extension", "str", "", "OpenVINO CPU extension library (the file must exist)"),
    # --- security (docs/security.md): OVMS's API key and CORS flags, ovserve's TLS flags ---
    Flag(
        "api_key_file",
        "str",
        "env API_KEY",
        "File whose first line is the API key clients send as 'Authorization: Bearer <key>' "
        "(every endpoint but health); not given: env API_KEY; neither: no key asked for",
    ),
    Flag(
        "allowed_origins",
        "str",
        _shown(_CORS.allowed_origins),
        "CORS: comma-separated origins allowed to call the REST API",
    ),
    Flag(
        "allowed_methods",
        "str",
        _shown(_CORS.allowed_methods),
        "CORS: comma-separated methods allowed in cross-origin calls",
    ),
    Flag(
        "allowed_headers",
        "str",
        _shown(_CORS.allowed_headers),
        "CORS: comma-separated headers allowed in cross-origin calls",
    ),
    Flag(
        "allow_credentials",
        "bool",
        _shown(_CORS.allow_credentials),
        "CORS: allow credentials in cross-origin calls",
    ),
    Flag(
        "tls_cert_path",
        "str",
        "",
        "ovserve extension: PEM certificate chain; with tls_key_path, both ports serve TLS only "
        "(reloaded when the file changes)",
    ),
    Flag("tls_key_path", "str", "", "ovserve extension: PEM private key of tls_cert_path"),
    Flag(
        "tls_client_ca_path",
        "str",
        "",
        "ovserve extension: PEM CA certificates; clients must present a certificate they signed (mTLS)",
    ),
    Flag(
        "config_path", "str", "", "config.json of the models to serve (multi-model mode)", group="multi model"
    ),
    Flag(
        "model_name",
        "str",
        "",
        "Name of the model (single-model mode, with model_path)",
        group="single model",
    ),
    Flag(
        "model_path",
        "str",
        "",
        "Model directory with numbered versions: local (relative to cwd), s3://, gs://, az:// or azfs://; "
        "or one local model file (.xml, .onnx, .pdmodel, .pdiparams, .pb, .tflite), served as version 1",
        group="single model",
    ),
    Flag(
        "batch_size",
        "str",
        "model's",
        "Batch size: N, -1, min:max or auto; ignored when shape is set",
        group="single model",
    ),
    Flag(
        "shape",
        "str",
        "model's",
        'Shape: auto, (1,3,224,224) with -1 or min:max dims, or JSON {"input": "(1,3,224,224)"}',
        group="single model",
    ),
    Flag(
        "layout",
        "str",
        "model's",
        'Layout: NHWC:NCHW, NHWC, or JSON {"input": "NHWC:NCHW"}',
        group="single model",
    ),
    Flag(
        "model_version_policy",
        "str",
        '{"latest": {"num_versions": 1}}',
        "Versions to serve: JSON latest/all/specific policy",
        group="single model",
    ),
    Flag("nireq", "uint32", "0 = auto", "Size of the model's infer-request pool", group="single model"),
    Flag(
        "target_device",
        "str",
        "CPU",
        "Device: CPU, GPU, NPU, AUTO, MULTI:..., HETERO:...",
        group="single model",
    ),
    Flag(
        "plugin_config",
        "str",
        "",
        'OpenVINO plugin config as JSON, e.g. {"NUM_STREAMS": "1"}',
        group="single model",
    ),
    Flag(
        "stateful",
        "bool",
        "false",
        "Stateful model: requests form sequences (sequence_id, sequence_control_input)",
        group="single model",
    ),
    Flag(
        "idle_sequence_cleanup",
        "bool",
        _shown(_STATEFUL.idle_sequence_cleanup),
        "Stateful only: the sequence cleaner drops this model's idle sequences",
        group="single model",
    ),
    Flag(
        "low_latency_transformation",
        "bool",
        _shown(_STATEFUL.low_latency_transformation),
        "Stateful only: apply OpenVINO's LowLatency2 transformation at load",
        group="single model",
    ),
    Flag(
        "max_sequence_number",
        "uint32",
        _shown(_STATEFUL.max_sequence_number),
        "Stateful only: how many sequences may be open at once",
        group="single model",
    ),
    # --- OVMS 2025-2026: input preprocessing and config management --------------------------
    Flag(
        "mean",
        "str",
        "",
        "Subtracted from input values, built into the model: 0.5 or [r,g,b] (one per channel); needs layout",
        group="single model",
    ),
    Flag(
        "scale",
        "str",
        "",
        "Input values are divided by it, built into the model: 255 or [r,g,b]; needs layout",
        group="single model",
    ),
    Flag(
        "color_format",
        "str",
        "",
        "Color conversion built into the model, MODEL:CLIENT as OVMS reads it, e.g. BGR:RGB "
        "(RGB, BGR, GRAY, NV12, NV12_2, I420, I420_3); needs layout",
        group="single model",
    ),
    Flag(
        "precision",
        "str",
        "",
        "Input precision conversion built into the model, CLIENT:MODEL, e.g. uint8:fp32; needs layout",
        group="single model",
    ),
    Flag(
        "model_repository_path",
        "str",
        "$OVMS_MODEL_REPOSITORY_PATH",
        "Model repository: listed by --list_models; --add_to_config's model path is <it>/<model_name> "
        "when --model_path is not given",
        group="config management",
    ),
    Flag(
        "list_models",
        "bool",
        "false",
        "Print the models and graphs found under --model_repository_path and exit",
        group="config management",
    ),
    Flag(
        "add_to_config",
        "bool",
        "false",
        "Add --model_name (with --model_path or --model_repository_path, and model flags) to "
        "--config_path's config.json and exit",
        group="config management",
    ),
    Flag(
        "remove_from_config",
        "bool",
        "false",
        "Remove --model_name from --config_path's config.json and exit",
        group="config management",
    ),
    # --- generative models (OVMS's --task and its per-task options; docs/genai.md) ---
    Flag(
        "task",
        "str",
        "",
        "Serve model_path as a generative model: text_generation, embeddings or rerank",
        group="generative task",
    ),
    Flag(
        "max_num_seqs",
        "uint32",
        _shown(_GENERATIVE.max_num_seqs),
        "text_generation: sequences processed together",
        group="generative task",
    ),
    Flag(
        "pipeline_type",
        "str",
        _shown(_GENERATIVE.pipeline_type),
        "text_generation: AUTO or LM_CB (continuous batching), LM (LLMPipeline)",
        group="generative task",
    ),
    Flag(
        "enable_prefix_caching",
        "bool",
        _shown(_GENERATIVE.enable_prefix_caching),
        "text_generation: cache prompt KV blocks",
        group="generative task",
    ),
    Flag(
        "max_num_batched_tokens",
        "uint32",
        "GenAI's",
        "text_generation: tokens per step",
        group="generative task",
    ),
    Flag(
        "cache_size",
        "uint32",
        "0 = dynamic",
        "text_generation: KV cache size in GB",
        group="generative task",
    ),
    Flag(
        "dynamic_split_fuse",
        "bool",
        _shown(_GENERATIVE.dynamic_split_fuse),
        "text_generation: dynamic split fuse scheduling",
        group="generative task",
    ),
    Flag(
        "kv_cache_precision",
        "str",
        "",
        "text_generation: u8 or empty (the device's)",
        group="generative task",
    ),
    Flag(
        "max_prompt_len",
        "uint32",
        "",
        "text_generation: NPU prompt length (no effect on CPU)",
        group="generative task",
    ),
    Flag(
        "model_distribution_policy",
        "str",
        "",
        "text_generation: TENSOR_PARALLEL or PIPELINE_PARALLEL (not supported)",
        group="generative task",
        effective=False,
    ),
    Flag(
        "draft_source_model",
        "str",
        "",
        "text_generation: draft model (not supported)",
        group="generative task",
        effective=False,
    ),
    Flag(
        "reasoning_parser",
        "str",
        "",
        "text_generation: reasoning parser, qwen3 or none (whole chat answers)",
        group="generative task",
    ),
    Flag(
        "tool_parser",
        "str",
        "",
        "text_generation: tool parser, llama3, hermes3 or none (whole chat answers)",
        group="generative task",
    ),
    Flag(
        "enable_tool_guided_generation",
        "bool",
        _shown(_GENERATIVE.enable_tool_guided_generation),
        "text_generation: enforce tool schemas (not supported)",
        group="generative task",
        effective=False,
    ),
    Flag(
        "cache_interval_multiplier",
        "uint32",
        "adaptive",
        "text_generation: KV block interval",
        group="generative task",
    ),
    Flag(
        "num_streams",
        "uint32",
        _shown(_GENERATIVE.num_streams),
        "embeddings, rerank: OpenVINO execution streams",
        group="generative task",
    ),
    Flag(
        "normalize",
        "bool",
        _shown(_GENERATIVE.normalize),
        "embeddings: L2-normalize the embeddings",
        group="generative task",
    ),
    Flag(
        "truncate",
        "bool",
        _shown(_GENERATIVE.truncate),
        "embeddings: truncate inputs over the context",
        group="generative task",
    ),
    Flag(
        "pooling",
        "str",
        _shown(_GENERATIVE.pooling),
        "embeddings: CLS, LAST or MEAN",
        group="generative task",
    ),
    Flag(
        "max_allowed_chunks",
        "uint32",
        _shown(_GENERATIVE.max_allowed_chunks),
        "rerank: most document chunks a request may make",
        group="generative task",
    ),
)


def usage() -> str:
    """The help text: every flag with its default, a one-line description and its status.

    Grouped as ``ovms --help`` groups them (:data:`GROUPS`); config management last,
    under its own usage lines, as OVMS prints it.
    """
    lines = [
        "ovserve - a model server for OpenVINO models, drop-in for OpenVINO Model Server",
        "",
        "Usage:",
        "  ovserve --config_path CONFIG_PATH [OPTION...]",
        "  ovserve --model_name MODEL_NAME --model_path MODEL_PATH [OPTION...]",
        "",
        "Syntax: --flag value or --flag=value; a bool flag is true when given, or --flag=true|false.",
        "[not effective yet] marks flags accepted for OVMS compatibility whose feature is not built yet.",
        "",
        "  -h, --help".ljust(58) + "Show this help and exit",
        "      --version".ljust(58) + "Show the version and exit",
    ]
    for group in GROUPS:
        flags = [flag for flag in FLAGS if flag.group == group]
        if not flags:
            continue
        if group == "config management":
            lines += ["", *_CONFIG_MANAGEMENT_USAGE]
        if group != "server":
            lines += ["", f" {group} options:"]
        lines += [_help_line(flag) for flag in flags]
    return "\n".join(lines + _unserved_lines())


def _unserved_lines() -> list[str]:
    """OVMS 2026.3's flags that are not in the table, by feature: they stop start-up, naming it."""
    known = {flag.name for flag in FLAGS}
    by_feature: dict[str, list[str]] = {}
    for name, feature in FEATURES.items():
        if name not in known:
            by_feature.setdefault(feature, []).append(f"--{name}")
    if not by_feature:
        return []
    lines = ["", " OVMS 2026.3 options not served by ovserve yet (each stops start-up, naming its feature):"]
    for feature, names in by_feature.items():
        lines += [f"      {feature}:", f"          {', '.join(names)}"]
    return lines


_CONFIG_MANAGEMENT_USAGE = (
    "config management commands (edit config.json and exit):",
    "  ovserve --add_to_config --config_path CONFIG_PATH --model_name MODEL_NAME "
    "--model_repository_path MODEL_REPO_PATH",
    "  ovserve --add_to_config --config_path CONFIG_PATH --model_name MODEL_NAME --model_path MODEL_PATH",
    "  ovserve --remove_from_config --config_path CONFIG_PATH --model_name MODEL_NAME",
    "  ovserve --list_models --model_repository_path MODEL_REPO_PATH",
)


def _help_line(flag: Flag) -> str:
    left = f"      --{flag.name}" + ("" if flag.kind == "bool" else f" {flag.name.upper()}")
    text = flag.help
    default = flag.shown_default()
    if default:
        text += f" (default: {default})"
    if not flag.effective:
        text += " [not effective yet]"
    return left.ljust(58) + text if len(left) < 58 else f"{left}\n{'':58}{text}"
