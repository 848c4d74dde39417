"""config.json's ``pipeline_config_list`` and ``custom_node_library_config_list``, read as OVMS reads them.

The structure is OVMS's schema (``additionalProperties: false`` everywhere, the same
required keys and types, ``demultiply_count`` from -1 to 10000, a node of ``type``
"DL model" names a ``model_name`` and no ``library_name``, a "custom" node the other way
round): a violation rejects the whole file with a :class:`ConfigSchemaError` naming the
key path, e.g. ``pipeline_config_list[0].nodes[1].model_name``. ``demultiply_count: 0``
means dynamic, as OVMS reads it (deprecated there in favour of -1).

ovserve's extension: a node of ``type`` "python" runs an ``OvmsPythonModel`` from its
``handler_path`` (relative paths under config.json's directory); it names neither a model
nor a library, and takes no ``params`` (OVMS's handlers get none).

What the graph means (names, cycles, connections, shapes) is checked when the pipeline is
built against the served models (:mod:`ovserve.pipelines`): those problems are the
pipeline's status, not the file's.
"""

from __future__ import annotations

import logging
import os

from ovserve.config.pipelines import (
    CustomNodeLibraryConfig,
    NodeConfig,
    NodeKind,
    NodeOutput,
    PipelineConfig,
    TensorSource,
)
from ovserve.config.schema import ConfigSchemaError, as_array, as_integer, as_object, as_string, check_keys

log = logging.getLogger("ovserve.config")

_PIPELINE_KEYS = ("name", "nodes", "inputs", "outputs", "demultiply_count")
_PIPELINE_REQUIRED = ("name", "nodes", "inputs", "outputs")
_NODE_KEYS = (
    "name",
    "type",
    "model_name",
    "library_name",
    "version",
    "inputs",
    "outputs",
    "params",
    "demultiply_count",
    "gather_from_node",
    "handler_path",  # ovserve's extension: a Python node
)
_NODE_REQUIRED = ("name", "type", "inputs", "outputs")
_LIBRARY_KEYS = ("name", "base_path")
#: node ``type`` -> the key it requires; the other keys of this table it must not have
_KIND_KEYS: dict[str, str] = {"DL model": "model_name", "custom": "library_name", "python": "handler_path"}
_DEMULTIPLY_MAX = 10000
DYNAMIC = -1
#: OVMS's text for one model input fed from two places
MULTIPLE_SOURCES = "Pipeline definition has multiple connections to the same input of underlying model"


def parse_pipelines(value: object, base_dir: str) -> tuple[PipelineConfig, ...]:
    """``pipeline_config_list``: every pipeline in file order; a repeated name keeps the first (as OVMS)."""
    pipelines: list[PipelineConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(as_array(value, "pipeline_config_list")):
        pipeline = parse_pipeline(item, f"pipeline_config_list[{index}]", base_dir)
        if pipeline.name in seen:
            log.warning(
                "Duplicated pipeline names: %s defined in config file. Only first definition will be loaded.",
                pipeline.name,
            )
            continue
        seen.add(pipeline.name)
        pipelines.append(pipeline)
    return tuple(pipelines)


def parse_libraries(value: object, base_dir: str) -> tuple[CustomNodeLibraryConfig, ...]:
    """``custom_node_library_config_list``; relative base paths under config.json's directory."""
    libraries: list[CustomNodeLibraryConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(as_array(value, "custom_node_library_config_list")):
        key = f"custom_node_library_config_list[{index}]"
        obj = as_object(item, key, "an object with 'name' and 'base_path'")
        check_keys(obj, _LIBRARY_KEYS, _LIBRARY_KEYS, key)
        name = _name(obj["name"], f"{key}.name")
        path = as_string(obj["base_path"], f"{key}.base_path")
        if path == "":
            raise ConfigSchemaError(f"{key}.base_path", "must not be empty")
        if name in seen:
            log.warning("Duplicated custom node library names: %s; only the first is loaded", name)
            continue
        seen.add(name)
        libraries.append(CustomNodeLibraryConfig(name, _under(path, base_dir)))
    return tuple(libraries)


def parse_pipeline(item: object, key: str, base_dir: str) -> PipelineConfig:
    """One ``pipeline_config_list`` item; ``key`` is its path.

    A value the schema allows but OVMS refuses when it builds the pipeline (a pipeline input
    declared twice, a tensor connected twice) makes the pipeline ``invalid``, naming it.
    """
    obj = as_object(item, key, "an object")
    check_keys(obj, _PIPELINE_KEYS, _PIPELINE_REQUIRED, key)
    name = _name(obj["name"], f"{key}.name")
    inputs = tuple(
        as_string(entry, f"{key}.inputs[{i}]")
        for i, entry in enumerate(as_array(obj["inputs"], f"{key}.inputs"))
    )
    problems = [
        f"Pipeline {name} has duplicated input declaration: {n}"
        for n in sorted({n for n in inputs if inputs.count(n) > 1})
    ]
    nodes = tuple(
        _node(entry, f"{key}.nodes[{i}]", base_dir, problems)
        for i, entry in enumerate(as_array(obj["nodes"], f"{key}.nodes"))
    )
    repeated: list[str] = []
    outputs = _sources(obj["outputs"], f"{key}.outputs", repeated)
    problems += [f"Pipeline {name} has duplicated output declaration: {n}" for n in repeated]
    invalid = "; ".join(problems) or None
    if invalid:
        log.error("config.json: pipeline %s is not served: %s", name, invalid)
    return PipelineConfig(
        name=name,
        inputs=inputs,
        nodes=nodes,
        outputs=outputs,
        demultiply_count=_demultiply(obj, key),
        invalid=invalid,
    )


def _node(item: object, key: str, base_dir: str, problems: list[str]) -> NodeConfig:
    obj = as_object(item, key, "an object")
    check_keys(obj, _NODE_KEYS, _NODE_REQUIRED, key)
    name = _name(obj["name"], f"{key}.name")
    kind = _kind(obj, key)
    version = None
    if "version" in obj:
        version = as_integer(obj["version"], f"{key}.version", minimum=1)
    params: dict[str, str] = {}
    if "params" in obj and kind == "python":
        raise ConfigSchemaError(
            f"{key}.params", 'not allowed in a node of type "python" (its handler gets none)'
        )
    if "params" in obj:
        for param, text in as_object(obj["params"], f"{key}.params", "an object of strings").items():
            params[param] = as_string(text, f"{key}.params.{param}")
    outputs = tuple(
        _output(entry, f"{key}.outputs[{i}]")
        for i, entry in enumerate(as_array(obj["outputs"], f"{key}.outputs"))
    )
    repeated: list[str] = []
    inputs = _sources(obj["inputs"], f"{key}.inputs", repeated)
    problems += [f"{MULTIPLE_SOURCES} - node: {name} input: {input_name}" for input_name in repeated]
    handler = obj.get("handler_path")
    return NodeConfig(
        name=name,
        kind=kind,
        inputs=inputs,
        outputs=outputs,
        model_name=_optional_string(obj, "model_name", key),
        version=version,
        library_name=_optional_string(obj, "library_name", key),
        handler_path=_under(as_string(handler, f"{key}.handler_path"), base_dir)
        if handler is not None
        else None,
        params=params,
        demultiply_count=_demultiply(obj, key),
        gather_from_node=_optional_string(obj, "gather_from_node", key),
    )


def _kind(obj: dict[str, object], key: str) -> NodeKind:
    """``type``, and the one of ``model_name`` / ``library_name`` / ``handler_path`` it goes with."""
    kind = as_string(obj["type"], f"{key}.type")
    if kind not in _KIND_KEYS:
        raise ConfigSchemaError(
            f"{key}.type", f'unsupported node type "{kind}"; expected one of: {", ".join(_KIND_KEYS)}'
        )
    needed = _KIND_KEYS[kind]
    if needed not in obj:
        raise ConfigSchemaError(f"{key}.{needed}", f'required key is missing (a node of type "{kind}")')
    for other in _KIND_KEYS.values():
        if other != needed and other in obj:
            raise ConfigSchemaError(f"{key}.{other}", f'not allowed in a node of type "{kind}"')
    if kind == "DL model":
        return "DL model"
    return "custom" if kind == "custom" else "python"


def _sources(value: object, key: str, repeated: list[str]) -> dict[str, TensorSource]:
    """A node's ``inputs`` or a pipeline's ``outputs``: ``[{"name": {"node_name", "data_item"}}, ...]``.

    A name given twice is added to ``repeated`` (the last connection is kept).
    """
    sources: dict[str, TensorSource] = {}
    for i, entry in enumerate(as_array(value, key)):
        item_key = f"{key}[{i}]"
        obj = as_object(entry, item_key, 'an object {"<name>": {"node_name": ..., "data_item": ...}}')
        if len(obj) != 1:
            raise ConfigSchemaError(item_key, f"expected exactly one key (the tensor name), got {len(obj)}")
        ((name, source),) = obj.items()
        source_key = f"{item_key}.{name}"
        src = as_object(source, source_key, "an object with 'node_name' and 'data_item'")
        check_keys(src, ("node_name", "data_item"), ("node_name", "data_item"), source_key)
        if name in sources:
            repeated.append(name)
        sources[name] = TensorSource(
            as_string(src["node_name"], f"{source_key}.node_name"),
            as_string(src["data_item"], f"{source_key}.data_item"),
        )
    return sources


def _output(value: object, key: str) -> NodeOutput:
    obj = as_object(value, key, "an object with 'data_item' and 'alias'")
    check_keys(obj, ("data_item", "alias"), ("data_item", "alias"), key)
    return NodeOutput(
        as_string(obj["data_item"], f"{key}.data_item"), as_string(obj["alias"], f"{key}.alias")
    )


def _demultiply(obj: dict[str, object], key: str) -> int | None:
    """``demultiply_count``: None when absent, -1 for dynamic (also given as 0, as OVMS), else N."""
    if "demultiply_count" not in obj:
        return None
    count = as_integer(obj["demultiply_count"], f"{key}.demultiply_count", minimum=DYNAMIC)
    if count > _DEMULTIPLY_MAX:
        raise ConfigSchemaError(f"{key}.demultiply_count", f"must be <= {_DEMULTIPLY_MAX}, got {count}")
    if count == 0:
        log.warning("%s.demultiply_count: 0 means dynamic and is deprecated; use -1", key)
        return DYNAMIC
    return count


def _optional_string(obj: dict[str, object], name: str, key: str) -> str | None:
    return as_string(obj[name], f"{key}.{name}") if name in obj else None


def _name(value: object, key: str) -> str:
    name = as_string(value, key)
    if name == "":
        raise ConfigSchemaError(key, "must not be empty")
    return name


def _under(path: str, base_dir: str) -> str:
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))
