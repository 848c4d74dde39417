"""Reading an OpenAI request body: typed fields with messages that name the field.

A bad value raises :class:`InvalidField` (INVALID_ARGUMENT, HTTP 400) whose ``param``
is the field, as OpenAI's error object carries it. Unknown fields are ignored, as
OpenAI's clients send fields a server may not know.
"""

from __future__ import annotations

from typing import Any

import orjson

from ovserve.errors import InvalidInput


class InvalidField(InvalidInput):
    """A request field is missing or has a wrong value."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param


class Body:
    """The decoded JSON object of a request, read field by field."""

    def __init__(self, raw: bytes) -> None:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidField(None, f"The request body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise InvalidField(None, "The request body must be a JSON object")
        self.fields: dict[str, Any] = value

    def has(self, name: str) -> bool:
        return self.fields.get(name) is not None

    def raw(self, name: str) -> Any:
        return self.fields.get(name)

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.fields.get(name)
        if value is None:
            if required:
                raise InvalidField(name, f"The field '{name}' is required")
            return None
        if not isinstance(value, str):
            raise InvalidField(name, f"The field '{name}' must be a string")
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.fields.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise InvalidField(name, f"The field '{name}' must be a boolean")
        return value

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
        value = self.fields.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidField(name, f"The field '{name}' must be an integer")
        _check_range(name, value, minimum, maximum)
        return value

    def number(
        self, name: str, *, minimum: float | None = None, maximum: float | None = None
    ) -> float | None:
        value = self.fields.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidField(name, f"The field '{name}' must be a number")
        _check_range(name, value, minimum, maximum)
        return float(value)

    def obj(self, name: str) -> dict[str, Any] | None:
        value = self.fields.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise InvalidField(name, f"The field '{name}' must be an object")
        return value


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise InvalidField(name, f"The field '{name}' must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidField(name, f"The field '{name}' must be at most {maximum}, got {value}")
