from __future__ import annotations

from pathlib import Path

from fakes import FakeLoader

from ovserve.config.types import ModelConfig, VersionPolicy
from ovserve.core.ids import ServableId
from ovserve.repository.local import LocalSource, scan_versions


def source() -> LocalSource:
    return LocalSource(lambda cfg, v, path: FakeLoader(ServableId(cfg.name, v)))


def test_scan_keeps_positive_integer_dirs(tmp_path: Path) -> None:
    for name in ("1", "3", "0", "-2", "abc", "10"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a version")
    assert sorted(scan_versions(tmp_path)) == [1, 3, 10]


def test_policies(tmp_path: Path) -> None:
    for v in (1, 2, 3):
        (tmp_path / str(v)).mkdir()

    def versions(policy: VersionPolicy) -> list[int]:
        stream = source().aspired_stream(ModelConfig("m", str(tmp_path), version_policy=policy))
        return [a.version for a in stream.versions]

    assert versions(VersionPolicy()) == [3]
    assert versions(VersionPolicy("latest", num_versions=2)) == [3, 2]
    assert versions(VersionPolicy("all")) == [3, 2, 1]
    assert versions(VersionPolicy("specific", versions=(1, 3, 9))) == [3, 1]


def test_errors_are_carried_in_the_stream(tmp_path: Path) -> None:
    missing = source().aspired_stream(ModelConfig("m", str(tmp_path / "nope")))
    assert missing.error is not None and "base path is invalid" in missing.error.message
    empty = source().aspired_stream(ModelConfig("m", str(tmp_path)))
    assert empty.error is not None and "valid numeric name" in empty.error.message
    (tmp_path / "1").mkdir()
    none = source().aspired_stream(
        ModelConfig("m", str(tmp_path), version_policy=VersionPolicy("specific", versions=(5,)))
    )
    assert none.error is not None and "version policy" in none.error.message
