"""OVMS's command-line flags as ovserve knows them: name, type, default, help, status.

One table (:data:`FLAGS`) serves parsing (:mod:`ovserve.cli`) and the help text
(:func:`usage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["bool", "uint32", "uint64", "str"]


@dataclass(frozen=True)
class Flag:
    """One command-line flag as OVMS defines it, with ovserve's status for it."""

    name: str
    kind: Kind
    default: str  # as shown in usage(); "" for none
    help: str
    group: str = "server"  # "server", "multi model" or "single model"
    effective: bool = True  # False: accepted for compatibility, no effect yet


FLAGS: tuple[Flag, ...] = (
    Flag(
        "port",
        "uint32",
        "9178",
        "gRPC port (TensorFlow Serving and KServe services); must differ from rest_port",
    ),
    Flag("grpc_bind_address", "str", "0.0.0.0", "Address the gRPC server binds to: IPv4, IPv6 or hostname"),
    Flag("rest_port", "uint32", "0", "REST port; 0 starts no REST server"),
    Flag("rest_bind_address", "str", "0.0.0.0", "Address the REST server binds to: IPv4, IPv6 or hostname"),
    Flag(
        "grpc_workers",
        "uint32",
        "1",
        "Serving processes, 1..CPU cores (each holds every model); env GRPC_SERVERS > 0 overrides",
    ),
    Flag("grpc_max_threads", "uint32", "8 x CPU cores", "Maximum gRPC server threads", effective=False),
    Flag(
        "grpc_memory_quota",
        "uint64",
        "2147483648",
        "gRPC buffer memory quota in bytes; 0 = unlimited",
        effective=False,
    ),
    Flag(
        "rest_workers",
        "uint32",
        "1 process",
        "Serving processes, 2..10000, at most CPU cores are used (each holds every model); needs rest_port",
    ),
    Flag("log_level", "str", "INFO", "Log level: TRACE, DEBUG, INFO, WARNING or ERROR"),
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
        "1",
        "Seconds between checks of config.json and model version directories; 0 = no checks",
    ),
    Flag(
        "inline_inference_us",
        "uint32",
        "300",
        "ovserve extension: models whose inferences take less than this many µs run on the event "
        "loop's thread (saves a thread hop); 0 = always on OpenVINO's threads",
    ),
    Flag(
        "max_request_bytes",
        "uint64",
        "1073741824",
        "ovserve extension: largest request body (REST) or message (gRPC) accepted, in bytes",
    ),
    Flag(
        "rest_read_timeout_seconds",
        "uint32",
        "30",
        "ovserve extension: seconds a REST client has to send a request's head and body (plus a "
        "second per 64 KiB of body); slower requests get 408 and are closed; 0 = no limit",
    ),
    Flag(
        "shutdown_grace_seconds",
        "uint32",
        "30",
        "ovserve extension: seconds requests in flight may take to finish after SIGTERM/SIGINT",
    ),
    Flag(
        "sequence_cleaner_poll_wait_minutes",
        "uint32",
        "5",
        "Minutes between idle-sequence scans of stateful models; 0 = off",
        effective=False,
    ),
    Flag(
        "custom_node_resources_cleaner_interval_seconds",
        "uint32",
        "1",
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
        "Model directory with numbered versions: local (relative to cwd), s3://, gs://, az:// or azfs://",
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
        "stateful", "bool", "false", "Stateful model (not supported: true is refused)", group="single model"
    ),
    Flag(
        "idle_sequence_cleanup",
        "bool",
        "true",
        "Stateful only: drop idle sequences",
        group="single model",
        effective=False,
    ),
    Flag(
        "low_latency_transformation",
        "bool",
        "false",
        "Stateful only: apply the low-latency transformation",
        group="single model",
        effective=False,
    ),
    Flag(
        "max_sequence_number",
        "uint32",
        "500",
        "Stateful only: maximum concurrent sequences",
        group="single model",
        effective=False,
    ),
)


def usage() -> str:
    """The help text: every flag with its default, a one-line description and its status."""
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
    for group in ("server", "multi model", "single model"):
        if group != "server":
            lines += ["", f" {group} options:"]
        for flag in FLAGS:
            if flag.group != group:
                continue
            left = f"      --{flag.name}" + ("" if flag.kind == "bool" else f" {flag.name.upper()}")
            text = flag.help
            if flag.default:
                text += f" (default: {flag.default})"
            if not flag.effective:
                text += " [not effective yet]"
            lines.append(left.ljust(58) + text if len(left) < 58 else f"{left}\n{'':58}{text}")
    return "\n".join(lines)
