"""OVMS 2026's preprocessing settings: ``mean``, ``scale``, ``color_format``, ``precision``.

The syntaxes are OVMS's (``src/modelconfig.cpp``, ``color_format_configuration.cpp``,
``precision_configuration.cpp`` at v2026.3): a float, or ``[a,b,c]`` / ``(a,b,c)``
(spaces ignored); ``A:B`` color formats and precisions, case-insensitive. Each setting
is a string in config.json too (as ``--add_to_config`` writes it); a JSON number or
array of numbers is accepted as well.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from ovserve.config.types import PreprocessSpec
from ovserve.errors import ConfigError

COLOR_FORMATS = ("RGB", "BGR", "GRAY", "NV12", "NV12_2", "I420", "I420_3")
PRECISIONS = (
    "BF16", "FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8", "INT4",
    "UINT64", "UINT32", "UINT16", "UINT8", "UINT4", "UINT1",
)  # fmt: skip
SETTINGS = ("mean", "scale", "color_format", "precision")


def parse_preprocess(values: Mapping[str, object], key_prefix: str) -> PreprocessSpec | None:
    """The preprocessing settings among ``values`` (setting name -> raw value); None when none is set.

    ``key_prefix`` names where they come from: ``"--"`` for flags, ``"model_config_list[0].config."``
    for config.json.
    """
    given = {name: values[name] for name in SETTINGS if name in values and values[name] not in ("", None)}
    if not given:
        return None
    return PreprocessSpec(
        mean=_floats(given.get("mean"), f"{key_prefix}mean"),
        scale=_floats(given.get("scale"), f"{key_prefix}scale", nonzero=True),
        color_format=_pair(given.get("color_format"), f"{key_prefix}color_format", COLOR_FORMATS),
        precision=_pair(given.get("precision"), f"{key_prefix}precision", PRECISIONS),
    )


def _floats(value: object, key: str, *, nonzero: bool = False) -> float | tuple[float, ...] | None:
    """One float, or a tuple of them for ``[a,b,c]`` / ``(a,b,c)`` / a JSON array."""
    if value is None:
        return None
    parts: list[object] | None = None
    if isinstance(value, list):
        parts = list(value)
    elif isinstance(value, str):
        text = "".join(value.split())
        if len(text) >= 2 and (text[0], text[-1]) in (("[", "]"), ("(", ")")):
            parts = list(text[1:-1].split(","))
        else:
            value = text
    numbers = tuple(_float(part, key) for part in (parts if parts is not None else [value]))
    if nonzero and 0.0 in numbers:
        raise ConfigError(key, "The provided scale is in wrong format - a scale of 0 divides by zero")
    return numbers if parts is not None else numbers[0]


def _float(part: object, key: str) -> float:
    if isinstance(part, bool):
        raise ConfigError(key, f"Wrong format of float value - expected a number, got {json.dumps(part)}")
    try:
        number = float(part)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(
            key, f"Wrong format of float value - expected a number or [a,b,c], got {part!r}"
        ) from None
    if not math.isfinite(number):
        raise ConfigError(key, f"Wrong format of float value - {part!r} is not finite")
    return number


def _pair(value: object, key: str, names: tuple[str, ...]) -> tuple[str, str] | None:
    if value is None:
        return None
    what = "color format" if names is COLOR_FORMATS else "precision"
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(
            key,
            f"The provided {what} is in wrong format - expected A:B, e.g. "
            f"{'BGR:RGB' if names is COLOR_FORMATS else 'UINT8:FP32'}, got {json.dumps(value)}",
        )
    first, _, second = value.upper().partition(":")
    for part in (first, second):
        if part not in names:
            raise ConfigError(
                key,
                f"The provided {what} is in wrong format - {part or '(empty)'} is not one of "
                f"{', '.join(names)}",
            )
    return first, second
