"""Adding up the ``/metrics`` texts of several worker processes into one.

Every family ovserve exposes is a counter, a histogram or a gauge that counts
something each process has its own of (requests in flight, infer requests, streams),
so the server's value of a series is the sum of its workers' values. Families and
series keep the order in which they first appear, each family's samples stay together
under its ``# HELP`` / ``# TYPE`` lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class _Family:
    comments: list[str] = field(default_factory=list)
    samples: dict[str, float] = field(default_factory=dict)


def merge_expositions(texts: Iterable[str]) -> str:
    """One exposition whose every sample is the sum of that sample over ``texts``."""
    families: dict[str, _Family] = {}
    for text in texts:
        current = families.setdefault("", _Family())  # samples before any comment line
        for line in text.splitlines():
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split(" ", 3)
                name = parts[2] if len(parts) > 2 and parts[1] in ("HELP", "TYPE") else ""
                current = families.setdefault(name, _Family())
                if line not in current.comments:
                    current.comments.append(line)
                continue
            key, _, value = line.rpartition(" ")
            current.samples[key] = current.samples.get(key, 0.0) + float(value)
    lines: list[str] = []
    for family in families.values():
        lines += family.comments
        lines += (f"{key} {_number(value)}" for key, value in family.samples.items())
    return "\n".join(lines) + "\n" if lines else ""


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
