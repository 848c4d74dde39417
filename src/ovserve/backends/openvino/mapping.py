"""Tensor names from the optional ``mapping_config.json`` of a model version directory.

The file renames tensors for every API (KServe and TF Serving metadata, requests and
answers): ``{"inputs": {"<name in the model>": "<exposed name>"}, "outputs": {...}}``, both
keys optional, tensors it does not name keep their own names. The config's ``shape`` and
``layout`` keys then name tensors by their exposed names.

OVMS logs a malformed file and serves the model under its own names; ovserve refuses to
load the version instead, with the problem in the version's status, so that clients never
meet tensor names the operator did not mean to expose.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import openvino as ov

from ovserve.config.types import ModelConfig
from ovserve.errors import LoadError

MAPPING_FILE = "mapping_config.json"
_SECTIONS = ("inputs", "outputs")


@dataclass(frozen=True)
class TensorMapping:
    """Name in the model -> exposed name, for inputs and for outputs (empty: no file)."""

    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)


def read_mapping(version_dir: Path) -> TensorMapping:
    """The mapping in ``version_dir`` (none when there is no file); LoadError when malformed."""
    path = version_dir / MAPPING_FILE
    if not path.exists():
        return TensorMapping()
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{MAPPING_FILE} cannot be read: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise LoadError(f"{MAPPING_FILE} is not a valid JSON file: {exc}") from exc
    if not isinstance(doc, dict):
        raise LoadError(
            f'{MAPPING_FILE} must hold a JSON object {{"inputs": {{...}}, "outputs": {{...}}}}, '
            f"not {type(doc).__name__}"
        )
    unknown = sorted(set(doc) - set(_SECTIONS))
    if unknown:
        raise LoadError(f"{MAPPING_FILE} has unknown keys {unknown}: only inputs and outputs are allowed")
    sections: dict[str, dict[str, str]] = {}
    for section in _SECTIONS:
        names = doc.get(section, {})
        if not isinstance(names, dict):
            raise LoadError(
                f"{MAPPING_FILE}: {section} must be an object of tensor name -> exposed name, "
                f"not {json.dumps(names)}"
            )
        for real, exposed in names.items():
            if not isinstance(exposed, str) or not exposed:
                raise LoadError(
                    f"{MAPPING_FILE}: {section}.{real} must be a non-empty string, not {json.dumps(exposed)}"
                )
        sections[section] = names
    return TensorMapping(sections["inputs"], sections["outputs"])


def rename(
    ports: Sequence[ov.Output], names: Sequence[str], renames: Mapping[str, str], kind: str
) -> list[str]:
    """The exposed names of ``ports`` (whose own names are ``names``), renamed by ``renames``.

    A key of ``renames`` may be any of a tensor's names in the model. ``kind`` is "input"
    or "output", for the messages.
    """
    port_of: dict[str, int] = {}
    for index, (port, name) in enumerate(zip(ports, names, strict=True)):
        for alias in (name, *sorted(port.get_names())):
            port_of.setdefault(alias, index)
    exposed = list(names)
    renamed_by: dict[int, str] = {}
    for real, new in renames.items():
        found = port_of.get(real)
        if found is None:
            raise LoadError(
                f"{MAPPING_FILE}: the model has no {kind} named {real!r} (its {kind}s: {', '.join(names)})"
            )
        if found in renamed_by:
            raise LoadError(
                f"{MAPPING_FILE}: {kind} {names[found]!r} is renamed twice, by {renamed_by[found]!r} and {real!r}"
            )
        renamed_by[found] = real
        exposed[found] = new
    seen: set[str] = set()
    for name in exposed:
        if name in seen:
            raise LoadError(f"{MAPPING_FILE}: two {kind}s would both be named {name!r}")
        seen.add(name)
    return exposed


def exposed_names(
    model: ov.Model,
    input_names: Sequence[str],
    output_names: Sequence[str],
    version_dir: Path,
    config: ModelConfig,
) -> tuple[list[str], list[str]]:
    """The names every API shows for the model's inputs and outputs (port order).

    Also refuses a config whose ``shape`` or ``layout`` names a renamed tensor by its name
    in the model (as OVMS does: those keys use the exposed names).
    """
    mapping = read_mapping(version_dir)
    inputs = rename(model.inputs, input_names, mapping.inputs, "input")
    outputs = rename(model.outputs, output_names, mapping.outputs, "output")
    hidden = {
        real: new
        for real, new in [*zip(input_names, inputs, strict=True), *zip(output_names, outputs, strict=True)]
        if real != new
    }
    hidden = {real: new for real, new in hidden.items() if real not in inputs and real not in outputs}
    for key, what in (("shape", config.shape), ("layout", config.layout)):
        if not isinstance(what, Mapping):
            continue
        for name in what:
            if name in hidden:
                raise LoadError(
                    f"{key.capitalize()} from config has real name. Use mapped name instead: "
                    f"{name!r} is exposed as {hidden[name]!r} by {MAPPING_FILE}"
                )
    return inputs, outputs
