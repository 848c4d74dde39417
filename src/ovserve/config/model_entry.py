"""One ``model_config_list`` entry of config.json: its schema, its values, a frozen :class:`ModelConfig`.

The schema is OVMS's (``additionalProperties: false``, the same required keys and types): a
violation raises :class:`ConfigSchemaError` and rejects the whole file. An entry whose values
are wrong (a shape or layout that does not parse, a bad plugin config, ...) becomes, through
:func:`entry_or_invalid`, a :class:`ModelConfig` with ``invalid`` set, as in OVMS. Stateful
models take OVMS's keys and checks (:func:`parse_stateful`); ``dynamic_batching`` is
ovserve's extension. The command line's single model shares :func:`resolve_base_path` and
:func:`check_stateful_model`.
"""

from __future__ import annotations

import logging
import os
import re

from ovserve.config.genai import OPTIONS as GENERATIVE_OPTIONS
from ovserve.config.genai import parse_task_settings
from ovserve.config.graphs import CLOUD_PREFIXES, graph_entry, graph_entry_reason
from ovserve.config.preprocessing import parse_preprocess
from ovserve.config.schema import ConfigSchemaError
from ovserve.config.schema import as_array as _array
from ovserve.config.schema import as_boolean as _boolean
from ovserve.config.schema import as_integer as _integer
from ovserve.config.schema import as_object as _object
from ovserve.config.schema import as_string as _string
from ovserve.config.schema import check_keys as _check_keys
from ovserve.config.syntax import (
    BatchSize,
    json_type,
    parse_batch_size,
    parse_layout_setting,
    parse_plugin_config,
    parse_shape_setting,
    parse_version_policy,
)
from ovserve.config.types import BatchingConfig, ModelConfig, StatefulConfig
from ovserve.errors import BASE_PATH_INVALID, ConfigError
from ovserve.tensors import Dim

log = logging.getLogger("ovserve.config")  # config.file's logger, as before the split

NON_STATEFUL_PARAMETER = "Stateful model config parameter used for non stateful model"
MAX_SEQUENCE_NUMBER_TOO_HIGH = "Sequence max number parameter too high"
DYNAMIC_ON_STATEFUL = "Dynamic shape and dynamic batch size are not supported for stateful models"
_MODEL_KEYS = (
    "name",
    "base_path",
    "batch_size",
    "model_version_policy",
    "shape",
    "layout",
    "nireq",
    "target_device",
    "allow_cache",
    "plugin_config",
    "stateful",
    "idle_sequence_cleanup",
    "low_latency_transformation",
    "max_sequence_number",
    "custom_loader_options",
    "graph_path",  # OVMS 2025+: the entry is a MediaPipe graph
    "subconfig",
    "mean",  # OVMS 2026: preprocessing built into the model
    "scale",
    "color_format",
    "precision",
    "dynamic_batching",  # ovserve's extension (not in OVMS's schema)
    # ovserve's extension: a generative model, as OVMS's --task and its options (config/genai.py)
    "task",
    *GENERATIVE_OPTIONS,
)
#: Keys that only a stateful model may have.
_STATEFUL_ONLY_KEYS = ("idle_sequence_cleanup", "low_latency_transformation", "max_sequence_number")
_UINT32_MAX = 2**32 - 1
_INT32_MAX = 2**31 - 1


def entry_or_invalid(entry: object, key: str, base_dir: str) -> ModelConfig:
    """:func:`parse_model_entry`, with an error in the entry's values kept as the entry's ``invalid``."""
    cfg = _check_entry_schema(entry, key)
    try:
        return _parse_model(cfg, f"{key}.config", base_dir)
    except ConfigSchemaError:
        raise
    except ConfigError as exc:
        log.error("config.json: model %s is not served, its entry is invalid: %s", cfg["name"], exc)
        raw_path = cfg.get("base_path")
        return ModelConfig(
            name=str(cfg["name"]), base_path=raw_path if isinstance(raw_path, str) else "", invalid=str(exc)
        )


def _check_entry_schema(entry: object, key: str) -> dict[str, object]:
    """The structure OVMS's schema checks, for one ``model_config_list`` item; its ``config`` object."""
    item = _object(entry, key, "an object with a 'config' key")
    _check_keys(item, ("config",), ("config",), key)
    key = f"{key}.config"
    cfg = _object(item["config"], key, "an object")
    _check_keys(cfg, _MODEL_KEYS, ("name",), key)
    if _string(cfg["name"], f"{key}.name") == "":
        raise ConfigSchemaError(f"{key}.name", "must not be empty")
    for name in ("base_path", "graph_path", "subconfig", "target_device"):
        if name in cfg:
            _string(cfg[name], f"{key}.{name}")
    for name in ("shape", "layout"):
        if name in cfg and not isinstance(cfg[name], (str, dict)):
            raise ConfigSchemaError(
                f"{key}.{name}", f"expected a string or an object, got {json_type(cfg[name])}"
            )
    for name in ("model_version_policy", "plugin_config"):
        if name in cfg:
            _object(cfg[name], f"{key}.{name}", "an object")
    if "nireq" in cfg:
        _integer(cfg["nireq"], f"{key}.nireq", minimum=0)
    if "allow_cache" in cfg:
        _boolean(cfg["allow_cache"], f"{key}.allow_cache")
    return cfg


def parse_model_entry(entry: object, key: str, base_dir: str) -> ModelConfig:
    """One ``model_config_list`` item ``{"config": {...}}``; ``key`` is its path, ``model_config_list[i]``."""
    return _parse_model(_check_entry_schema(entry, key), f"{key}.config", base_dir)


def _parse_model(cfg: dict[str, object], key: str, base_dir: str) -> ModelConfig:
    """The values of one entry's ``config`` object, its schema already checked; ``key`` is its path."""
    name = str(cfg["name"])
    graph = graph_entry_reason(cfg, base_dir)
    if graph is not None:
        return graph_entry(cfg, base_dir, graph)
    base_path = resolve_base_path(_string(cfg["base_path"], f"{key}.base_path"), base_dir, f"{key}.base_path")

    stateful = parse_stateful(cfg, key)
    if "custom_loader_options" in cfg:
        _object(cfg["custom_loader_options"], f"{key}.custom_loader_options", "an object")
        raise ConfigError(f"{key}.custom_loader_options", "custom loaders are not supported")

    batch_size = parse_batch_size(cfg["batch_size"], f"{key}.batch_size") if "batch_size" in cfg else None
    shape = parse_shape_setting(cfg["shape"], f"{key}.shape") if "shape" in cfg else None
    layout = parse_layout_setting(cfg["layout"], f"{key}.layout") if "layout" in cfg else None
    if batch_size is not None and shape is not None:
        log.warning("%s: both shape and batch_size are set; batch_size is ignored", key)
        batch_size = None
    policy_key = f"{key}.model_version_policy"
    if "model_version_policy" in cfg:
        _object(cfg["model_version_policy"], policy_key, "an object")
        policy = parse_version_policy(cfg["model_version_policy"], policy_key)
    else:
        policy = parse_version_policy("", policy_key)
    plugin_config: dict[str, str] = {}
    if "plugin_config" in cfg:
        _object(cfg["plugin_config"], f"{key}.plugin_config", "an object")
        plugin_config = parse_plugin_config(cfg["plugin_config"], f"{key}.plugin_config")
    batching = None
    if "dynamic_batching" in cfg:
        batching = _parse_dynamic_batching(cfg["dynamic_batching"], f"{key}.dynamic_batching", batch_size)
    check_stateful_model(stateful, batch_size, shape, batching is not None, key)

    return ModelConfig(
        name=name,
        base_path=base_path,
        batch_size=batch_size,
        shape=shape,
        layout=layout,
        version_policy=policy,
        nireq=_integer(cfg.get("nireq", 0), f"{key}.nireq", minimum=0),
        target_device=_string(cfg.get("target_device", "CPU"), f"{key}.target_device"),
        plugin_config=plugin_config,
        allow_cache=_boolean(cfg.get("allow_cache", False), f"{key}.allow_cache"),
        dynamic_batching=batching,
        stateful=stateful,
        preprocess=parse_preprocess(cfg, f"{key}."),
        generative=parse_task_settings(cfg, f"{key}.", "task"),  # ovserve's extension: --task's keys
    )


def resolve_base_path(path: str, base_dir: str, key: str) -> str:
    """A model's base path: cloud URLs and absolute paths as they are, relative ones under ``base_dir``.

    A ``..`` segment is refused (OVMS forbids escaping with ``..``), as is an empty path
    and a URL scheme OVMS does not read.
    """
    if path == "":
        raise ConfigError(key, f"{BASE_PATH_INVALID} - empty path")
    if any(segment == ".." for segment in re.split(r"[/\\]", path)):
        raise ConfigError(key, f"{BASE_PATH_INVALID} - path escape with .. is forbidden: {path}")
    if path.startswith(CLOUD_PREFIXES):
        return path
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*)://", path)
    if scheme:
        raise ConfigError(
            key,
            f"{BASE_PATH_INVALID} - unsupported storage URL scheme {scheme.group(1)}://; "
            f"use {', '.join(CLOUD_PREFIXES)}",
        )
    if os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def parse_stateful(cfg: dict[str, object], key: str) -> StatefulConfig | None:
    """``stateful`` and its keys in one model entry (OVMS's checks); None for a stateless model.

    Types first (OVMS's schema: booleans, ``max_sequence_number`` an unsigned 32-bit
    integer), then: ``idle_sequence_cleanup``, ``low_latency_transformation`` and
    ``max_sequence_number`` need ``stateful: true``.
    """
    defaults = StatefulConfig()
    stateful = _boolean(cfg["stateful"], f"{key}.stateful") if "stateful" in cfg else False
    number = defaults.max_sequence_number
    if "max_sequence_number" in cfg:
        number = _integer(cfg["max_sequence_number"], f"{key}.max_sequence_number", minimum=0)
        if number > _UINT32_MAX:
            raise ConfigError(f"{key}.max_sequence_number", f"{MAX_SEQUENCE_NUMBER_TOO_HIGH}: {number}")
    cleanup, low_latency = defaults.idle_sequence_cleanup, defaults.low_latency_transformation
    if "idle_sequence_cleanup" in cfg:
        cleanup = _boolean(cfg["idle_sequence_cleanup"], f"{key}.idle_sequence_cleanup")
    if "low_latency_transformation" in cfg:
        low_latency = _boolean(cfg["low_latency_transformation"], f"{key}.low_latency_transformation")
    if stateful:
        return StatefulConfig(number, cleanup, low_latency)
    given = [name for name in _STATEFUL_ONLY_KEYS if name in cfg]
    if given:
        raise ConfigError(
            f"{key}.{given[0]}", f'{NON_STATEFUL_PARAMETER} - {given[0]} needs "stateful": true'
        )
    return None


def check_stateful_model(
    stateful: StatefulConfig | None, batch_size: object, shape: object, batched: bool, key: str
) -> None:
    """A stateful model takes no ``auto`` shape or batch size (as OVMS) and no dynamic batching.

    ``key`` is the model entry's path in config.json; empty for the command line.
    """
    if stateful is None:
        return
    shapes = shape.values() if isinstance(shape, dict) else [shape]
    if batch_size == "auto" or "auto" in shapes:
        raise ConfigError(f"{key}.stateful" if key else "--stateful", DYNAMIC_ON_STATEFUL)
    if batched:
        raise ConfigError(
            f"{key}.dynamic_batching",
            "stateful models cannot be batched: each request runs one step of its own sequence",
        )


_BATCHING_KEYS = (
    "max_batch_size",
    "max_queue_delay_microseconds",
    "preferred_batch_sizes",
    "max_queue_size",
    "timeout_microseconds",
    "adaptive_queue_delay",
)


def _parse_dynamic_batching(value: object, key: str, batch_size: BatchSize | None) -> BatchingConfig:
    """``dynamic_batching``: ovserve's extension; ``batch_size`` (if set) must take 1 to max_batch_size."""
    obj = _object(value, key, "an object")
    _check_keys(obj, _BATCHING_KEYS, ("max_batch_size",), key)
    max_batch = _integer(obj["max_batch_size"], f"{key}.max_batch_size", minimum=1)
    if max_batch > _INT32_MAX:
        raise ConfigError(f"{key}.max_batch_size", f"must be <= {_INT32_MAX}, got {max_batch}")
    preferred: set[int] = set()
    for i, item in enumerate(_array(obj.get("preferred_batch_sizes", []), f"{key}.preferred_batch_sizes")):
        size = _integer(item, f"{key}.preferred_batch_sizes[{i}]", minimum=1)
        if size > max_batch:
            raise ConfigError(
                f"{key}.preferred_batch_sizes[{i}]", f"must be <= max_batch_size ({max_batch}), got {size}"
            )
        preferred.add(size)
    if isinstance(batch_size, Dim) and not (batch_size.accepts(1) and batch_size.accepts(max_batch)):
        raise ConfigError(
            f"{key}.max_batch_size",
            f"batch_size {batch_size} cannot take batches of 1 to {max_batch} rows; "
            "leave batch_size unset (batching makes the batch dimension dynamic) or give a range",
        )
    return BatchingConfig(
        max_batch_size=max_batch,
        max_queue_delay_microseconds=_integer(
            obj.get("max_queue_delay_microseconds", 0), f"{key}.max_queue_delay_microseconds", minimum=0
        ),
        preferred_batch_sizes=tuple(sorted(preferred)),
        max_queue_size=_integer(obj.get("max_queue_size", 0), f"{key}.max_queue_size", minimum=0),
        timeout_microseconds=_integer(
            obj.get("timeout_microseconds", 0), f"{key}.timeout_microseconds", minimum=0
        ),
        adaptive_queue_delay=_boolean(obj.get("adaptive_queue_delay", True), f"{key}.adaptive_queue_delay"),
    )
