"""OVMS's config.json schema checks: keys, required keys and JSON types.

A violation is a :class:`ConfigSchemaError` naming the offending key path: the whole file
is refused (OVMS validates the file against its JSON schema before reading any entry).
"""

from __future__ import annotations

from collections.abc import Collection

from ovserve.config.syntax import json_type
from ovserve.errors import ConfigError


class ConfigSchemaError(ConfigError):
    """config.json breaks OVMS's schema (structure, JSON types, required keys): the whole file is refused."""


def check_keys(obj: dict[str, object], allowed: Collection[str], required: Collection[str], key: str) -> None:
    for name in obj:
        if name not in allowed:
            where = f"{key}.{name}" if key else name
            raise ConfigSchemaError(where, f"unknown key; allowed keys here: {', '.join(allowed)}")
    for name in required:
        if name not in obj:
            raise ConfigSchemaError(f"{key}.{name}" if key else name, "required key is missing")


def as_object(value: object, key: str, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ConfigSchemaError(key, f"expected {what}, got {json_type(value)}")
    return value


def as_array(value: object, key: str) -> list[object]:
    if not isinstance(value, list):
        raise ConfigSchemaError(key, f"expected an array, got {json_type(value)}")
    return value


def as_string(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigSchemaError(key, f"expected a string, got {json_type(value)}")
    return value


def as_boolean(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigSchemaError(key, f"expected true or false, got {json_type(value)}")
    return value


def as_integer(value: object, key: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigSchemaError(key, f"expected an integer, got {json_type(value)}")
    if value < minimum:
        raise ConfigSchemaError(key, f"must be >= {minimum}, got {value}")
    return value
