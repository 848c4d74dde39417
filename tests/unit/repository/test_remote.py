"""The remote source's failure handling and the dispatching source, without a network.

(Reading real stores is covered against emulators in tests/integration/test_remote_repositories.py.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakes import FakeLoader

from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.repository.cache import VersionCache
from ovserve.repository.remote import RemoteSource
from ovserve.repository.sources import RepositorySource
from ovserve.repository.storage import StorageSettings, Store, parse_url


def factory(cfg: ModelConfig, version: int, path: Path) -> FakeLoader:
    return FakeLoader(ServableId(cfg.name, version))


def remote(tmp_path: Path, settings: StorageSettings | None = None) -> RemoteSource:
    return RemoteSource(factory, settings or StorageSettings(), VersionCache(tmp_path / "cache"))


def test_refused_credentials_keep_the_stream_and_are_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = remote(tmp_path)  # no AZURE_STORAGE_CONNECTION_STRING and no account
    config = ModelConfig("m", "az://container/models/m")
    with caplog.at_level(logging.INFO, logger="ovserve.repository"):
        first = source.aspired_stream(config)
        second = source.aspired_stream(config)
    assert first.unchanged and second.unchanged and first.versions == ()
    assert first.error is not None and second.error is not None
    assert "Access to az://container/models/m refused" in first.error.message
    assert "AZURE_STORAGE_CONNECTION_STRING" in first.error.message
    assert first.error.message == second.error.message
    assert sum("Access to az://" in r.getMessage() for r in caplog.records) == 1


def test_file_shares_and_malformed_urls_are_plain_errors(tmp_path: Path) -> None:
    source = remote(tmp_path)
    share = source.aspired_stream(ModelConfig("m", "azfs://share/m"))
    assert not share.unchanged and share.error is not None
    assert "Azure file shares (azfs://) are not supported" in share.error.message
    assert "az://container/path" in share.error.message
    bad = source.aspired_stream(ModelConfig("m", "s3://host:9000/"))
    assert not bad.unchanged and bad.error is not None and "no bucket" in bad.error.message


def test_failure_records_of_removed_models_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = remote(tmp_path)
    config = ModelConfig("m", "az://container/m")
    with caplog.at_level(logging.INFO, logger="ovserve.repository"):
        source.aspired_stream(config)
        source.retain([])  # the model left the config
        source.aspired_stream(config)  # back again: a new failure, logged again
    assert sum("Access to az://" in r.getMessage() for r in caplog.records) == 2


def test_stores_are_shared_per_scheme_and_endpoint(tmp_path: Path) -> None:
    source = remote(tmp_path)
    a = source._store(parse_url("s3://a/m"))
    assert source._store(parse_url("s3://b/m")) is a
    assert source._store(parse_url("s3://h:1/b/m")) is not a
    assert source._store(parse_url("gs://a/m")) is not a


def test_downloads_keep_object_names_inside_the_version_dir() -> None:
    from ovserve.repository.storage import _safe_parts

    assert _safe_parts("model.xml") == ["model.xml"]
    assert _safe_parts("sub/w.bin") == ["sub", "w.bin"]
    assert all(_safe_parts(p) is None for p in ("", "../x", "a/../../x", "a//b", "./x", "a/"))


def test_store_opens_its_client_lazily(tmp_path: Path) -> None:
    store = Store(parse_url("az://c/m"), StorageSettings())
    assert store._fs is None  # nothing imported or connected until the first call


def test_repository_source_dispatches_on_the_base_path(tmp_path: Path) -> None:
    base = tmp_path / "local"
    for v in (1, 2):
        (base / str(v)).mkdir(parents=True)
    source = RepositorySource(factory, StorageSettings(), VersionCache(tmp_path / "cache"))
    configs = [
        ModelConfig("share", "azfs://share/m"),
        ModelConfig("local", str(base)),
        ModelConfig("blob", "az://c/m"),
        ModelConfig("missing", str(tmp_path / "nope")),
    ]
    streams = source.aspired(configs)
    assert list(streams) == ["share", "local", "blob", "missing"]
    assert [a.version for a in streams["local"].versions] == [2]
    assert streams["share"].error is not None and "azfs" in streams["share"].error.message
    assert streams["blob"].unchanged
    assert streams["missing"].error is not None and "base path is invalid" in streams["missing"].error.message
    source.close()
