"""Fixtures: one test model repository and one ovserve serving it, for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gates import Gates
from models import CATALOG_CONFIG, build_repository, write_config
from serverproc import ServerProcess


@pytest.fixture(scope="module")
def gates(tmp_path_factory: pytest.TempPathFactory) -> Gates:
    """A test-gate directory (tests/gates.py) for a module's own server; a module may define its own."""
    return Gates(tmp_path_factory.mktemp("gates"))


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> base path of every catalog model (tests/models.py)."""
    return build_repository(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def config_file(repo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("config") / "config.json", repo, CATALOG_CONFIG)


@pytest.fixture(scope="session")
def server(config_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """ovserve serving the whole catalog over REST and gRPC on 127.0.0.1."""
    proc = ServerProcess(
        ["--config_path", str(config_file), "--log_level", "DEBUG"],
        tmp_path_factory.mktemp("log") / "ovserve.log",
    )
    proc.start()
    yield proc
    code = proc.stop()
    assert code == 0, f"ovserve exited with {code}:\n{proc.log()}"
