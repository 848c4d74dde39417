from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ovserve.repository.cache import VersionCache, cache_key


def writer(calls: list[Path], content: str = "xml") -> object:
    def download(staging: Path) -> None:
        calls.append(staging)
        (staging / "sub").mkdir()
        (staging / "model.xml").write_text(content)
        (staging / "sub" / "w.bin").write_bytes(b"\0")

    return download


def test_a_version_is_downloaded_once_then_served_from_the_cache(tmp_path: Path) -> None:
    cache = VersionCache(tmp_path)
    calls: list[Path] = []
    first = cache.fetch("m-1", 3, writer(calls))  # type: ignore[arg-type]
    again = cache.fetch("m-1", 3, writer(calls))  # type: ignore[arg-type]
    assert first == again == tmp_path / "m-1" / "3"
    assert len(calls) == 1
    assert (first / "model.xml").read_text() == "xml" and (first / "sub" / "w.bin").exists()
    assert calls[0].parent == first.parent and calls[0].name.startswith(".staging-3-")
    assert not calls[0].exists()  # renamed into place


def test_a_failed_download_leaves_nothing_behind(tmp_path: Path) -> None:
    cache = VersionCache(tmp_path)

    def half(staging: Path) -> None:
        (staging / "model.xml").write_text("half")
        raise ConnectionError("storage went away")

    with pytest.raises(ConnectionError):
        cache.fetch("m", 1, half)
    assert list((tmp_path / "m").iterdir()) == []  # no version dir, no staging dir
    calls: list[Path] = []
    assert (cache.fetch("m", 1, writer(calls, "whole")) / "model.xml").read_text() == "whole"  # type: ignore[arg-type]


def test_one_download_per_version_when_two_threads_ask(tmp_path: Path) -> None:
    cache = VersionCache(tmp_path)
    started, release = threading.Event(), threading.Event()
    calls: list[Path] = []

    def slow(staging: Path) -> None:
        calls.append(staging)
        started.set()
        release.wait(5)
        (staging / "model.xml").write_text("x")

    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(cache.fetch("m", 1, slow))) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait(5)
    release.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1 and len(results) == 2 and results[0] == results[1]


def test_evict_keep_only_and_retain_keys(tmp_path: Path) -> None:
    cache = VersionCache(tmp_path)
    calls: list[Path] = []
    for key, version in (("a", 1), ("a", 2), ("a", 3), ("b", 1)):
        cache.fetch(key, version, writer(calls))  # type: ignore[arg-type]
    cache.evict("a", 1)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["2", "3"]
    cache.keep_only("a", {3})
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["3"]
    cache.keep_only("never-fetched", {1})  # nothing to do
    cache.retain_keys({"a"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_the_private_directory_is_made_on_first_use_and_removed_at_close() -> None:
    cache = VersionCache()
    cache.retain_keys(set())  # before first use: no directory made
    calls: list[Path] = []
    path = cache.fetch("m", 1, writer(calls))  # type: ignore[arg-type]
    root = path.parent.parent
    assert root.name.startswith("ovserve-models-") and oct(root.stat().st_mode & 0o777) == "0o700"
    cache.close()
    assert not root.exists()
    cache.close()  # twice is harmless


def test_a_given_root_is_kept_at_close(tmp_path: Path) -> None:
    cache = VersionCache(tmp_path / "cache")
    cache.fetch("m", 1, writer([]))  # type: ignore[arg-type]
    cache.close()
    assert (tmp_path / "cache" / "m" / "1").is_dir()


def test_cache_keys_are_safe_names_unique_per_model_and_path() -> None:
    key = cache_key("my/model name", "s3://b/m")
    assert "/" not in key and " " not in key and key.startswith("my_model_name-")
    assert cache_key("m", "s3://b/m") != cache_key("m", "gs://b/m") != cache_key("n", "gs://b/m")
    assert cache_key("m", "s3://b/m") == cache_key("m", "s3://b/m")
