"""The command line: OVMS's flags, defaults and validation → one frozen :class:`ServerConfig`.

The only reader of argv and the environment, and only through the arguments of
:func:`parse_args`; nothing happens at import time. Syntax is cxxopts's, as OVMS
uses it (:mod:`ovserve.cli_argv` tokenizes, this module validates): ``--flag value``
or ``--flag=value``; a bool flag is true when present and takes a value only as
``--flag=true|false``; a repeated flag keeps its last value.

Outcomes of :func:`parse_args`:

- a :class:`ServerConfig` (in config mode with the models of config.json loaded);
- :class:`HelpRequested` (``-h``, ``--help`` or no argument) and
  :class:`VersionRequested` (``--version``), both :class:`ShowAndExit`: print their
  ``text`` to stdout and exit 0;
- :class:`ConfigCommandRequested` for OVMS's configuration management mode
  (``--list_models``, ``--add_to_config``, ``--remove_from_config``): run its command
  and exit with its code, no server;
- :class:`ConfigError` for anything invalid: OVMS prints the message and exits 64.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
from collections.abc import Mapping, Sequence

from ovserve.cli_argv import UINT32_MAX, Options, tokenize
from ovserve.cli_commands import config_command
from ovserve.config.file import graph_subconfig_models, load_config_file
from ovserve.config.genai import OPTIONS as GENERATIVE_OPTIONS
from ovserve.config.genai import parse_task_settings
from ovserve.config.graphs import graph_entry_reason, graph_file
from ovserve.config.manage import ConfigCommand
from ovserve.config.model_entry import check_stateful_model, resolve_base_path
from ovserve.config.observability import parse_log_format, parse_tracing
from ovserve.config.preprocessing import SETTINGS as PREPROCESS_SETTINGS
from ovserve.config.preprocessing import parse_preprocess
from ovserve.config.security import SECURITY_TEXT_FLAGS, parse_security
from ovserve.config.storage import StorageSettings
from ovserve.config.syntax import (
    is_valid_bind_address,
    parse_batch_size,
    parse_grpc_channel_arguments,
    parse_layout_setting,
    parse_metrics_list,
    parse_plugin_config,
    parse_shape_setting,
    parse_version_policy,
)
from ovserve.config.types import MetricsConfig, ModelConfig, ServerConfig, StatefulConfig
from ovserve.errors import ConfigError
from ovserve.flags import usage

log = logging.getLogger("ovserve.cli")

#: The compiled-model cache used when --cache_dir is not given and this directory exists.
DEFAULT_CACHE_DIR = "/opt/cache"
MAX_PORT = 65535
MAX_REST_WORKERS = 10_000
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")


class ShowAndExit(Exception):
    """The command line asks for information instead of a server: print ``text`` to stdout, exit ``code``."""

    code = 0

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class HelpRequested(ShowAndExit):
    """``-h``, ``--help`` or no argument at all: ``text`` is :func:`usage`."""


class VersionRequested(ShowAndExit):
    """``--version``: ``text`` is :func:`version_text`."""


class ConfigCommandRequested(Exception):
    """A configuration management command instead of a server: run ``command``, exit with its code."""

    def __init__(self, command: ConfigCommand) -> None:
        super().__init__(command.action)
        self.command = command


#: ServerConfig's defaults: the one place each server default is written.
DEFAULTS = ServerConfig()


_MODEL_PARAMS = ("batch_size", "shape", "nireq", "model_version_policy", "target_device", "plugin_config")
_STATEFUL_ONLY = ("low_latency_transformation", "max_sequence_number", "idle_sequence_cleanup")


def version_text() -> str:
    """The ``--version`` lines, shaped like OVMS's: the server, the OpenVINO backend, the build."""

    def installed(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return "\n".join(
        [
            f"ovserve {installed('ovserve')} (OpenVINO Model Server compatible)",
            f"OpenVINO backend {installed('openvino')}",
            f"Python {platform.python_version()}",
        ]
    )


def parse_args(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: str | None = None,
    default_cache_dir: str = DEFAULT_CACHE_DIR,
    cpu_count: int | None = None,
) -> ServerConfig:
    """Parse and validate the command line (without the program name) into a :class:`ServerConfig`.

    ``env`` is read for ``GRPC_SERVERS``, ``API_KEY``, ``OVMS_MODEL_REPOSITORY_PATH`` (config management)
    and the object-store variables (:class:`StorageSettings`). ``cwd`` (default: the process's)
    anchors relative paths; ``default_cache_dir`` is used when it exists and
    ``--cache_dir`` is not given; ``cpu_count`` (default ``os.cpu_count()``) bounds
    ``--grpc_workers``. In config mode config.json is loaded here, so its errors are
    raised here too. Raises :class:`HelpRequested`, :class:`VersionRequested` or
    :class:`ConfigError`.
    """
    given, wants_help, wants_version = tokenize(argv)
    if wants_version:
        raise VersionRequested(version_text())
    if wants_help or not given:
        raise HelpRequested(usage())
    cwd = cwd if cwd is not None else os.getcwd()
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    command = config_command(given, env, cwd)
    if command is not None:
        raise ConfigCommandRequested(command)
    opts = Options(given)
    _validate(opts, cwd, cores)

    metrics_names = [n.strip() for n in opts.text("metrics_list").split(",") if n.strip()]
    metrics = MetricsConfig(
        enable=opts.flag("metrics_enable"),
        metrics_list=parse_metrics_list(metrics_names, "--metrics_list"),
    )
    cleaner = opts.number(
        "custom_node_resources_cleaner_interval_seconds",
        DEFAULTS.custom_node_resources_cleaner_interval_seconds,
    )
    if cleaner == 0:
        log.warning("--custom_node_resources_cleaner_interval_seconds 0 is not allowed; 1 is used")
        cleaner = 1
    cpu_extension = opts.text("cpu_extension")
    cache_dir = opts.text("cache_dir")
    if not cache_dir and os.path.isdir(default_cache_dir):
        cache_dir = default_cache_dir

    config_path = os.path.join(cwd, opts.text("config_path")) if opts.text("config_path") else None
    monitoring: MetricsConfig | None = None
    if config_path is not None:
        models, metrics, monitoring = _config_mode(opts, config_path, metrics)
    else:
        single = _single_model(opts, cwd)
        models = (single, *graph_subconfig_models(single))

    grpc_workers = _grpc_workers(opts.number("grpc_workers", DEFAULTS.grpc_workers), env)
    rest_workers = opts.number("rest_workers") if opts.has("rest_workers") else None
    return ServerConfig(
        processes=_processes(grpc_workers, rest_workers, cores),
        port=opts.number("port", DEFAULTS.port),
        rest_port=opts.number("rest_port", DEFAULTS.rest_port),
        grpc_bind_address=opts.text("grpc_bind_address", DEFAULTS.grpc_bind_address),
        rest_bind_address=opts.text("rest_bind_address", DEFAULTS.rest_bind_address),
        grpc_workers=grpc_workers,
        rest_workers=rest_workers,
        grpc_max_threads=opts.number("grpc_max_threads") if opts.has("grpc_max_threads") else None,
        grpc_memory_quota=opts.number("grpc_memory_quota", DEFAULTS.grpc_memory_quota),
        grpc_channel_arguments=parse_grpc_channel_arguments(
            opts.text("grpc_channel_arguments"), "--grpc_channel_arguments"
        ),
        log_level=opts.text("log_level", DEFAULTS.log_level),
        log_path=opts.text("log_path") or None,
        file_system_poll_wait_seconds=opts.number(
            "file_system_poll_wait_seconds", DEFAULTS.file_system_poll_wait_seconds
        ),
        sequence_cleaner_poll_wait_minutes=opts.number(
            "sequence_cleaner_poll_wait_minutes", DEFAULTS.sequence_cleaner_poll_wait_minutes
        ),
        sequence_cleaner_poll_wait_seconds=(
            opts.number("sequence_cleaner_poll_wait_seconds")
            if opts.has("sequence_cleaner_poll_wait_seconds")
            else None
        ),
        shutdown_grace_seconds=opts.number("shutdown_grace_seconds", DEFAULTS.shutdown_grace_seconds),
        max_request_bytes=opts.number("max_request_bytes", DEFAULTS.max_request_bytes),
        rest_read_timeout_seconds=opts.number(
            "rest_read_timeout_seconds", DEFAULTS.rest_read_timeout_seconds
        ),
        inline_inference_us=opts.number("inline_inference_us", DEFAULTS.inline_inference_us),
        custom_node_resources_cleaner_interval_seconds=cleaner,
        cache_dir=os.path.join(cwd, cache_dir) if cache_dir else None,
        cpu_extension=os.path.join(cwd, cpu_extension) if cpu_extension else None,
        trace_path=opts.text("trace_path") or None,
        metrics=metrics,
        monitoring=monitoring,
        config_path=config_path,
        models=models,
        security=parse_security(
            {name: opts.text(name) for name in SECURITY_TEXT_FLAGS if opts.has(name)},
            opts.flag("allow_credentials"),
            env,
            cwd,
        ),
        log_format=parse_log_format(opts.text("log_format", DEFAULTS.log_format)),
        tracing=parse_tracing(
            opts.flag("tracing_enable"),
            opts.text("tracing_endpoint"),
            opts.text("tracing_protocol"),
            opts.text("tracing_sample_ratio"),
        ),
        storage=StorageSettings.from_env(env),
    )


# --- validation --------------------------------------------------------------------------------


def _validate(opts: Options, cwd: str, cores: int) -> None:
    """OVMS's checks, in OVMS's order, then the ones ovserve adds."""
    config_path = opts.text("config_path")
    single = bool(opts.text("model_name")) or bool(opts.text("model_path"))
    if config_path and single:
        raise ConfigError("--config_path", "Use either config_path or model_path with model_name")
    if not config_path and not (opts.text("model_name") and opts.text("model_path")):
        missing = "--model_path" if opts.text("model_name") else "--model_name"
        raise ConfigError(
            missing if single else "--config_path", "Use config_path or model_path with model_name"
        )
    if config_path:
        for name in _MODEL_PARAMS:
            if (name == "nireq" and opts.number(name) != 0) or (name != "nireq" and opts.text(name)):
                raise ConfigError(f"--{name}", "Model parameters in CLI are exclusive with the config file")
    workers = opts.number("grpc_workers", DEFAULTS.grpc_workers)
    if workers < 1 or workers > cores:
        raise ConfigError(
            "--grpc_workers", f"grpc_workers count should be from 1 to CPU core count : {cores}"
        )
    if opts.has("rest_workers"):
        if not 2 <= opts.number("rest_workers") <= MAX_REST_WORKERS:
            raise ConfigError("--rest_workers", f"rest_workers count should be from 2 to {MAX_REST_WORKERS}")
        if opts.number("rest_port") == 0:
            raise ConfigError(
                "--rest_workers",
                "rest_workers is set but rest_port is not set. rest_port is required to start rest servers",
            )
    port, rest_port = opts.number("port", DEFAULTS.port), opts.number("rest_port", DEFAULTS.rest_port)
    if port > MAX_PORT:
        raise ConfigError("--port", f"port number out of range from 0 to {MAX_PORT}")
    if rest_port > MAX_PORT:
        raise ConfigError("--rest_port", f"rest_port number out of range from 0 to {MAX_PORT}")
    if opts.flag("metrics_enable") and rest_port == 0:
        raise ConfigError(
            "--metrics_enable", "rest_port setting is missing, metrics are enabled on rest port"
        )
    if not opts.flag("metrics_enable") and opts.text("metrics_list"):
        raise ConfigError(
            "--metrics_list", "metrics_enable setting is missing, required when metrics_list is provided"
        )
    if port == 0 and rest_port == 0:  # OVMS 2025.1+: --port defaults to 0 (no gRPC server)
        raise ConfigError("--port", "port and rest_port cannot both be unset")
    for name in ("rest_bind_address", "grpc_bind_address"):
        if not is_valid_bind_address(opts.text(name, getattr(DEFAULTS, name))):
            raise ConfigError(
                f"--{name}", f"{name} has invalid format: proper hostname or IP address expected."
            )
    if port == rest_port and port != 0:
        raise ConfigError("--port", "port and rest_port cannot have the same values")
    cpu_extension = opts.text("cpu_extension")
    if cpu_extension and not os.path.exists(os.path.join(cwd, cpu_extension)):
        raise ConfigError(
            "--cpu_extension",
            "File path provided as an --cpu_extension parameter does not exists in the filesystem: "
            f"{cpu_extension}",
        )
    if opts.text("log_level", DEFAULTS.log_level) not in LOG_LEVELS:
        raise ConfigError("--log_level", f"log_level should be one of: {', '.join(LOG_LEVELS)}")
    if not opts.flag("stateful") and any(opts.has(name) for name in _STATEFUL_ONLY):
        raise ConfigError(
            f"--{next(name for name in _STATEFUL_ONLY if opts.has(name))}",
            "Setting low_latency_transformation, max_sequence_number and idle_sequence_cleanup require "
            "setting stateful flag for the model.",
        )
    for name in PREPROCESS_SETTINGS:  # OVMS: they need --layout (except with --add_to_config)
        if opts.has(name) and not opts.text("layout"):
            raise ConfigError(
                f"--{name}", f"error parsing options - --{name} parameter requires --layout to be set"
            )


def _config_mode(
    opts: Options, config_path: str, metrics: MetricsConfig
) -> tuple[tuple[ModelConfig, ...], MetricsConfig, MetricsConfig | None]:
    """config.json's models, the metrics to serve, and the file's monitoring section."""
    if opts.has("task"):
        raise ConfigError("--task", "applies to the model of --model_path; set task in config.json")
    for name in ("layout", *PREPROCESS_SETTINGS):
        if opts.has(name):
            log.warning("--%s is ignored with --config_path; set %s in config.json", name, name)
    if opts.has("model_repository_path"):
        log.warning("--model_repository_path is used only by --list_models and --add_to_config")
    loaded = load_config_file(config_path)
    if loaded.metrics is None:
        return loaded.models, metrics, None
    if metrics.enable:
        raise ConfigError(
            "--metrics_enable", "Metrics configuration duplicated in configuration file and CLI parameters"
        )
    if loaded.metrics.enable and opts.number("rest_port", DEFAULTS.rest_port) == 0:
        raise ConfigError(
            "monitoring.metrics.enable",
            "Missing rest_port parameter in server CLI - metrics are served on the REST port",
        )
    return loaded.models, loaded.metrics, loaded.metrics


def _single_model(opts: Options, cwd: str) -> ModelConfig:
    """The model of single-model mode, from --model_name, --model_path and the model flags."""
    batch_size = parse_batch_size(opts.text("batch_size"), "--batch_size")
    shape = parse_shape_setting(opts.text("shape"), "--shape")
    if batch_size is not None and shape is not None:
        log.warning("both --shape and --batch_size are set; --batch_size is ignored")
        batch_size = None
    stateful = _stateful(opts, batch_size, shape)
    base_path = resolve_base_path(opts.text("model_path"), cwd, "--model_path")
    graph = graph_entry_reason({"base_path": base_path}, cwd)  # a directory with graph.pbtxt
    return ModelConfig(
        name=opts.text("model_name"),
        base_path=base_path,
        graph_path=graph_file(base_path) if graph else None,
        batch_size=batch_size,
        shape=shape,
        layout=parse_layout_setting(opts.text("layout"), "--layout"),
        version_policy=parse_version_policy(opts.text("model_version_policy"), "--model_version_policy"),
        nireq=opts.number("nireq", 0),
        target_device=opts.text("target_device") or "CPU",
        plugin_config=parse_plugin_config(opts.text("plugin_config"), "--plugin_config"),
        stateful=stateful,
        preprocess=parse_preprocess(
            {name: opts.text(name) for name in PREPROCESS_SETTINGS if opts.has(name)}, "--"
        ),
        generative=parse_task_settings(  # --task and its options: served by OpenVINO GenAI
            {name: opts.value(name) for name in ("task", *GENERATIVE_OPTIONS) if opts.has(name)},
            "--",
            "--task",
        ),
    )


def _stateful(opts: Options, batch_size: object, shape: object) -> StatefulConfig | None:
    """--stateful and its flags (already checked to come with --stateful), as config.json's keys."""
    if not opts.flag("stateful"):
        return None
    defaults = StatefulConfig()
    stateful = StatefulConfig(
        max_sequence_number=opts.number("max_sequence_number", defaults.max_sequence_number),
        idle_sequence_cleanup=opts.flag("idle_sequence_cleanup", defaults.idle_sequence_cleanup),
        low_latency_transformation=opts.flag(
            "low_latency_transformation", defaults.low_latency_transformation
        ),
    )
    check_stateful_model(stateful, batch_size, shape, False, "")
    return stateful


def _grpc_workers(workers: int, env: Mapping[str, str]) -> int:
    """``GRPC_SERVERS`` (an integer > 0, spaces ignored) overrides --grpc_workers, as in OVMS."""
    raw = "".join(env.get("GRPC_SERVERS", "").split())
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= UINT32_MAX:
        return int(raw)
    return workers


def _processes(grpc_workers: int, rest_workers: int | None, cores: int) -> int:
    """Serving processes: the larger worker count, at most one per core.

    OVMS counts gRPC servers and REST threads; a Python front end uses one core per
    process, so ovserve runs that many processes, each serving both ports.
    """
    wanted = max(grpc_workers, rest_workers or 1)
    if wanted > cores:
        log.warning(
            "%d workers asked for, %d CPU cores: %d serving processes are started", wanted, cores, cores
        )
        return cores
    return wanted
