"""Fixtures of the pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pynodes import Nodes


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    """Makes Python nodes from handler sources in ``tmp_path``; closes them (finalize) after the test."""
    made = Nodes(tmp_path)
    yield made
    made.close_all()
