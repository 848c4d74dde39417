"""The import-linter contracts in pyproject.toml cover every top-level unit of src/ovserve.

A new module or package under src/ovserve must be placed in the layers contract (and in the source
list of each third-party fence) before CI passes: this test lists the units on disk and compares.
``make lint`` (lint-imports) then checks the contracts themselves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "ovserve"

#: Each third-party fence: the units allowed to import the fenced libraries directly.
FENCES = {
    "OpenVINO (openvino, openvino_genai, openvino_tokenizers) is imported only in backends": {"backends"},
    "OpenCV (cv2) is imported only in preprocess": {"preprocess"},
    "the server frameworks (grpc, grpc_health, grpc_reflection, uvicorn) only in api, app and the generated stubs": {
        "api",
        "app",
        "_generated",
    },
}


def units_on_disk() -> set[str]:
    """Every top-level module and package of ovserve (the package's own __init__ aside)."""
    units = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    units |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return units


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def layered_units() -> tuple[set[str], set[str]]:
    """The units named in the layers contract: (required, optional)."""
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    required: set[str] = set()
    optional: set[str] = set()
    for layer in layers["layers"]:
        is_optional = layer.startswith("(")
        for name in re.split(r"[|:]", layer.strip("()")):
            unit = name.strip().removeprefix("ovserve.")
            (optional if is_optional else required).add(unit)
    return required, optional


def test_the_layers_contract_names_every_unit() -> None:
    required, optional = layered_units()
    on_disk = units_on_disk()
    assert on_disk - required - optional == set(), "add these units to the layers contract in pyproject.toml"
    assert required - on_disk == set(), "the layers contract names units that do not exist"


def test_each_fence_covers_every_unit_but_the_allowed_ones() -> None:
    on_disk = units_on_disk()
    by_name = {c["name"]: c for c in contracts()}
    for name, allowed in FENCES.items():
        sources = {m.removeprefix("ovserve.") for m in by_name[name]["source_modules"]}
        assert sources == on_disk - allowed, name


def test_the_architecture_map_names_every_unit() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    start = text.index("## Map (start here)")
    the_map = text[start : text.index("\n## ", start + 1)]
    missing = {u for u in units_on_disk() if f"`{u}.py" not in the_map and f"`{u}/" not in the_map}
    assert missing == set(), "describe these units in the Map of docs/architecture.md"
