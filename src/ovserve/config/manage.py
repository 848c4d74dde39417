"""OVMS's configuration management mode: ``--list_models``, ``--add_to_config``, ``--remove_from_config``.

These commands edit or inspect a model repository and exit; they start no server.
They do what OVMS 2026.3 does (``src/config_export_module/config_export.cpp`` and
``src/servables_config_manager_module/listmodels.cpp``):

- ``--list_models`` prints every servable under the repository, one relative path a
  line: a directory holding ``graph.pbtxt`` is a graph; a directory with a numbered
  version directory that holds model files (IR, ONNX, Paddle, TensorFlow, TFLite) is a
  model; other directories are searched deeper. Printed sorted (OVMS's order is a hash
  map's).
- ``--add_to_config`` appends ``{"config": {"name", "base_path", model settings...}}`` to
  ``model_config_list`` (creating the file when it does not exist) and refuses a name
  already listed; ``--remove_from_config`` removes the first entry with that name. Both
  rewrite the whole file pretty-printed with 4 spaces, as OVMS's rapidjson writer does;
  JSON-object settings (shape, layout, model_version_policy, plugin_config) are written as
  objects, other settings as strings, ``nireq`` as a number.

Success prints ``Config updated: <path>`` (exit 0); a failure prints
``<path> error on config update : <OVMS status text>`` (exit 1), both on stdout as OVMS does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ovserve.config.file import CONFIG_FILE_INVALID, config_file_path
from ovserve.config.graphs import GRAPH_FILE
from ovserve.errors import BASE_PATH_INVALID, InvalidJson

EXIT_OK = 0
EXIT_FAILURE = 1

#: Settings --add_to_config writes, in OVMS's order, and how: "json" = object if it parses as one.
ADD_SETTINGS: tuple[tuple[str, Literal["string", "json", "number"]], ...] = (
    ("batch_size", "string"),
    ("shape", "json"),
    ("layout", "json"),
    ("mean", "string"),
    ("scale", "string"),
    ("color_format", "string"),
    ("precision", "string"),
    ("model_version_policy", "json"),
    ("nireq", "number"),
    ("target_device", "string"),
    ("plugin_config", "json"),
)

_NAME_MISSING = "Model with requested name is not found"
_NAME_OCCUPIED = "Given model name is already occupied"

_MODEL_FILE_SETS = ((".xml", ".bin"), (".onnx",), (".pdmodel", ".pdiparams"), (".pb",), (".tflite",))


@dataclass(frozen=True)
class ConfigCommand:
    """One configuration management command, parsed from the command line; :meth:`run` does it."""

    action: Literal["list", "add", "remove"]
    config_path: str = ""
    repository_path: str = ""
    model_name: str = ""
    model_path: str = ""
    #: --add_to_config's model settings as given on the command line (flag name -> text)
    settings: Mapping[str, str | int] = field(default_factory=dict)
    #: the directory relative paths are taken from (the process's working directory); printed
    #: paths stay as given, as OVMS prints them
    base_dir: str = ""

    def run(self) -> tuple[int, str]:
        """Do the command: (exit code, what to print on stdout)."""
        if self.action == "list":
            found = list_servables(os.path.join(self.base_dir, self.repository_path))
            lines = ["Listing models in repository...", f"Model repository path: {self.repository_path}"]
            return EXIT_OK, "\n".join([*lines, *found])
        path = config_file_path(os.path.join(self.base_dir, self.config_path))
        try:
            if self.action == "add":
                add_model(path, self.model_name, self.model_path, self.settings)
            else:
                remove_model(path, self.model_name)
        except ConfigUpdateError as err:
            return EXIT_FAILURE, f"{self.config_path} error on config update : {err}"
        return EXIT_OK, f"Config updated: {self.config_path}"


class ConfigUpdateError(Exception):
    """config.json could not be updated; the message is OVMS's status text."""


# --- list ----------------------------------------------------------------------------------------


def list_servables(repository: str) -> list[str]:
    """Relative paths of the models and graphs under ``repository``, sorted.

    Unreadable directories are skipped, and a directory reached twice (a symlink loop) is
    searched once.
    """
    root = Path(repository)
    found: list[str] = []
    seen: set[Path] = set()
    for entry in _entries(root):
        _walk(entry, root, found, seen)
    return sorted(found)


def _walk(directory: Path, root: Path, found: list[str], seen: set[Path]) -> None:
    try:
        real = directory.resolve()
        if not directory.is_dir() or real in seen:
            return
    except OSError:
        return
    seen.add(real)
    if (directory / GRAPH_FILE).is_file() or _has_model_version(directory):
        found.append(directory.relative_to(root).as_posix())
        return
    for entry in _entries(directory):
        _walk(entry, root, found, seen)


def _entries(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError:  # not a directory, unreadable, gone
        return []


def _has_model_version(directory: Path) -> bool:
    for entry in _entries(directory):
        name = entry.name
        if not (name.isdigit() and not name.startswith("0") and entry.is_dir()):
            continue
        suffixes = {p.suffix for p in _entries(entry) if p.is_file()}
        if any(all(s in suffixes for s in needed) for needed in _MODEL_FILE_SETS):
            return True
    return False


# --- add / remove --------------------------------------------------------------------------------


def add_model(path: str, name: str, model_path: str, settings: Mapping[str, str | int]) -> None:
    """Append the model to ``path``'s model_config_list (creating the file if missing)."""
    entry: dict[str, object] = {"name": name, "base_path": model_path}
    for key, how in ADD_SETTINGS:
        if key not in settings:
            continue
        value = settings[key]
        if how == "json" and isinstance(value, str):
            entry[key] = _object_or_string(value)
        else:
            entry[key] = value
    if not os.path.exists(path):
        _write(path, {"model_config_list": [{"config": entry}]})
        return
    doc, models = _read(path)
    if any(_entry_name(item) == name for item in models):
        raise ConfigUpdateError(_NAME_OCCUPIED)
    models.append({"config": entry})
    _write(path, doc)


def remove_model(path: str, name: str) -> None:
    """Remove the first entry named ``name`` from ``path``'s model_config_list."""
    if not os.path.exists(path):
        raise ConfigUpdateError(BASE_PATH_INVALID)
    doc, models = _read(path)
    for index, item in enumerate(models):
        if _entry_name(item) == name:
            del models[index]
            _write(path, doc)
            return
    raise ConfigUpdateError(_NAME_MISSING)


def _read(path: str) -> tuple[dict[str, object], list[object]]:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except OSError:
        raise ConfigUpdateError(CONFIG_FILE_INVALID) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigUpdateError(InvalidJson.text) from None
    models = doc.get("model_config_list") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(models, list):
        raise ConfigUpdateError(InvalidJson.text)
    return doc, models


def _entry_name(item: object) -> object:
    config = item.get("config") if isinstance(item, dict) else None
    return config.get("name") if isinstance(config, dict) else None


def _object_or_string(text: str) -> object:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, dict) else text


def _write(path: str, doc: object) -> None:
    text = json.dumps(doc, indent=4, ensure_ascii=False)
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError:
        raise ConfigUpdateError(CONFIG_FILE_INVALID) from None
