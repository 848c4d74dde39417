"""TF Serving's ``HandleReloadConfigRequest``: a ``ModelServerConfig`` in, the served model list replaced.

Each ``ModelConfig`` of ``model_config_list`` becomes the config.json entry
``{"name", "base_path", "model_version_policy"}`` and goes through the same validation
as config.json (:func:`ovserve.config.model_entry.parse_model_entry`), so a bad name, base
path or policy reads as it would in the file. The list is all or nothing: one bad entry
and nothing is applied (INVALID_ARGUMENT). Then, as in TF Serving, the list *is* the new
configuration: models it does not name are retired, new ones load, and models whose
entry did not change keep serving untouched.

Field by field:

- ``name``, ``base_path``: as in config.json; a relative base path is taken from the
  server's working directory, as TF Serving does.
- ``model_version_policy``: ``latest {num_versions}`` (0 means 1, as in TF Serving),
  ``all {}`` or ``specific {versions}`` (at least one version); unset means latest 1.
- ``model_platform``: must name a format OpenVINO reads (:data:`PLATFORMS`), or be empty.
- ``model_type`` (deprecated), ``version_labels``, ``logging_config``: ignored (ovserve
  ignores labels in requests too).

Settings TF Serving's ``ModelConfig`` cannot express (``plugin_config``, ``shape``,
``nireq``, …) take their defaults. ``custom_model_config`` is UNIMPLEMENTED.
"""

from __future__ import annotations

import logging
import os

from ovserve._generated.tensorflow_serving.config import file_system_storage_path_source_pb2 as fs_pb2
from ovserve._generated.tensorflow_serving.config import model_server_config_pb2 as msc_pb2
from ovserve.api.not_served import not_served_reasons
from ovserve.config.model_entry import parse_model_entry
from ovserve.config.types import ModelConfig
from ovserve.core.manager import ServableManager
from ovserve.errors import ConfigError, InvalidInput, Unimplemented

log = logging.getLogger(__name__)

#: ``model_platform`` values accepted (lower case): formats the OpenVINO backend reads.
PLATFORMS = ("", "openvino", "tensorflow", "tensorflow_lite", "tflite", "onnx", "paddle", "paddlepaddle")

LIST_KEY = "model_config_list"

VersionPolicy = fs_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy


def model_configs(config: msc_pb2.ModelServerConfig, base_dir: str | None = None) -> tuple[ModelConfig, ...]:
    """The models a ``ModelServerConfig`` lists; raises a ``ServingError`` naming the first problem."""
    which = config.WhichOneof("config")
    if which == "custom_model_config":
        raise Unimplemented(
            "ModelServerConfig.custom_model_config is not supported: send model_config_list "
            f"(the request carried {config.custom_model_config.type_url or 'an untyped Any'})"
        )
    if which != "model_config_list":
        raise InvalidInput("ModelServerConfig sets no config: send model_config_list")
    root = os.getcwd() if base_dir is None else base_dir
    models: list[ModelConfig] = []
    where: dict[str, int] = {}
    for index, entry in enumerate(config.model_config_list.config):
        key = f"{LIST_KEY}[{index}]"
        model = parse_model_entry({"config": _entry_json(entry, f"{key}.config")}, key, root)
        if model.name in where:
            raise ConfigError(
                f"{key}.config.name",
                f"model {model.name} is listed twice ({LIST_KEY}[{where[model.name]}] and {key})",
            )
        where[model.name] = index
        models.append(model)
    return tuple(models)


def _entry_json(entry: msc_pb2.ModelConfig, key: str) -> dict[str, object]:
    platform = entry.model_platform
    if platform.lower() not in PLATFORMS:
        raise ConfigError(
            f"{key}.model_platform",
            f"{platform!r} is not a platform ovserve serves; use one of "
            f"{', '.join(p for p in PLATFORMS if p)} or leave it empty",
        )
    if entry.version_labels:
        log.info("%s: version_labels of model %s are ignored", key, entry.name)
    doc: dict[str, object] = {"name": entry.name, "base_path": entry.base_path}
    if entry.HasField("model_version_policy"):
        policy = _policy_json(entry.model_version_policy, f"{key}.model_version_policy")
        if policy is not None:
            doc["model_version_policy"] = policy
    return doc


def _policy_json(policy: VersionPolicy, key: str) -> dict[str, object] | None:
    """The config.json form of a ``ServableVersionPolicy``; None for an empty one (the default)."""
    which = policy.WhichOneof("policy_choice")
    if which == "latest":
        return {"latest": {"num_versions": max(1, policy.latest.num_versions)}}
    if which == "all":
        return {"all": {}}
    if which == "specific":
        versions = list(policy.specific.versions)
        if not versions:
            raise ConfigError(
                f"{key}.specific.versions", "Model version policy is in wrong format - no versions"
            )
        return {"specific": {"versions": versions}}
    return None


def reload_failures(manager: ServableManager, models: tuple[ModelConfig, ...]) -> list[str]:
    """Per model of the new config that is not fully served: why (failed versions, repository errors)."""
    failures: list[str] = []
    for model in models:
        problems = not_served_reasons(manager, model.name)
        if problems:
            failures.append(f"{model.name} ({'; '.join(problems)})")
    return failures
