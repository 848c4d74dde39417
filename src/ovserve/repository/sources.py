"""The source the server uses: each model goes to the local or the remote source by its base path."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ovserve.config.types import ModelConfig
from ovserve.core.manager import AspiredStream, AspiredVersion
from ovserve.core.servable import Servable
from ovserve.errors import ConfigError, Unimplemented
from ovserve.repository.cache import VersionCache
from ovserve.repository.local import LoaderFactory, LocalSource
from ovserve.repository.remote import RemoteSource
from ovserve.repository.storage import StorageSettings, is_remote

#: Remote listings run side by side, so one slow store does not hold up the others for long.
MAX_PARALLEL_LISTINGS = 16


class Source(Protocol):
    """What the lifecycle polls: the aspired versions of every model it names (blocking I/O)."""

    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]: ...


class RepositorySource:
    """Local paths to :class:`LocalSource`, ``s3://``, ``gs://``, ``az://`` and ``azfs://`` to
    :class:`RemoteSource`. Called from one thread at a time (the lifecycle's sync)."""

    def __init__(
        self, loader_factory: LoaderFactory, settings: StorageSettings, cache: VersionCache | None = None
    ) -> None:
        self.local = LocalSource(loader_factory)
        self.remote = RemoteSource(loader_factory, settings, cache)

    def aspired(self, configs: Iterable[ModelConfig]) -> dict[str, AspiredStream]:
        configs = list(configs)
        unserved = {c.name: unserved_stream(c) for c in configs if c.not_served or c.invalid}
        configs = [c for c in configs if c.name not in unserved]
        remote = [c for c in configs if is_remote(c.base_path)]
        self.remote.retain(remote)
        streams: dict[str, AspiredStream] = {}
        if len(remote) > 1:
            with ThreadPoolExecutor(min(MAX_PARALLEL_LISTINGS, len(remote)), "ovserve-list") as pool:
                streams.update(
                    zip((c.name for c in remote), pool.map(self.remote.aspired_stream, remote), strict=True)
                )
        elif remote:
            streams[remote[0].name] = self.remote.aspired_stream(remote[0])
        served = {
            c.name: streams[c.name] if c.name in streams else self.local.aspired_stream(c) for c in configs
        }
        return {**served, **unserved}

    def close(self) -> None:
        """Remove the local copies of remote versions (at shutdown, after every model retired)."""
        self.remote.close()


class NotServedLoader:
    """The loader of a config entry ovserve does not serve (a MediaPipe graph): it always fails, saying why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def load(self) -> Servable:
        raise Unimplemented(self.reason)


def unserved_stream(config: ModelConfig) -> AspiredStream:
    """The stream of an entry that is not served.

    A graph entry (``not_served``) shows as version 1, LOADING with UNIMPLEMENTED and the
    reason, as a failed load does. An invalid entry (``invalid``) has no version: as in
    OVMS, its model is unloaded and the reason is the stream's error.
    """
    if config.invalid:
        return AspiredStream((), ConfigError("", config.invalid))
    reason = config.not_served or ""
    return AspiredStream((AspiredVersion(1, NotServedLoader(reason), ("not served", reason)),))
