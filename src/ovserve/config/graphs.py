"""MediaPipe graph entries of config.json (OVMS 2025+).

A graph is a ``mediapipe_config_list`` item, or a ``model_config_list`` item with
``graph_path`` or ``subconfig``, without ``base_path``, or whose local base path holds a
``graph.pbtxt`` (OVMS reads such an entry as a graph when the graph file exists). Each
becomes a :class:`ModelConfig` with ``graph_path`` set to its graph file: OVMS's LLM,
embeddings and rerank graphs are served by ``ovserve.genai``, the others by
``ovserve.pipelines.mediapipe``. ``not_served`` says why an entry is not served when
neither serves it (a graph in object storage, a generative graph that cannot be read).
"""

from __future__ import annotations

import json
import logging
import os

from ovserve.config.schema import ConfigSchemaError, as_array, as_object, as_string, check_keys
from ovserve.config.storage import REMOTE_PREFIXES
from ovserve.config.types import ModelConfig
from ovserve.errors import ConfigError

log = logging.getLogger("ovserve.config")

#: URL prefixes OVMS reads from object storage; any other base path is a local path.
CLOUD_PREFIXES = REMOTE_PREFIXES
GRAPH_FILE = "graph.pbtxt"
SUBCONFIG_FILE = "subconfig.json"
GRAPH_NOT_SERVED = "MediaPipe graphs (graph.pbtxt) in object storage are not served by ovserve"
#: OVMS's generative calculators and the task of each: a graph with one is served by ``ovserve.genai``
#: (``genai/graph.py`` reads it), any other by ``ovserve.pipelines.mediapipe``
GENERATIVE_CALCULATORS: dict[str, str] = {
    "HttpLLMCalculator": "text_generation",
    "EmbeddingsCalculatorOV": "embeddings",
    "RerankCalculatorOV": "rerank",
}
_GRAPH_KEYS = ("name", "base_path", "graph_path", "subconfig")


def graph_entry_reason(cfg: dict[str, object], base_dir: str) -> str | None:
    """Why a ``model_config_list`` entry is a MediaPipe graph entry (OVMS 2025+), or None for a model."""
    if "graph_path" in cfg or "subconfig" in cfg:
        return GRAPH_NOT_SERVED
    raw = cfg.get("base_path")
    if not isinstance(raw, str):
        return GRAPH_NOT_SERVED  # only a graph may leave base_path out
    if raw and not raw.startswith(CLOUD_PREFIXES):
        directory = raw if os.path.isabs(raw) else os.path.join(base_dir, raw)
        if os.path.isfile(os.path.join(directory, GRAPH_FILE)):
            return GRAPH_NOT_SERVED
    return None


def graph_entry(cfg: dict[str, object], base_dir: str, reason: str) -> ModelConfig:
    """A graph entry: its name, its base path (default ``<config dir>/<name>``, as OVMS), why not served."""
    name = str(cfg["name"])
    raw = cfg.get("base_path")
    base = raw if isinstance(raw, str) and raw else name
    path = base if base.startswith(CLOUD_PREFIXES) or os.path.isabs(base) else os.path.join(base_dir, base)
    graph = str(cfg.get("graph_path", GRAPH_FILE))
    if path.startswith(CLOUD_PREFIXES):
        log.warning("config.json: graph %s (%s) is not served: %s", name, graph, reason)
        return ModelConfig(name=name, base_path=path, not_served=f"{reason}: {graph}")
    return ModelConfig(name=name, base_path=os.path.normpath(path), graph_path=graph_file(path, graph))


def graph_file(base_path: str, graph_path: str = GRAPH_FILE) -> str:
    """The graph file of a local graph entry: ``graph_path`` (default graph.pbtxt), relative to the base path."""
    return os.path.normpath(graph_path if os.path.isabs(graph_path) else os.path.join(base_path, graph_path))


def graph_list_entry(item: object, key: str, base_dir: str) -> ModelConfig:
    """One ``mediapipe_config_list`` item: ``{"name", "base_path"?, "graph_path"?, "subconfig"?}``."""
    cfg = as_object(item, key, "an object")
    check_keys(cfg, _GRAPH_KEYS, ("name",), key)
    for name in _GRAPH_KEYS:
        if name in cfg:
            as_string(cfg[name], f"{key}.{name}")
    if cfg["name"] == "":
        raise ConfigSchemaError(f"{key}.name", "must not be empty")
    return graph_entry(cfg, base_dir, GRAPH_NOT_SERVED)


def subconfig_file(base_path: str, subconfig: str | None) -> str | None:
    """A local graph entry's subconfig file: ``subconfig`` (relative to the base path, default
    ``subconfig.json``), or None when there is none (OVMS: a missing subconfig is no error)."""
    name = subconfig if subconfig is not None else SUBCONFIG_FILE
    path = os.path.normpath(name if os.path.isabs(name) else os.path.join(base_path, name))
    if os.path.isfile(path):
        return path
    if subconfig is not None:
        log.warning("config.json: the subconfig %s of graph %s does not exist", path, base_path)
    return None


def subconfig_entries(graph: ModelConfig, subconfig: str | None, unreadable: str) -> list[tuple[str, object]]:
    """The ``model_config_list`` items of a graph entry's subconfig, each with its key for messages;
    none for a model entry or a graph without a subconfig. A subconfig that cannot be read or is not
    ``{"model_config_list": [...]}`` raises :class:`ConfigError` naming it (``unreadable``: OVMS's text)."""
    if graph.graph_path is None:
        return []
    path = subconfig_file(graph.base_path, subconfig)
    if path is None:
        return []
    key = f"{graph.name} subconfig {path}"
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError) as err:
        raise ConfigError(key, f"{unreadable} - {err}") from None
    sub = as_object(doc, key, "a JSON object with a model_config_list")
    check_keys(sub, ("model_config_list",), ("model_config_list",), key)
    items = as_array(sub["model_config_list"], f"{key}.model_config_list")
    return [(f"{key}.model_config_list[{i}]", item) for i, item in enumerate(items)]
