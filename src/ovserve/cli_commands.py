"""The command line of OVMS's configuration management mode, validated as OVMS 2026.3 validates it.

``--list_models``, ``--add_to_config`` and ``--remove_from_config`` turn the command
line into a :class:`~ovserve.config.manage.ConfigCommand` instead of a server.
``OVMS_MODEL_REPOSITORY_PATH`` gives the default ``--model_repository_path`` and, as
``<it>/config.json``, the default ``--config_path``. Errors are :class:`ConfigError`
with OVMS's texts (exit 64). Unlike OVMS, the model settings of ``--add_to_config`` are
checked with the server's own parsers before anything is written, so a setting the
server would refuse never reaches config.json.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from ovserve.config.manage import ADD_SETTINGS, ConfigCommand
from ovserve.config.preprocessing import parse_preprocess
from ovserve.config.syntax import (
    parse_batch_size,
    parse_layout_setting,
    parse_plugin_config,
    parse_shape_setting,
    parse_version_policy,
)
from ovserve.errors import ConfigError
from ovserve.flags import FLAGS

Value = str | int | bool

REPOSITORY_ENV = "OVMS_MODEL_REPOSITORY_PATH"
#: the model flags --add_to_config writes (besides model_name, model_path, config_path)
ADD_ALLOWED = tuple(name for name, _ in ADD_SETTINGS)
_MODEL_ARGUMENTS = tuple(flag.name for flag in FLAGS if flag.group in ("single model", "multi model"))


def config_command(given: Mapping[str, Value], env: Mapping[str, str], cwd: str) -> ConfigCommand | None:
    """The configuration management command the flags ask for, or None for a server."""
    listing = given.get("list_models") is True
    adding = given.get("add_to_config") is True
    removing = given.get("remove_from_config") is True
    if not (listing or adding or removing):
        return None
    if adding and listing:
        raise ConfigError("--list_models", "--list_models cannot be used with --add_to_config")
    if removing and listing:
        raise ConfigError("--list_models", "--list_models cannot be used with --remove_from_config")
    if removing and "model_path" in given:
        raise ConfigError("--model_path", "--model_path cannot be used with --remove_from_config")
    env_repository = env.get(REPOSITORY_ENV, "")
    repository = str(given.get("model_repository_path", env_repository))
    if listing:
        if not repository:
            raise ConfigError("--list_models", "Use --list_models with --model_repository_path")
        return ConfigCommand("list", repository_path=repository, base_dir=cwd)
    default_config = os.path.join(env_repository, "config.json") if env_repository else ""
    config_path = str(given.get("config_path", default_config))
    if not config_path:
        raise ConfigError("--config_path", "Set config_path with add_to_config/remove_from_config")
    name = str(given.get("model_name", ""))
    if not name:
        raise ConfigError("--model_name", "Set model_name with add_to_config/remove_from_config")
    used = [arg for arg in _MODEL_ARGUMENTS if arg in given and arg not in ("model_name", "config_path")]
    if removing:  # OVMS: --remove_from_config wins when both directives are given
        if used:
            raise ConfigError(
                f"--{used[0]}",
                "Removing models from the configuration file allows passing only model_name parameter. "
                f"Invalid parameters passed: {', '.join(used)}",
            )
        return ConfigCommand("remove", config_path=config_path, model_name=name, base_dir=cwd)
    return replace(_add_command(given, config_path, name, repository, used), base_dir=cwd)


def _add_command(
    given: Mapping[str, Value], config_path: str, name: str, repository: str, used: list[str]
) -> ConfigCommand:
    refused = [arg for arg in used if arg not in (*ADD_ALLOWED, "model_path")]
    if refused:
        raise ConfigError(
            f"--{refused[0]}",
            f"Adding models to the configuration file does not support parameters: {', '.join(refused)}",
        )
    model_path = str(given.get("model_path", ""))
    if not model_path and repository:
        model_path = os.path.join(repository, name)
    if not model_path:
        raise ConfigError(
            "--model_path",
            "Set model_name either with model_path or model_repository_path with add_to_config",
        )
    settings = {key: given[key] for key in ADD_ALLOWED if key in given and given[key] != ""}
    if settings.get("nireq") == 0:
        del settings["nireq"]
    _check_settings(settings)
    return ConfigCommand(
        "add",
        config_path=config_path,
        model_name=name,
        model_path=model_path,
        settings={k: v for k, v in settings.items() if not isinstance(v, bool)},
    )


def _check_settings(settings: Mapping[str, Value]) -> None:
    """Refuse what the server would refuse when it reads the entry back."""
    parse_batch_size(str(settings.get("batch_size", "")), "--batch_size")
    parse_shape_setting(str(settings.get("shape", "")), "--shape")
    parse_layout_setting(str(settings.get("layout", "")), "--layout")
    parse_version_policy(str(settings.get("model_version_policy", "")), "--model_version_policy")
    parse_plugin_config(str(settings.get("plugin_config", "")), "--plugin_config")
    parse_preprocess(settings, "--")
