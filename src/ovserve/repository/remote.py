"""The remote source: model versions in S3, GCS or Azure Blob, served from local copies.

Each poll lists ``<base_path>/`` for positive integer "directories" and applies the version
policy, as for a local repository. A chosen version is copied to the :class:`VersionCache`
when the manager loads it (off the event loop), then loaded from there by the ordinary
loader; a version already copied is not downloaded again, and a copy that fails to load is
dropped so the next attempt downloads it afresh.

When the store cannot be read the stream is reported ``unchanged``: the manager keeps
every loaded version serving. An outage (network, timeout, server error) is logged once
when it starts and once when it ends, not at every poll; refused credentials are logged
once and shown as the model's error. A store that answers "no such bucket or path" is
treated as a local base path that does not exist: the model has no versions and says why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream, Loader
from ovserve.core.servable import Servable
from ovserve.errors import BASE_PATH_INVALID, LoadError
from ovserve.repository.cache import VersionCache, cache_key
from ovserve.repository.local import LoaderFactory, policy_stream
from ovserve.repository.storage import (
    Failure,
    StorageSettings,
    Store,
    StoreURL,
    classify,
    describe,
    parse_url,
    store_key,
)

log = logging.getLogger(__name__)


class RemoteLoader:
    """Copies one version to the local cache (if not there yet), then loads it from there."""

    def __init__(
        self,
        store: Store,
        cache: VersionCache,
        key: str,
        version: int,
        remote_dir: str,
        local_loader: Callable[[Path], Loader],
    ) -> None:
        self.store = store
        self.cache = cache
        self.key = key
        self.version = version
        self.remote_dir = remote_dir
        self.local_loader = local_loader

    def load(self) -> Servable:
        def download(staging: Path) -> None:
            size = self.store.download(self.remote_dir, staging)
            log.info("copied %s://%s (%d bytes)", self.store.url.scheme, self.remote_dir, size)

        try:
            local = self.cache.fetch(self.key, self.version, download)
        except Exception as exc:
            raise LoadError(
                f"Copying version {self.version} from {self.store.url.scheme}://{self.remote_dir} failed: "
                f"{describe(exc)}"
            ) from exc
        try:
            return self.local_loader(local).load()
        except BaseException:
            self.cache.evict(self.key, self.version)  # perhaps copied mid-upload: fetch it again next time
            raise


@dataclass(frozen=True)
class _Trouble:
    failure: Failure
    message: str


class RemoteSource:
    """Aspired versions of models whose base path is a storage URL; see the module docstring.

    Thread-safe: :meth:`aspired_stream` may run for several models at once.
    """

    def __init__(
        self, loader_factory: LoaderFactory, settings: StorageSettings, cache: VersionCache | None = None
    ) -> None:
        self.loader_factory = loader_factory
        self.settings = settings
        self.cache = cache or VersionCache()
        self._lock = threading.Lock()
        self._stores: dict[tuple[str, str | None], Store] = {}
        self._trouble: dict[str, _Trouble] = {}  # model name -> the failure being reported

    def _store(self, url: StoreURL) -> Store:
        with self._lock:
            store = self._stores.get(store_key(url))
            if store is None:
                store = self._stores[store_key(url)] = Store(url, self.settings)
            return store

    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]:
        configs = list(configs)
        self.retain(configs)
        return {config.name: self.aspired_stream(config) for config in configs}

    def aspired_stream(self, config: ModelConfig) -> AspiredStream:
        try:
            url = parse_url(config.base_path)
            store = self._store(url)
            found = store.list_versions(url)
        except Exception as exc:
            return self._failed(config, exc)
        self._recovered(config.name)
        key = cache_key(config.name, config.base_path)

        def make_loader(version: int, remote_dir: str) -> RemoteLoader:
            return RemoteLoader(
                store,
                self.cache,
                key,
                version,
                remote_dir,
                lambda local: self.loader_factory(config, version, local),
            )

        stream = policy_stream(config, found, make_loader)
        self.cache.keep_only(key, {a.version for a in stream.versions})
        return stream

    def retain(self, configs: Iterable[ModelConfig]) -> None:
        """Drop the copies and the failure records of models no longer served."""
        configs = list(configs)
        self.cache.retain_keys({cache_key(c.name, c.base_path) for c in configs})
        names = {c.name for c in configs}
        with self._lock:
            for name in [n for n in self._trouble if n not in names]:
                del self._trouble[name]

    def _failed(self, config: ModelConfig, exc: Exception) -> AspiredStream:
        name, url = config.name, config.base_path
        failure = classify(exc)
        if failure in (Failure.NOT_FOUND, Failure.UNSUPPORTED):
            self._recovered(name)  # the store answered (or never will): the usual stream error
            if failure == Failure.NOT_FOUND:
                return AspiredStream((), LoadError(f"{BASE_PATH_INVALID}: {url}: {describe(exc)}"))
            return AspiredStream((), LoadError(describe(exc)))
        if failure == Failure.DENIED:
            hint = self.settings.credentials_hint(url.split("://", 1)[0])
            message = f"Access to {url} refused, check the credentials ({hint}): {describe(exc)}"
        else:
            message = f"storage for model {name} unreachable: {url}: {describe(exc)}"
        with self._lock:
            previous = self._trouble.get(name)
            if previous is not None and previous.failure == failure:
                message = previous.message  # one message per outage: its first
                fresh = False
            else:
                self._trouble[name] = _Trouble(failure, message)
                fresh = True
        if fresh and failure == Failure.DENIED:
            log.error("model %s: %s", name, message)
        elif fresh:
            log.warning("%s; loaded versions keep serving, polling continues", message)
        return AspiredStream((), LoadError(message), unchanged=True)

    def _recovered(self, name: str) -> None:
        with self._lock:
            previous = self._trouble.pop(name, None)
        if previous is not None:
            log.info("storage for model %s reachable again", name)

    def close(self) -> None:
        self.cache.close()
