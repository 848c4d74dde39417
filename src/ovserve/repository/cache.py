"""The local copies of remote model versions, under one private directory per server.

Layout: ``<root>/<key>/<version>/`` with one ``key`` per model (its name and base path). A
copy is written to ``<root>/<key>/.staging-<version>-<random>/`` and renamed into place
only when complete, so a version directory that exists is whole: a half-finished download
is never loaded, and one that failed leaves nothing behind.

The root is made on first use (``tempfile.mkdtemp``: mode 0700) unless one is given, and
:meth:`VersionCache.close` removes what it made. All methods are thread-safe; one version
is downloaded by one thread at a time.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Collection
from pathlib import Path

log = logging.getLogger(__name__)

_STAGING = ".staging-"


def cache_key(name: str, base_path: str) -> str:
    """A directory name for one model's versions: readable, and unique per (name, base path)."""
    digest = hashlib.sha256(f"{name}\0{base_path}".encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)[:40]}-{digest}"


class VersionCache:
    """Complete local copies of remote versions; see the module docstring."""

    def __init__(self, root: Path | None = None) -> None:
        self._given = root
        self._made: Path | None = None
        self._lock = threading.Lock()
        self._version_locks: dict[tuple[str, int], threading.Lock] = {}

    @property
    def root(self) -> Path:
        with self._lock:
            if self._given is not None:
                self._given.mkdir(parents=True, exist_ok=True)
                return self._given
            if self._made is None:
                self._made = Path(tempfile.mkdtemp(prefix="ovserve-models-"))
                log.info("remote model versions are copied to %s", self._made)
            return self._made

    def path(self, key: str, version: int) -> Path:
        return self.root / key / str(version)

    def _version_lock(self, key: str, version: int) -> threading.Lock:
        with self._lock:
            return self._version_locks.setdefault((key, version), threading.Lock())

    def fetch(self, key: str, version: int, download: Callable[[Path], object]) -> Path:
        """The local copy of ``version``; ``download(staging_dir)`` fills it when not cached yet."""
        target = self.path(key, version)
        with self._version_lock(key, version):
            if target.is_dir():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{version}-", dir=target.parent))
            try:
                download(staging)
                staging.rename(target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return target

    def evict(self, key: str, version: int) -> None:
        """Forget one copy (it failed to load: the next attempt downloads it again)."""
        with self._version_lock(key, version):
            shutil.rmtree(self.path(key, version), ignore_errors=True)

    def keep_only(self, key: str, versions: Collection[int]) -> None:
        """Remove the copies of ``key``'s versions that are not in ``versions``."""
        folder = self.root / key
        if not folder.is_dir():
            return
        for entry in folder.iterdir():
            if entry.name.isdigit() and int(entry.name) not in versions:
                self.evict(key, int(entry.name))

    def retain_keys(self, keys: Collection[str]) -> None:
        """Remove every model folder whose key is not in ``keys`` (models no longer configured)."""
        with self._lock:
            root = self._given or self._made
        if root is None or not root.is_dir():
            return
        for entry in root.iterdir():
            if entry.is_dir() and entry.name not in keys:
                shutil.rmtree(entry, ignore_errors=True)

    def close(self) -> None:
        """Remove the directory this cache made (a given root is left in place)."""
        with self._lock:
            made, self._made = self._made, None
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
