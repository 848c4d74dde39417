"""argv → typed flag values, as cxxopts (OVMS's parser) reads them; :mod:`ovserve.cli` validates them.

``--flag value`` or ``--flag=value``; a bool flag is true when present and takes a value only
as ``--flag=true|false``; a repeated flag keeps its last value; an unknown flag, a missing
argument or a stray positional is a :class:`~ovserve.errors.ConfigError` with OVMS's text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ovserve.errors import ConfigError
from ovserve.flags import FLAGS, Flag
from ovserve.ovms_flags import unserved_problem

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

#: A flag's value: text, an unsigned number or a bool (by the flag's kind).
Value = str | int | bool

FLAGS_BY_NAME = {flag.name: flag for flag in FLAGS}
_TRUE = re.compile(r"[tT](rue)?|1")
_FALSE = re.compile(r"[fF](alse)?|0")


def tokenize(argv: Sequence[str]) -> tuple[dict[str, Value], bool, bool]:
    """argv → typed values by flag name (last one wins), and whether help / version were asked."""
    given: dict[str, Value] = {}
    positional: list[str] = []
    wants_help = wants_version = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if arg in ("-h", "--help") or arg.startswith("--help="):
            wants_help = True
            continue
        if arg == "--version" or arg.startswith("--version="):
            wants_version = True
            continue
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, has_value, text = arg.lstrip("-").partition("=")
        flag = FLAGS_BY_NAME.get(name) if arg.startswith("--") else None
        if flag is None:
            problem = unserved_problem(name) if arg.startswith("--") else None  # an OVMS 2026.3 flag
            raise ConfigError(arg.partition("=")[0], problem or f"Option '{name}' does not exist")
        if flag.kind == "bool":
            given[name] = _to_bool(text, flag) if has_value else True
            continue
        if not has_value:
            if i >= len(argv):
                raise ConfigError(f"--{name}", f"Option '{name}' is missing an argument")
            text = argv[i]
            i += 1
        given[name] = _convert(text, flag)
    if positional:
        hint = ""
        if any(p.lower() in ("true", "false") for p in positional):
            hint = " (a bool flag takes a value only as --flag=true or --flag=false)"
        raise ConfigError("", f"error parsing options - unmatched arguments: {', '.join(positional)}{hint}")
    return given, wants_help, wants_version


def _to_bool(text: str, flag: Flag) -> bool:
    if _TRUE.fullmatch(text):
        return True
    if _FALSE.fullmatch(text):
        return False
    raise ConfigError(f"--{flag.name}", f"Argument '{text}' failed to parse: expected true or false")


def _convert(text: str, flag: Flag) -> Value:
    if flag.kind == "str":
        return text
    limit = UINT32_MAX if flag.kind == "uint32" else UINT64_MAX
    if not text.isascii() or not text.isdigit() or int(text) > limit:
        bits = "32" if flag.kind == "uint32" else "64"
        raise ConfigError(
            f"--{flag.name}", f"Argument '{text}' failed to parse: expected an unsigned {bits}-bit integer"
        )
    return int(text)


class Options:
    """Typed access to the given flags; a flag not given reads as the default passed in."""

    def __init__(self, given: dict[str, Value]) -> None:
        self._given = given

    def has(self, name: str) -> bool:
        return name in self._given

    def text(self, name: str, default: str = "") -> str:
        value = self._given.get(name, default)
        assert isinstance(value, str)
        return value

    def number(self, name: str, default: int = 0) -> int:
        value = self._given.get(name, default)
        assert isinstance(value, int) and not isinstance(value, bool)
        return value

    def value(self, name: str) -> Value:
        return self._given[name]

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._given.get(name, default)
        assert isinstance(value, bool)
        return value
