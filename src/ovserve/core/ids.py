"""Identifiers of servables."""

from __future__ import annotations

from typing import NamedTuple


class ServableId(NamedTuple):
    """One version of one named model (or pipeline): what a request resolves to."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name} version {self.version}"
