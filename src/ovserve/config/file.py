"""config.json: read, validate against OVMS's schema, and turn into frozen :class:`ModelConfig` objects.

The schema is OVMS's: ``additionalProperties: false`` at every level, the same
required keys and types. A violation of the structure (an unknown key, a wrong JSON
type, a missing required key) rejects the whole file with a :class:`ConfigSchemaError`
whose key is the path of the offending setting, e.g. ``model_config_list[0].config.shape``.
As in OVMS, an entry whose values are wrong (a shape or layout that does not parse, a
bad plugin config, ...) does not reject the file: it becomes a :class:`ModelConfig` with
``invalid`` set (the model is not served, its status says why) and the other entries apply.

MediaPipe graph entries -- ``mediapipe_config_list`` items, and ``model_config_list``
items with ``graph_path`` or ``subconfig``, without ``base_path``, or whose base path
holds a ``graph.pbtxt`` (OVMS 2025+) -- are read by :mod:`ovserve.config.graphs` and served by
the graph sources (``ovserve.pipelines.mediapipe``, and ``ovserve.genai`` for OVMS's LLM,
embeddings and rerank graphs). Pipelines (``pipeline_config_list``) and custom
node libraries (``custom_node_library_config_list``) are read by :mod:`ovserve.config.pipeline_entries`,
each ``model_config_list`` entry by :mod:`ovserve.config.model_entry` (stateful models take OVMS's keys
and checks there); custom loaders are accepted only as an empty list.

Reading the file is the only I/O; :func:`parse_config_text` and
:func:`parse_config` do the rest and are what a hot reload calls on content it has
already read.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

from ovserve.config.graphs import CLOUD_PREFIXES as CLOUD_PREFIXES
from ovserve.config.graphs import GRAPH_NOT_SERVED as GRAPH_NOT_SERVED
from ovserve.config.graphs import graph_list_entry, subconfig_entries
from ovserve.config.model_entry import entry_or_invalid
from ovserve.config.pipeline_entries import parse_libraries, parse_pipelines
from ovserve.config.pipelines import CustomNodeLibraryConfig, PipelineConfig
from ovserve.config.schema import ConfigSchemaError as ConfigSchemaError
from ovserve.config.schema import as_array as _array
from ovserve.config.schema import as_boolean as _boolean
from ovserve.config.schema import as_object as _object
from ovserve.config.schema import as_string as _string
from ovserve.config.schema import check_keys as _check_keys
from ovserve.config.syntax import (
    parse_metrics_list,
)
from ovserve.config.types import MetricsConfig, ModelConfig
from ovserve.errors import ConfigError, InvalidJson

log = logging.getLogger("ovserve.config")

CONFIG_FILE_INVALID = "Configuration file not found or cannot open"
JSON_INVALID = InvalidJson.text


_TOP_KEYS = (
    "model_config_list",
    "pipeline_config_list",
    "custom_node_library_config_list",
    "custom_loader_config_list",
    "mediapipe_config_list",
    "monitoring",
)
#: Sections accepted only as empty lists, with what to say when they are not.
_UNSUPPORTED_SECTIONS = {
    "custom_loader_config_list": "custom loaders are not supported",
}


@dataclass(frozen=True)
class ConfigFile:
    """A parsed config.json: its models (file order, duplicates dropped), ``monitoring``, the document.

    ``models`` holds every named entry, graph entries and invalid ones included (see
    :attr:`ModelConfig.not_served` and :attr:`ModelConfig.invalid`).

    ``metrics`` is None when the file has no ``monitoring`` section. ``raw`` is the
    decoded document as read (for the config status endpoints and debugging).
    ``pipelines`` and ``libraries``: ``pipeline_config_list`` and ``custom_node_library_config_list``.
    """

    models: tuple[ModelConfig, ...]
    metrics: MetricsConfig | None
    raw: object
    pipelines: tuple[PipelineConfig, ...] = ()
    libraries: tuple[CustomNodeLibraryConfig, ...] = ()


def load_config_file(path: str) -> ConfigFile:
    """Read and parse the config.json at ``path`` (a directory means its ``config.json``).

    Relative ``base_path`` values are resolved against the file's directory.
    Raises :class:`ConfigError` (key: the path for I/O and JSON errors, else the
    setting's key path).
    """
    full = config_file_path(path)
    try:
        with open(full, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ConfigError(path, f"{CONFIG_FILE_INVALID} - {err.strerror or err}") from None
    return parse_config_text(data, os.path.dirname(full), source=path)


def parse_config_text(text: str | bytes, base_dir: str, *, source: str = "config.json") -> ConfigFile:
    """Parse config.json content; ``base_dir`` (absolute) anchors relative base paths, ``source`` names it."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            source, f"{JSON_INVALID} - {err.msg}: line {err.lineno} column {err.colno} (char {err.pos})"
        ) from None
    except UnicodeDecodeError as err:
        raise ConfigError(source, f"{JSON_INVALID} - not UTF-8 text: {err}") from None
    return parse_config(doc, base_dir)


def parse_config(doc: object, base_dir: str) -> ConfigFile:
    """Validate a decoded config.json document and build its :class:`ConfigFile`."""
    top = _object(doc, "", "a JSON object at the top level")
    _check_keys(top, _TOP_KEYS, ("model_config_list",), "")
    for section, problem in _UNSUPPORTED_SECTIONS.items():
        if section in top:
            items = _array(top[section], section)
            if items:
                raise ConfigError(section, f"{problem} (leave the list empty)")
    entries = _array(top["model_config_list"], "model_config_list")
    parsed = [
        entry_or_invalid(entry, f"model_config_list[{index}]", base_dir)
        for index, entry in enumerate(entries)
    ]
    graphs = _array(top.get("mediapipe_config_list", []), "mediapipe_config_list")
    parsed += [
        graph_list_entry(item, f"mediapipe_config_list[{i}]", base_dir) for i, item in enumerate(graphs)
    ]
    parsed += _subconfig_models(parsed, [*entries, *graphs])
    models: list[ModelConfig] = []
    seen: set[str] = set()
    for model in parsed:
        if model.name in seen:
            log.warning(
                "Duplicated model names: %s defined in config file. Only first definition will be loaded.",
                model.name,
            )
            continue
        seen.add(model.name)
        models.append(model)
    metrics = _parse_monitoring(top["monitoring"]) if "monitoring" in top else None
    return ConfigFile(
        models=tuple(models),
        metrics=metrics,
        raw=doc,
        pipelines=parse_pipelines(top.get("pipeline_config_list", []), base_dir),
        libraries=parse_libraries(top.get("custom_node_library_config_list", []), base_dir),
    )


def graph_subconfig_models(graph: ModelConfig, subconfig: str | None = None) -> list[ModelConfig]:
    """The models of a graph entry's subconfig (none for a model entry): ``config.graphs.subconfig_entries``
    parsed as ``model_config_list`` items, base paths relative to the graph's base path."""
    entries = subconfig_entries(graph, subconfig, CONFIG_FILE_INVALID)
    return [entry_or_invalid(entry, key, graph.base_path) for key, entry in entries]


def _subconfig_models(parsed: list[ModelConfig], items: list[object]) -> list[ModelConfig]:
    """The models of every graph entry's subconfig (``subconfig``, or ``subconfig.json`` when present)."""
    models: list[ModelConfig] = []
    for model, item in zip(parsed, items, strict=True):
        cfg = item.get("config", item) if isinstance(item, dict) else {}
        named = cfg.get("subconfig") if isinstance(cfg, dict) else None
        models += graph_subconfig_models(model, named if isinstance(named, str) else None)
    return models


def config_file_path(path: str) -> str:
    """The absolute path of config.json for ``--config_path`` (a file, or a directory holding one).

    Symlinks are not resolved: relative base paths are anchored at the directory the user named,
    also when config.json is a symlink into a directory that gets swapped (a Kubernetes ConfigMap).
    """
    full = os.path.abspath(path)
    return os.path.join(full, "config.json") if os.path.isdir(full) else full


def _parse_monitoring(value: object) -> MetricsConfig:
    mon = _object(value, "monitoring", "an object")
    _check_keys(mon, ("metrics",), ("metrics",), "monitoring")
    metrics = _object(mon["metrics"], "monitoring.metrics", "an object")
    _check_keys(metrics, ("enable", "metrics_list"), ("enable",), "monitoring.metrics")
    enable = _boolean(metrics["enable"], "monitoring.metrics.enable")
    names: list[str] = []
    if "metrics_list" in metrics:
        for i, item in enumerate(_array(metrics["metrics_list"], "monitoring.metrics.metrics_list")):
            names.append(_string(item, f"monitoring.metrics.metrics_list[{i}]"))
    families = parse_metrics_list(names, "monitoring.metrics.metrics_list")
    return MetricsConfig(enable=enable, metrics_list=families)
