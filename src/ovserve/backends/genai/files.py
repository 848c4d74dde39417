"""What the config files of an exported GenAI model directory say (read as OVMS reads them)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: config.json fields OVMS takes the context length from, in its order
_CONTEXT_FIELDS = (
    "max_position_embeddings",
    "n_positions",
    "seq_len",
    "seq_length",
    "n_ctx",
    "sliding_window",
)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} when it is missing or unreadable (logged)."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("%s: not read (%s)", path, exc)
        return {}
    return value if isinstance(value, dict) else {}


def context_length(directory: Path) -> int | None:
    """The model's context length from its config.json, as OVMS finds it; None if none is given."""
    config = read_json(directory / "config.json")
    for name in _CONTEXT_FIELDS:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def plugin_properties(plugin_config: Mapping[str, str]) -> dict[str, Any]:
    """The model's plugin_config as OpenVINO properties (values as given)."""
    return dict(plugin_config)
