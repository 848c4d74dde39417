"""OVMS's value syntaxes, shared by the command line and config.json.

Each parser takes the raw value (a command-line string, or the JSON value that
config.json holds) and the ``key`` naming the setting, and returns the frozen value
that :mod:`ovserve.config.types` declares, or raises :class:`ConfigError` whose key
is ``key`` and whose problem starts with OVMS's status text where OVMS has one
(``The provided shape is in wrong format`` ...), followed by `` - <what is wrong>``.

Pure functions: no I/O, no global state; warnings go to the ``ovserve.config`` logger.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from ovserve.config.types import (
    DEFAULT_METRIC_FAMILIES,
    OPTIONAL_METRIC_FAMILIES,
    OVSERVE_METRIC_FAMILIES,
    LayoutSpec,
    ShapeSpec,
    VersionPolicy,
)
from ovserve.errors import ConfigError
from ovserve.tensors import Dim

log = logging.getLogger("ovserve.config")

SHAPE_WRONG_FORMAT = "The provided shape is in wrong format"
DIM_WRONG_FORMAT = "The provided dimension is in wrong format"
LAYOUT_WRONG_FORMAT = "The provided layout is in wrong format"
PLUGIN_CONFIG_WRONG_FORMAT = "Plugin config is in wrong format"
POLICY_WRONG_FORMAT = "Model version policy is in wrong format"
POLICY_UNSUPPORTED_KEY = "Model version policy contains unsupported key"
INVALID_METRICS_FAMILY = "Invalid name in metrics_list"

#: The name OVMS reserves for the anonymous (single-input) shape; refused as a tensor name.
ANONYMOUS_INPUT_NAME = "ANONYMOUS_INPUT_NAME"

ShapeValue = ShapeSpec | Literal["auto"]
ShapeSetting = ShapeValue | Mapping[str, ShapeValue]
LayoutSetting = LayoutSpec | Mapping[str, LayoutSpec]
BatchSize = Dim | Literal["auto"]
#: Builds the ConfigError for one value from a detail text.
_ErrorFactory = Callable[[str], ConfigError]

_INT_MAX = 2**31 - 1  # OVMS keeps dimensions in a signed 32-bit integer


def json_type(value: object) -> str:
    """The JSON type name of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _no_spaces(text: str) -> str:
    return "".join(text.split())


def _digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes e.g. superscripts, which ``int`` refuses)."""
    return re.fullmatch(r"[0-9]+", text) is not None


def _load_json(text: str, key: str, status: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(key, f"{status} - not valid JSON: {err}") from None


# --- shapes and dimensions -------------------------------------------------------------------


def parse_shape(text: str, key: str) -> ShapeValue:
    """One shape string: ``auto``, or ``(1,3,224,224)`` whose dims are ``N>=0``, ``-1`` or ``min:max``.

    Spaces are ignored. A range needs ``0 <= min < max``.
    """
    if text.strip() == "auto":
        log.warning("%s: shape auto is deprecated; use dynamic dimensions (-1 or min:max) instead", key)
        return "auto"
    compact = _no_spaces(text)

    def wrong(detail: str) -> ConfigError:
        return ConfigError(key, f"{SHAPE_WRONG_FORMAT} - {detail}: {text!r}")

    if re.fullmatch(r"[0-9(),:\-]*", compact) is None:
        raise wrong("only digits, '(', ')', ',', '-' and ':' are allowed, or 'auto'")
    if len(compact) <= 2 or not (compact.startswith("(") and compact.endswith(")")):
        raise wrong("expected dimensions in parentheses such as (1,3,224,224)")
    if compact.count("(") != 1 or compact.count(")") != 1:
        raise wrong("expected exactly one pair of parentheses")
    dims: list[Dim] = []
    for token in compact[1:-1].split(","):
        dims.append(_shape_dim(token, wrong))
    return tuple(dims)


def _shape_dim(token: str, wrong: _ErrorFactory) -> Dim:
    if token == "":
        raise wrong("empty dimension")
    if token.count("-") > 1 or ("-" in token and not token.startswith("-")):
        raise wrong(f"invalid '-' in dimension {token!r}")
    if ":" in token:
        parts = token.split(":")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise wrong(f"range {token!r} must have one min and one max")
        if not (_digits(parts[0]) and _digits(parts[1])):
            raise wrong(f"range {token!r} must be higher than or equal 0")
        lo, hi = int(parts[0]), int(parts[1])
        if hi > _INT_MAX:
            raise wrong(f"dimension {token!r} out of range")
        if lo >= hi:
            raise wrong(f"range {token!r}: max must be higher than min")
        return Dim(lo, hi)
    if token == "-1":
        return Dim.any()
    if not _digits(token):
        raise wrong(f"dimension {token!r} must be -1 (any) or >= 0")
    value = int(token)
    if value > _INT_MAX:
        raise wrong(f"dimension {token!r} out of range")
    return Dim.static(value)


def parse_dim(text: str, key: str) -> Dim:
    """One dimension as ``batch_size`` takes it: ``N>=0``, ``-1`` (any) or ``min:max`` (0 < min <= max)."""
    compact = _no_spaces(text)

    def wrong(detail: str) -> ConfigError:
        return ConfigError(key, f"{DIM_WRONG_FORMAT} - {detail}: {text!r}")

    if ":" in compact:
        parts = compact.split(":")
        if len(parts) != 2 or not all(_digits(p) for p in parts):
            raise wrong("a range is two positive numbers separated by ':'")
        lo, hi = int(parts[0]), int(parts[1])
        if lo <= 0 or hi <= 0:
            raise wrong("range bounds must be larger than 0")
        if hi > _INT_MAX:
            raise wrong("out of range")
        if lo > hi:
            raise wrong("range max must be higher than or equal to min")
        return Dim(lo, hi)
    if compact == "-1":
        return Dim.any()
    if not _digits(compact):
        raise wrong("expected a number >= 0, -1 (any), min:max or auto")
    value = int(compact)
    if value > _INT_MAX:
        raise wrong("out of range")
    return Dim.static(value)


def parse_batch_size(value: object, key: str) -> BatchSize | None:
    """``batch_size``: a string (``N``, ``-1``, ``min:max``, ``auto``) or, in config.json, an integer >= 0.

    An empty string means "not set" (None), as OVMS treats it.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(key, f"expected an integer >= 0 or a string, got {json_type(value)}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(key, f"{DIM_WRONG_FORMAT} - must be >= 0 when given as a number: {value}")
        if value > _INT_MAX:
            raise ConfigError(key, f"{DIM_WRONG_FORMAT} - out of range: {value}")
        return Dim.static(value)
    if value.strip() == "":
        return None
    if value.strip() == "auto":
        log.warning("%s: batch size auto is deprecated; use dynamic dimensions instead", key)
        return "auto"
    return parse_dim(value, key)


def parse_shape_setting(value: object, key: str) -> ShapeSetting | None:
    """``shape`` as the command line or config.json gives it.

    A string starting with ``(`` or equal to ``auto`` is the anonymous (single-input)
    shape; any other string must be a JSON object. An object maps input names to a
    shape string or a list of dimensions (``[1, 3, 224, 224]``). An empty string or
    object is "not set" (None).
    """
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if text.startswith("(") or text == "auto":
            return parse_shape(text, key)
        if not text.startswith("{"):
            raise ConfigError(
                key,
                f"{SHAPE_WRONG_FORMAT} - expected (d1,d2,...), auto or a JSON object of input name "
                f"to shape: {value!r}",
            )
        value = _load_json(text, key, SHAPE_WRONG_FORMAT)
    if not isinstance(value, dict):
        raise ConfigError(
            key, f"{SHAPE_WRONG_FORMAT} - expected a string or an object, got {json_type(value)}"
        )
    shapes: dict[str, ShapeValue] = {}
    for name, item in value.items():
        item_key = f"{key}.{name}"
        if isinstance(item, str):
            shape = parse_shape(item, item_key)
        elif isinstance(item, list):
            shape = _shape_from_list(item, item_key)
        else:
            raise ConfigError(
                item_key, f"{SHAPE_WRONG_FORMAT} - expected a string or an array, got {json_type(item)}"
            )
        if name == ANONYMOUS_INPUT_NAME:
            log.warning("%s: the shape name %s is reserved and is ignored", key, ANONYMOUS_INPUT_NAME)
            continue
        shapes[name] = shape
    return shapes or None


def _shape_from_list(items: list[object], key: str) -> ShapeSpec:
    dims: list[Dim] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < 0 or item > _INT_MAX:
            raise ConfigError(
                key, f"{SHAPE_WRONG_FORMAT} - array dimensions must be integers >= 0, got {item!r}"
            )
        dims.append(Dim.static(item))
    return tuple(dims)


# --- layouts ---------------------------------------------------------------------------------


def parse_layout(text: str, key: str) -> LayoutSpec:
    """``NHWC:NCHW`` (clients send NHWC, the model has NCHW) or a bare ``NHWC``.

    Letters N, C, H, W, D (each at most once), ``?`` (any number) and one ``...``;
    case-insensitive, spaces ignored.
    """
    compact = _no_spaces(text).upper()

    def wrong(detail: str) -> ConfigError:
        return ConfigError(key, f"{LAYOUT_WRONG_FORMAT} - {detail}: {text!r}")

    if re.fullmatch(r"[NCHWD.?:]*", compact) is None:
        raise wrong("only the letters N, C, H, W, D, '?', '...' and one ':' are allowed")
    parts = compact.split(":")
    if len(parts) > 2:
        raise wrong("at most one ':' (TARGET:SOURCE)")
    for part in parts:
        _check_layout(part, wrong)
    if len(parts) == 2:
        return LayoutSpec(target=parts[0], source=parts[1])
    return LayoutSpec(target=parts[0])


def _check_layout(layout: str, wrong: _ErrorFactory) -> None:
    if layout == "":
        raise wrong("empty layout")
    for letter in "NCHWD":
        if layout.count(letter) > 1:
            raise wrong(f"letter {letter} appears more than once")
    dots = layout.count(".")
    if dots and (dots != 3 or "..." not in layout):
        raise wrong("'...' must appear at most once, as three dots")


def parse_layout_setting(value: object, key: str) -> LayoutSetting | None:
    """``layout``: one layout string (anonymous) or a JSON object of tensor name to layout string.

    On the command line a value starting with ``{`` is read as JSON. An empty string
    or object is "not set" (None).
    """
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if not text.startswith("{"):
            return parse_layout(text, key)
        value = _load_json(text, key, LAYOUT_WRONG_FORMAT)
    if not isinstance(value, dict):
        raise ConfigError(
            key, f"{LAYOUT_WRONG_FORMAT} - expected a string or an object, got {json_type(value)}"
        )
    layouts: dict[str, LayoutSpec] = {}
    for name, item in value.items():
        if not isinstance(item, str):
            raise ConfigError(
                f"{key}.{name}", f"{LAYOUT_WRONG_FORMAT} - expected a string, got {json_type(item)}"
            )
        layouts[name] = parse_layout(item, f"{key}.{name}")
    return layouts or None


# --- version policy --------------------------------------------------------------------------


def parse_version_policy(value: object, key: str) -> VersionPolicy:
    """``{"latest": {"num_versions": N}}``, ``{"all": {}}`` or ``{"specific": {"versions": [...]}}``.

    Accepts the decoded object (config.json) or its JSON text (command line); an empty
    string is the default policy (latest 1).
    """
    if isinstance(value, str):
        if value.strip() == "":
            return VersionPolicy()
        value = _load_json(value, key, POLICY_WRONG_FORMAT)
    if not isinstance(value, dict):
        raise ConfigError(key, f"{POLICY_WRONG_FORMAT} - expected an object, got {json_type(value)}")
    if len(value) != 1:
        raise ConfigError(key, f"{POLICY_WRONG_FORMAT} - expected exactly one of all, latest, specific")
    ((kind, body),) = value.items()
    sub_key = f"{key}.{kind}"
    if kind not in ("all", "latest", "specific"):
        raise ConfigError(sub_key, f"{POLICY_UNSUPPORTED_KEY} - expected all, latest or specific")
    if not isinstance(body, dict):
        raise ConfigError(sub_key, f"{POLICY_WRONG_FORMAT} - expected an object, got {json_type(body)}")
    if kind == "all":
        if body:
            raise ConfigError(sub_key, f"{POLICY_WRONG_FORMAT} - 'all' takes an empty object")
        return VersionPolicy(kind="all")
    field = "num_versions" if kind == "latest" else "versions"
    extra = sorted(set(body) - {field})
    if extra:
        raise ConfigError(
            f"{sub_key}.{extra[0]}", f"{POLICY_WRONG_FORMAT} - unknown key; expected only {field}"
        )
    if field not in body:
        raise ConfigError(sub_key, f"{POLICY_WRONG_FORMAT} - '{kind}' requires '{field}'")
    item = body[field]
    if kind == "latest":
        if not _is_int(item) or item < 1:
            raise ConfigError(f"{sub_key}.num_versions", f"{POLICY_WRONG_FORMAT} - expected an integer >= 1")
        return VersionPolicy(kind="latest", num_versions=item)
    if not isinstance(item, list):
        raise ConfigError(f"{sub_key}.versions", f"{POLICY_WRONG_FORMAT} - expected an array of versions")
    versions: list[int] = []
    for version in item:
        if not _is_int(version) or version < 1:
            raise ConfigError(
                f"{sub_key}.versions", f"{POLICY_WRONG_FORMAT} - versions are integers >= 1, got {version!r}"
            )
        versions.append(version)
    return VersionPolicy(kind="specific", versions=tuple(sorted(set(versions))))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- plugin config ---------------------------------------------------------------------------


def parse_plugin_config(value: object, key: str) -> dict[str, str]:
    """``plugin_config``: a JSON object whose values are strings, booleans or numbers, all stringified.

    Booleans become ``YES``/``NO`` (what every OpenVINO version reads as a bool),
    integers their decimal text, other numbers OVMS's ``%f`` text. Keys are kept as
    given: the legacy-key translations and defaults OVMS applies belong to the backend
    (``plugin_properties``). An empty string is "not set" (empty).
    """
    if isinstance(value, str):
        if value.strip() == "":
            return {}
        value = _load_json(value, key, PLUGIN_CONFIG_WRONG_FORMAT)
    if not isinstance(value, dict):
        raise ConfigError(key, f"{PLUGIN_CONFIG_WRONG_FORMAT} - expected an object, got {json_type(value)}")
    result: dict[str, str] = {}
    for name, item in value.items():
        item_key = f"{key}.{name}"
        if isinstance(item, bool):
            text = "YES" if item else "NO"
        elif isinstance(item, int):
            text = str(item)
        elif isinstance(item, float):
            text = f"{item:f}"
        elif isinstance(item, str):
            text = item
        else:
            raise ConfigError(
                item_key,
                f"{PLUGIN_CONFIG_WRONG_FORMAT} - values must be strings, booleans or numbers, "
                f"got {json_type(item)}",
            )
        result[name] = text
    return result


# --- server-wide values ----------------------------------------------------------------------


def parse_metrics_list(names: Iterable[str], key: str) -> tuple[str, ...]:
    """Metric family names, each one of OVMS's families (duplicates dropped, order kept)."""
    every = DEFAULT_METRIC_FAMILIES + OPTIONAL_METRIC_FAMILIES + OVSERVE_METRIC_FAMILIES
    known = set(every)
    result: list[str] = []
    for name in names:
        if name not in known:
            raise ConfigError(
                key,
                f"{INVALID_METRICS_FAMILY} - {name!r} is not a metric family; known families: "
                f"{', '.join(every)}",
            )
        if name not in result:
            result.append(name)
    return tuple(result)


def parse_grpc_channel_arguments(text: str, key: str) -> dict[str, str | int]:
    """``k=v,k=v`` (spaces ignored); values that are integers become ints, as OVMS passes them to gRPC."""
    result: dict[str, str | int] = {}
    for item in text.split(","):
        if item.strip() == "":
            continue
        parts = item.split("=")
        if len(parts) != 2:
            raise ConfigError(key, f"Grpc channel argument is in wrong format - expected key=value: {item!r}")
        name, raw = _no_spaces(parts[0]), _no_spaces(parts[1])
        result[name] = int(raw) if re.fullmatch(r"[+-]?[0-9]+", raw) else raw
    return result


_IPV4_NUMERIC = re.compile(r"[0-9.]*")
_HOSTNAME = re.compile(
    r"(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])"
)


def is_valid_bind_address(text: str) -> bool:
    """An IPv4 address, an IPv6 literal (with or without brackets) or a hostname, as OVMS checks it.

    OVMS itself accepts only IPv4 and hostnames; IPv6 literals are an ovserve extension.
    """
    if not text or len(text) > 255:
        return False
    if _IPV4_NUMERIC.fullmatch(text):
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            return False
        return True
    if ":" in text:
        literal = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
        return True
    return _HOSTNAME.fullmatch(text) is not None
