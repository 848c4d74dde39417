"""The manager: reconciles aspired versions against loaded ones and owns every version's state.

Sources tell the manager, per model name, which versions *should* be served
(:class:`AspiredVersion`: a version number, a loader, and a fingerprint of the settings
it was built with). :meth:`ServableManager.apply` loads what is new or changed (off the
event loop, in a worker thread), and only then retires what is no longer aspired, so a
swap never leaves a model without a version. Requests take a :class:`Handle` that pins
one loaded servable; a retired servable is closed only once its last handle let go.

All methods run on the event loop thread; the manager is not thread-safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ovserve.core.ids import ServableId
from ovserve.core.kinds import PIPELINE, StreamKind
from ovserve.core.servable import Servable
from ovserve.core.states import State, VersionStatus, check_transition
from ovserve.errors import (
    Code,
    LoadError,
    ModelNotFound,
    ModelNotReady,
    ServingError,
    VersionNotFound,
    VersionRetired,
)

log = logging.getLogger(__name__)


class Loader(Protocol):
    """Builds one version. Constructing it is cheap; :meth:`load` does the work and may block."""

    def load(self) -> Servable: ...


@dataclass(frozen=True)
class AspiredVersion:
    """A version a source wants served; a new ``fingerprint`` means "reload it"."""

    version: int
    loader: Loader
    fingerprint: Hashable = None


@dataclass(frozen=True)
class AspiredStream:
    """All versions a source wants served under one name, or why it found none.

    ``unchanged`` means "no news": the source could not look (its storage is unreachable),
    so the manager keeps the stream's versions exactly as they are, loading and retiring
    nothing; ``error``, if given, becomes the stream's error (the source logs it).

    ``kind`` marks a stream that is not a versioned model (a DAG pipeline or a MediaPipe
    graph, :mod:`ovserve.core.kinds`): requests ignore the version and get the kind's texts,
    and a version whose reload fails stops serving instead of keeping the loaded one.
    """

    versions: Sequence[AspiredVersion] = ()
    error: ServingError | None = None
    unchanged: bool = False
    kind: StreamKind | None = None


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``changed`` if any version loaded or retired; ``error`` if it was refused."""

    changed: bool
    error: ServingError | None = None


class _Loaded:
    """A loaded servable and the requests that hold it (``pins``, counted by :class:`Handle`)."""

    __slots__ = ("drained", "pins", "retired", "servable")

    def __init__(self, servable: Servable) -> None:
        self.servable = servable
        self.pins = 0
        self.retired = False
        #: what :meth:`wait_drained` awaits while requests hold it (None: nothing waits); a future
        #: made only then, so that a request's pin and release touch nothing but the count
        self.drained: asyncio.Future[None] | None = None

    def unpinned(self) -> None:
        """The last pin went: wake :meth:`wait_drained`."""
        drained = self.drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    async def wait_drained(self) -> None:
        """Return once no request holds it."""
        while self.pins:
            if self.drained is None or self.drained.done():
                self.drained = asyncio.get_running_loop().create_future()
            await self.drained


@dataclass
class _Version:
    version: int
    state: State = State.START
    fingerprint: Hashable = None
    error: ServingError | None = None
    loaded: _Loaded | None = None
    last_failure: str | None = None  # to log a failure that repeats on every poll only once

    def status(self) -> VersionStatus:
        if self.error is None:
            return VersionStatus(self.version, self.state)
        return VersionStatus(self.version, self.state, self.error.code, self.error.message)


@dataclass
class _Stream:
    name: str
    versions: dict[int, _Version] = field(default_factory=dict)
    error: ServingError | None = None  # why the source found nothing to serve
    kind: StreamKind | None = None  # see AspiredStream.kind


class Handle:
    """Pins one loaded servable for the length of a request: ``with manager.acquire(...) as servable``."""

    __slots__ = ("_loaded", "servable")

    def __init__(self, loaded: _Loaded) -> None:
        self._loaded = loaded
        self.servable = loaded.servable
        loaded.pins += 1

    def __enter__(self) -> Servable:
        return self.servable

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Let go of the servable (what leaving the ``with`` block does); once per handle."""
        loaded = self._loaded
        loaded.pins -= 1
        if not loaded.pins and loaded.drained is not None:
            loaded.unpinned()


Listener = Callable[[ServableId, VersionStatus], None]


class ServableManager:
    """Owns every model version's state; see the module docstring for the contract."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._changes = 0
        #: name -> what ``acquire(name)`` pins (its newest AVAILABLE version), remembered until the
        #: name's next state change: found by a scan of its versions (~2 µs a request) otherwise
        self._newest: dict[str, _Loaded] = {}

    # -- observers -----------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(id, status)`` on every state change (on the event loop)."""
        self._listeners.append(listener)

    def _set(
        self,
        name: str,
        entry: _Version,
        state: State,
        error: ServingError | None = None,
        *,
        quiet: bool = False,
    ) -> None:
        if entry.state != state:
            check_transition(entry.state, state)
        entry.state = state
        entry.error = error
        self._newest.pop(name, None)
        status = entry.status()
        if quiet:
            pass
        elif error is not None:
            log.error("model %s version %d: %s: %s", name, entry.version, state.name, error.message)
        else:
            log.info("model %s version %d: %s", name, entry.version, state.name)
        if not quiet:
            self._changes += 1
        for listener in self._listeners:
            listener(ServableId(name, entry.version), status)

    # -- reconcile -----------------------------------------------------------------
    async def apply(self, aspired: Mapping[str, AspiredStream], *, complete: bool = True) -> bool:
        """Make the served versions match ``aspired``; returns whether any version changed.

        Streams named in ``aspired`` get exactly those versions; with ``complete`` the
        streams it does not name are retired. New versions are loaded before old ones
        are retired, and a version that failed to load does not retire the one it was
        to replace: for each aspired version that is not AVAILABLE, the newest AVAILABLE
        version that is no longer aspired keeps serving (OVMS's fallback).
        """
        async with self._lock:
            self._changes = 0
            retire: list[tuple[str, _Version, ServingError | None]] = []
            for name, wanted_stream in aspired.items():
                stream = self._streams.setdefault(name, _Stream(name))
                self._newest.pop(name, None)  # a stream's kind may change (a model becomes a pipeline)
                stream.kind = wanted_stream.kind
                if wanted_stream.unchanged:
                    if wanted_stream.error is not None:
                        stream.error = wanted_stream.error
                    continue
                if wanted_stream.error is not None and (
                    stream.error is None or stream.error.message != wanted_stream.error.message
                ):
                    log.error("model %s: %s", name, wanted_stream.error.message)
                stream.error = wanted_stream.error
                wanted = {a.version: a for a in wanted_stream.versions}
                await asyncio.gather(
                    *(self._load(stream, a) for a in wanted.values() if self._needs_load(stream, a))
                )
                # a source that found nothing to serve (the directory is gone) says why in the status
                reason = wanted_stream.error if not wanted_stream.versions else None
                retire += [(name, v, reason) for v in self._to_retire(stream, wanted)]
            if complete:
                for name, stream in self._streams.items():
                    if name not in aspired:
                        stream.error = None
                        retire += [(name, v, None) for v in stream.versions.values() if v.state != State.END]
            await asyncio.gather(*(self._retire(name, v, reason) for name, v, reason in retire))
            return self._changes > 0

    @staticmethod
    def _to_retire(stream: _Stream, wanted: Mapping[int, AspiredVersion]) -> list[_Version]:
        unwanted = [v for n, v in stream.versions.items() if n not in wanted and v.state != State.END]
        missing = sum(1 for n in wanted if stream.versions[n].state != State.AVAILABLE)
        fallbacks = sorted(
            (v for v in unwanted if v.state == State.AVAILABLE), key=lambda v: v.version, reverse=True
        )[:missing]
        return [v for v in unwanted if v not in fallbacks]

    @staticmethod
    def _needs_load(stream: _Stream, aspired: AspiredVersion) -> bool:
        entry = stream.versions.get(aspired.version)
        if entry is None or entry.state == State.END:
            return True
        if entry.error is not None and stream.kind is None:
            return True
        return entry.fingerprint != aspired.fingerprint

    async def _load(self, stream: _Stream, aspired: AspiredVersion) -> None:
        entry = stream.versions.get(aspired.version)
        if entry is None:
            entry = stream.versions[aspired.version] = _Version(aspired.version)
        if entry.state != State.AVAILABLE:
            self._set(stream.name, entry, State.LOADING, entry.error, quiet=entry.error is not None)
        try:
            servable = await asyncio.to_thread(aspired.loader.load)
        except Exception as exc:
            if not isinstance(exc, ServingError):  # a loader bug or an engine error: keep it in the status
                log.exception("loading %s version %d failed", stream.name, aspired.version)
                exc = LoadError(f"{type(exc).__name__}: {exc}")
            if stream.kind is not None:  # the same inputs give the same failure: retried when they change
                entry.fingerprint = aspired.fingerprint
                if entry.state == State.AVAILABLE:  # no longer valid: it stops serving, saying why
                    self._set(stream.name, entry, State.UNLOADING, exc)
                    await self._retire(stream.name, entry, exc)
            self._fail(stream.name, entry, exc)
            return
        old = entry.loaded
        entry.last_failure = None
        entry.loaded = _Loaded(servable)
        entry.fingerprint = aspired.fingerprint
        self._set(stream.name, entry, State.AVAILABLE)
        if old is not None:  # a reload of the same version: swap, then free the old one
            await self._release(old)

    def _fail(self, name: str, entry: _Version, error: ServingError) -> None:
        repeated = entry.last_failure == error.message
        entry.last_failure = error.message
        if entry.state == State.AVAILABLE:  # a failed reload leaves the working one serving
            if not repeated:
                log.error(
                    "reloading %s version %d failed, the loaded one keeps serving: %s",
                    name,
                    entry.version,
                    error,
                )
            return
        if error.code == Code.OK:
            error.code = Code.UNKNOWN
        self._set(name, entry, State.LOADING, error, quiet=repeated)

    async def _retire(self, name: str, entry: _Version, reason: ServingError | None = None) -> None:
        loaded = entry.loaded
        if entry.state == State.AVAILABLE:
            self._set(name, entry, State.UNLOADING)
        entry.loaded = None
        if loaded is not None:
            await self._release(loaded)
        self._set(name, entry, State.END, reason)

    @staticmethod
    async def _release(loaded: _Loaded) -> None:
        loaded.retired = True
        await loaded.wait_drained()
        await asyncio.to_thread(loaded.servable.close)

    async def close(self) -> None:
        """Retire everything (at shutdown)."""
        await self.apply({}, complete=True)

    # -- requests --------------------------------------------------------------------
    def acquire(self, name: str, version: int | None = None) -> Handle:
        """Pin the requested version, or the newest AVAILABLE one when ``version`` is None/0."""
        if not version:
            newest = self._newest.get(name)
            if newest is not None:
                return Handle(newest)
        stream = self._streams.get(name)
        if stream is None:
            raise ModelNotFound(name)
        if stream.kind is not None:
            return self._acquire_unversioned(stream, stream.kind)
        if not stream.versions:
            if stream.error is not None:
                raise ModelNotReady(name, version or None, stream.error.message)
            raise VersionNotFound(name, version or None)
        if not version:
            available = [v for v in stream.versions.values() if v.state == State.AVAILABLE]
            if available:
                entry = max(available, key=lambda v: v.version)
            elif any(v.state in (State.START, State.LOADING) for v in stream.versions.values()):
                raise ModelNotReady(name, None, self._detail(stream))
            elif all(v.state == State.END for v in stream.versions.values()):
                raise VersionRetired(name, max(stream.versions))
            else:
                raise VersionNotFound(name, None)
        else:
            found = stream.versions.get(version)
            if found is None:
                raise VersionNotFound(name, version)
            entry = found
        if entry.state == State.END:
            raise VersionRetired(name, entry.version)
        if entry.state != State.AVAILABLE or entry.loaded is None:
            raise ModelNotReady(name, entry.version, entry.error.message if entry.error else "")
        if not version:
            self._newest[name] = entry.loaded
        return Handle(entry.loaded)

    def _acquire_unversioned(self, stream: _Stream, kind: StreamKind) -> Handle:
        """A pipeline's or graph's one version, whatever version was asked (OVMS ignores it), or
        OVMS's texts for its kind."""
        entry = max(stream.versions.values(), key=lambda v: v.version, default=None)
        if entry is not None and entry.state == State.AVAILABLE and entry.loaded is not None:
            return Handle(entry.loaded)
        if entry is not None and entry.state in (State.UNLOADING, State.END) and entry.error is None:
            raise kind.retired(stream.name)
        raise kind.not_loaded_yet(stream.name, self._detail(stream))

    @staticmethod
    def _detail(stream: _Stream) -> str:
        errors = [v.error.message for v in stream.versions.values() if v.error is not None]
        if stream.error is not None:
            errors.append(stream.error.message)
        return errors[0] if errors else ""

    # -- status ----------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._streams)

    def stream_error(self, name: str) -> ServingError | None:
        """Why the source found no version to serve for ``name`` (None when it did)."""
        stream = self._streams.get(name)
        if stream is None:
            raise ModelNotFound(name)
        return stream.error

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Statuses of every version of ``name`` (or of one), newest first."""
        stream = self._streams.get(name)
        if stream is None:
            raise ModelNotFound(name)
        if version:
            entry = stream.versions.get(version)
            if entry is None:
                raise VersionNotFound(name, version)
            return [entry.status()]
        return [stream.versions[v].status() for v in sorted(stream.versions, reverse=True)]

    def kind(self, name: str) -> StreamKind | None:
        """The kind of stream ``name`` is (see :attr:`AspiredStream.kind`); None for a model or no stream."""
        stream = self._streams.get(name)
        return None if stream is None else stream.kind

    def is_pipeline(self, name: str) -> bool:
        """Whether ``name`` is a DAG pipeline's stream (see :attr:`AspiredStream.kind`)."""
        return self.kind(name) is PIPELINE

    def available_versions(self, name: str) -> list[int]:
        stream = self._streams.get(name)
        if stream is None:
            raise ModelNotFound(name)
        return sorted(v.version for v in stream.versions.values() if v.state == State.AVAILABLE)

    def is_available(self, name: str, version: int | None = None) -> bool:
        try:
            with self.acquire(name, version):
                return True
        except ServingError:
            return False

    def statuses(self) -> dict[str, list[VersionStatus]]:
        return {name: self.status(name) for name in self.names()}

    def declare(self, names: Iterable[str]) -> None:
        """Make ``names`` known (with no versions yet), so status shows them before they load."""
        for name in names:
            self._streams.setdefault(name, _Stream(name))
