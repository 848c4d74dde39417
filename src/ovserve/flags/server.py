"""The server process's flags: ports, workers, logging, request limits, observability, metrics."""

from __future__ import annotations

from ovserve.flags.flag import TRACING, Flag, shown

SERVER_FLAGS: tuple[Flag, ...] = (
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
        shown(TRACING.enable),
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
)
